# Copyright (c) apa_mmdet contributors.
from .configs import CONFIG_ROOT, get_config
from .predictions import ground_truth_predictions

__all__ = ['CONFIG_ROOT', 'get_config', 'ground_truth_predictions']
