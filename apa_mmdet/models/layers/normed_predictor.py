# Copyright (c) apa_mmdet contributors.
"""Cosine conv predictor with a learnable temperature (official APA mask head).

Registered in mmengine's root ``MODELS`` beside mmcv's conv layers, so
``predictor_cfg=dict(type='LearnableTempNormedConv2d')`` builds in any scope.
"""
import math
from typing import Optional

import torch
from mmdet.models.layers import NormedConv2d
from mmengine.registry import MODELS
from torch import Tensor, nn

DEFAULT_TAU = 4.5  # the official initial τ (scale 20.25)


@MODELS.register_module()
class LearnableTempNormedConv2d(NormedConv2d):
    """mmdet's ``NormedConv2d`` whose scale is a learnable τ².

    out = conv(x / ‖x‖, W / ‖W‖) · τ² + b, with ‖x‖ over input channels and
    ‖W‖ over input channels, or over the whole kernel with
    ``norm_over_kernel=True`` (both as ``NormedConv2d``). The official LVIS
    SE-R50 recipe uses it as ``FCNMaskHead.conv_logits`` with τ initialised
    to 4.5 (scale 20.25). The parameter keeps mmdet's (and the official
    checkpoints') spelling, ``tempearture``, a 0-d tensor holding τ.

    Initial values in an ``FCNMaskHead``: its ``init_weights`` first calls
    this layer's (weight N(0, 0.01), bias ``init_bias``, τ) and then
    re-initialises ``conv_logits``' weight (Kaiming normal) and bias (0),
    so only τ survives, as in the official recipe (the same mmdet head);
    the weight's scale is irrelevant once normalised.

    Args:
        *args: ``nn.Conv2d`` arguments.
        learnable_init_value (float, optional): Initial τ. Defaults to 4.5
            unless ``tempearture`` is given.
        tempearture (float, optional): ``NormedConv2d``'s scale, taken as
            the initial τ² (τ = √tempearture); not together with
            ``learnable_init_value``.
        init_bias (float): Initial bias. Defaults to 0.
        **kwargs: ``NormedConv2d`` arguments (``power``, ``eps``,
            ``norm_over_kernel``, ``bias``, ...).
    """

    def __init__(self,
                 *args,
                 learnable_init_value: Optional[float] = None,
                 tempearture: Optional[float] = None,
                 init_bias: float = 0.,
                 **kwargs) -> None:
        if tempearture is not None:
            if learnable_init_value is not None:
                raise ValueError(
                    'give either tempearture (initial scale τ²) or '
                    'learnable_init_value (initial τ), not both: got '
                    f'tempearture={tempearture}, '
                    f'learnable_init_value={learnable_init_value}')
            if not tempearture > 0:
                raise ValueError(
                    f'tempearture={tempearture} must be positive')
            learnable_init_value = math.sqrt(tempearture)
        elif learnable_init_value is None:
            learnable_init_value = DEFAULT_TAU
        super().__init__(*args, tempearture=1., **kwargs)
        self.learnable_init_value = learnable_init_value
        self.init_bias = init_bias
        self.tempearture = nn.Parameter(torch.tensor(learnable_init_value))
        self.init_weights()

    def init_weights(self) -> None:
        """Normal(0, 0.01) weight, τ and the bias to their initial values."""
        nn.init.normal_(self.weight, std=0.01)
        with torch.no_grad():
            self.tempearture.fill_(self.learnable_init_value)
        if self.bias is not None:
            nn.init.constant_(self.bias, self.init_bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.norm_over_kernel:
            norm = self.weight.flatten(1).norm(dim=1).pow(
                self.power)[:, None, None, None]
        else:
            norm = self.weight.norm(dim=1, keepdim=True).pow(self.power)
        weight = self.weight / (norm + self.eps)
        x = x / (x.norm(dim=1, keepdim=True).pow(self.power) + self.eps)
        return self._conv_forward(x * self.tempearture.pow(2), weight,
                                  self.bias)
