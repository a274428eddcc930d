# Copyright (c) apa_mmdet contributors.
from .checkpoint import (MMENGINE_SAFE_GLOBALS, UnsafeCheckpointError,
                         register_local_loader, safe_load)
from .dist import end_process_group
from .memory import pin_mmap_threshold
from .model_config import (build_model_without_file_reads,
                           config_dataset_meta, without_file_reads)
from .placeholder_unpickler import (UnloadedObject, load_weights,
                                    unloaded_entries)
from .provenance import source_commit

__all__ = [
    'MMENGINE_SAFE_GLOBALS', 'UnloadedObject', 'UnsafeCheckpointError',
    'build_model_without_file_reads', 'config_dataset_meta',
    'end_process_group', 'load_weights', 'pin_mmap_threshold',
    'register_local_loader', 'safe_load', 'source_commit',
    'unloaded_entries', 'without_file_reads'
]
