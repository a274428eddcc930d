# Copyright (c) apa_mmdet contributors.
"""RPN head whose proposal post-processing runs in float32 under autocast."""
from mmdet.models.dense_heads import RPNHead
from mmdet.registry import MODELS

from ..utils import FP32ParentMethod


@MODELS.register_module()
class FP32RPNHead(RPNHead):
    """mmdet's ``RPNHead``; box decoding and NMS of the proposals run in
    float32 under mixed precision (mmcv's CPU ``nms`` has no bfloat16 kernel,
    and 16-bit proposal coordinates are coarse). Same weights and outputs in
    float32."""

    predict_by_feat = FP32ParentMethod()
