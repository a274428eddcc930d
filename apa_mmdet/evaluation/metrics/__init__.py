# Copyright (c) apa_mmdet contributors.
from .fast_lvis_metric import FastLVISMetric

__all__ = ['FastLVISMetric']
