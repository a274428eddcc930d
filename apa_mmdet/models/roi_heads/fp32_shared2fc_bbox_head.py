# Copyright (c) apa_mmdet contributors.
"""mmdet's two-fc box head with test-time score calibration, and with
float32 box decoding and NMS under autocast."""
from mmdet.models.roi_heads import Shared2FCBBoxHead
from mmdet.registry import MODELS

from ..utils import FP32ParentMethod
from .score_calibration import CalibratedBBoxHeadMixin


@MODELS.register_module()
class CalibratedShared2FCBBoxHead(CalibratedBBoxHeadMixin,
                                  Shared2FCBBoxHead):
    """mmdet's ``Shared2FCBBoxHead`` that takes ``calibration=dict(...)``
    (:mod:`.score_calibration`); without it, mmdet's head."""


@MODELS.register_module()
class FP32Shared2FCBBoxHead(CalibratedShared2FCBBoxHead):
    """The calibratable ``Shared2FCBBoxHead`` whose box decoding and
    per-class NMS run in float32 under mixed precision (mmcv's CPU ``nms``
    has no bfloat16 kernel, and 16-bit box coordinates are coarse); its
    layers stay in autocast's precision. Same weights and outputs in
    float32."""

    predict_by_feat = FP32ParentMethod()
