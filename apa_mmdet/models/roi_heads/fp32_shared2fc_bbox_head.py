# Copyright (c) apa_mmdet contributors.
"""Box head with float32 box decoding and NMS under autocast."""
from mmdet.models.roi_heads import Shared2FCBBoxHead
from mmdet.registry import MODELS

from ..utils import FP32ParentMethod


@MODELS.register_module()
class FP32Shared2FCBBoxHead(Shared2FCBBoxHead):
    """mmdet's ``Shared2FCBBoxHead`` whose box decoding and per-class NMS
    run in float32 under mixed precision (mmcv's CPU ``nms`` has no
    bfloat16 kernel, and 16-bit box coordinates are coarse); its layers stay
    in autocast's precision. Same weights and outputs in float32."""

    predict_by_feat = FP32ParentMethod()
