# Copyright (c) apa_mmdet contributors.
from .fp32_shared2fc_bbox_head import FP32Shared2FCBBoxHead
from .fp32_single_roi_extractor import FP32SingleRoIExtractor

__all__ = ['FP32Shared2FCBBoxHead', 'FP32SingleRoIExtractor']
