# Copyright (c) apa_mmdet contributors.
from .fp32_region import FP32ParentMethod, fp32_region

__all__ = ['FP32ParentMethod', 'fp32_region']
