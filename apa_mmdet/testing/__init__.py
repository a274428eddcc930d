# Copyright (c) apa_mmdet contributors.
from .predictions import ground_truth_predictions

__all__ = ['ground_truth_predictions']
