# Copyright (c) apa_mmdet contributors.
"""RoI extractor and box head with float32 regions under autocast.

mmcv's CPU ``roi_align`` and ``nms`` have no bfloat16 kernels; RoI pooling
and the final per-class NMS therefore run in float32, the head's layers
stay in autocast's precision. Same weights and outputs in float32.
"""
from mmdet.models.roi_heads import Shared2FCBBoxHead, SingleRoIExtractor
from mmdet.registry import MODELS

from ..utils import fp32_region


@MODELS.register_module()
class FP32SingleRoIExtractor(SingleRoIExtractor):
    """mmdet's ``SingleRoIExtractor`` pooling in float32."""

    forward = fp32_region(SingleRoIExtractor.forward)


@MODELS.register_module()
class FP32Shared2FCBBoxHead(Shared2FCBBoxHead):
    """mmdet's ``Shared2FCBBoxHead`` with float32 box decoding and NMS."""

    predict_by_feat = fp32_region(Shared2FCBBoxHead.predict_by_feat)
