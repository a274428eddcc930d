# Copyright (c) apa_mmdet contributors.
from .checkpoint import MMENGINE_SAFE_GLOBALS, UnsafeCheckpointError, safe_load
from .memory import pin_mmap_threshold
from .model_config import build_model_without_file_reads, without_file_reads

__all__ = [
    'MMENGINE_SAFE_GLOBALS', 'UnsafeCheckpointError',
    'build_model_without_file_reads', 'pin_mmap_threshold', 'safe_load',
    'without_file_reads'
]
