# Copyright (c) apa_mmdet contributors.
from .fp32_shared2fc_bbox_head import (CalibratedShared2FCBBoxHead,
                                       FP32Shared2FCBBoxHead)
from .fp32_single_roi_extractor import FP32SingleRoIExtractor
from .score_calibration import (FRACAL, CalibratedBBoxHeadMixin,
                                LogitAdjustment, NorCal, ScoreCalibrator)

__all__ = [
    'CalibratedBBoxHeadMixin', 'CalibratedShared2FCBBoxHead', 'FRACAL',
    'FP32Shared2FCBBoxHead', 'FP32SingleRoIExtractor', 'LogitAdjustment',
    'NorCal', 'ScoreCalibrator'
]
