# Copyright (c) apa_mmdet contributors.
from .fp32_roi_parts import FP32Shared2FCBBoxHead, FP32SingleRoIExtractor

__all__ = ['FP32Shared2FCBBoxHead', 'FP32SingleRoIExtractor']
