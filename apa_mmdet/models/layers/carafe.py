# Copyright (c) apa_mmdet contributors.
"""CARAFE upsampling on every device (the official LVIS R50 mask head's).

Registered as ``carafe`` in mmdet's ``MODELS``, in front of mmcv's
``CARAFEPack`` (mmengine's root registry) wherever the default scope is
mmdet's (its runner, tools and ``DetInferencer``), because mmdet's
``FCNMaskHead`` accepts exactly ``upsample_cfg=dict(type='carafe')``: a
recipe keeps its config, and official checkpoints their keys
(``channel_compressor``, ``content_encoder``).
"""
from mmcv.ops import CARAFEPack
from mmdet.registry import MODELS
from torch import Tensor

from ...ops.carafe import carafe


@MODELS.register_module(name='carafe')
class AnyDeviceCARAFEPack(CARAFEPack):
    """mmcv's ``CARAFEPack`` (channel compressor, content encoder,
    softmax-normalised k×k reassembly kernels, reassembly), whose
    reassembly runs mmcv's CUDA kernel on CUDA tensors and
    :func:`apa_mmdet.ops.carafe.carafe` (torch ops) on any other device.

    Args and shapes as ``CARAFEPack``: (N, C, H, W) → (N, C, s·H, s·W).
    """

    def feature_reassemble(self, x: Tensor, mask: Tensor) -> Tensor:
        if x.is_cuda:
            return super().feature_reassemble(x, mask)
        return carafe(x, mask, self.up_kernel, self.up_group,
                      self.scale_factor)
