# Copyright (c) apa_mmdet contributors.
"""Cosine conv predictor with a learnable temperature (official APA mask head).

Registered in mmengine's root ``MODELS`` beside mmcv's conv layers, so
``predictor_cfg=dict(type='LearnableTempNormedConv2d')`` builds in any scope.
"""
import torch
from mmdet.models.layers import NormedConv2d
from mmengine.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class LearnableTempNormedConv2d(NormedConv2d):
    """mmdet's ``NormedConv2d`` whose scale is a learnable τ².

    out = conv(x / ‖x‖, W / ‖W‖) · τ² + b, norms over input channels. The
    official LVIS SE-R50 recipe uses it as ``FCNMaskHead.conv_logits`` with
    τ initialised to 4.5 (scale 20.25). The parameter keeps mmdet's (and the
    official checkpoints') spelling, ``tempearture``, a 0-d tensor.

    Args:
        *args: ``nn.Conv2d`` arguments.
        learnable_init_value (float): Initial τ. Defaults to 4.5.
        init_bias (float): Initial bias. Defaults to 0.
        **kwargs: ``NormedConv2d`` arguments (``power``, ``eps``, ...).
    """

    def __init__(self,
                 *args,
                 learnable_init_value: float = 4.5,
                 init_bias: float = 0.,
                 **kwargs) -> None:
        kwargs.pop('tempearture', None)
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
        weight = self.weight / (
            self.weight.norm(dim=1, keepdim=True).pow(self.power) + self.eps)
        x = x / (x.norm(dim=1, keepdim=True).pow(self.power) + self.eps)
        return self._conv_forward(x * self.tempearture.pow(2), weight,
                                  self.bias)
