# Copyright (c) apa_mmdet contributors.
"""RoI extractor pooling in float32 under autocast."""
from mmdet.models.roi_heads import SingleRoIExtractor
from mmdet.registry import MODELS

from ..utils import FP32ParentMethod


@MODELS.register_module()
class FP32SingleRoIExtractor(SingleRoIExtractor):
    """mmdet's ``SingleRoIExtractor`` whose RoI pooling runs in float32
    under mixed precision (mmcv's CPU ``roi_align`` has no bfloat16
    kernel). Same weights and outputs in float32."""

    forward = FP32ParentMethod()
