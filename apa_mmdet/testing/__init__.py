# Copyright (c) apa_mmdet contributors.
from .configs import CONFIG_ROOT, get_config
from .predictions import ground_truth_predictions
from .saved_memory import saved_storage_bytes

__all__ = [
    'CONFIG_ROOT', 'get_config', 'ground_truth_predictions',
    'saved_storage_bytes'
]
