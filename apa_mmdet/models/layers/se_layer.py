# Copyright (c) apa_mmdet contributors.
"""Squeeze-and-excitation with a configurable gate, the official APA
variant."""
from typing import Optional, Tuple

from mmcv.cnn import build_norm_layer
from mmdet.registry import MODELS
from mmdet.utils import OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from .activations import build_site_activation


@MODELS.register_module()
class APASELayer(BaseModule):
    """Squeeze-and-excitation, out = x · gate(excite(norm(avgpool(x)))).

    ``excite`` is Linear(C → C/r) → act → Linear(C/r → C) → Dropout, both
    linears without bias. Plain SE (Hu et al.) is the default; the official
    APA variant of *Adaptive Parametric Activation* (arXiv 2407.08567) adds a
    LayerNorm on the squeezed vector, Dropout(0.1) and an ``APA`` gate::

        dict(ratio=16, norm_cfg=dict(type='LN'), dropout=0.1,
             act_cfg=(dict(type='ReLU'), dict(type='APA')))

    Attribute names follow the official model (``squeeze``, ``norm``,
    ``excitation`` = Sequential(Linear, act, Linear[, Dropout]), ``uniact``),
    so official checkpoints load key for key.

    Args:
        channels (int): Input and output channels C.
        ratio (int): Squeeze ratio r. Defaults to 16.
        act_cfg (tuple[dict, dict]): Activation inside the excitation and the
            gate. ``num_parameters='channels'`` makes an APA gate per channel.
            Defaults to (ReLU, Sigmoid).
        norm_cfg (dict, optional): Norm on the (N, C) squeezed vector, e.g.
            ``dict(type='LN')``. Defaults to None (no norm).
        dropout (float): Dropout after the second linear. Defaults to 0.
        init_cfg (dict or list[dict], optional): Initialization config.

    Shape:
        (N, C, H, W) → (N, C, H, W).
    """

    def __init__(self,
                 channels: int,
                 ratio: int = 16,
                 act_cfg: Tuple[dict, dict] = (dict(type='ReLU'),
                                               dict(type='Sigmoid')),
                 norm_cfg: OptConfigType = None,
                 dropout: float = 0.,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg)
        if not (isinstance(act_cfg, (tuple, list)) and len(act_cfg) == 2):
            raise ValueError('act_cfg must be a pair (excitation activation, '
                             f'gate), got {act_cfg!r}')
        if channels % ratio != 0 or channels < ratio:
            raise ValueError(f'channels={channels} must be a multiple of '
                             f'ratio={ratio}')
        hidden = channels // ratio
        self.channels = channels
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.norm: Optional[nn.Module] = None
        if norm_cfg is not None:
            self.norm = build_norm_layer(norm_cfg, channels)[1]
        layers = [
            nn.Linear(channels, hidden, bias=False),
            build_site_activation(act_cfg[0], hidden),
            nn.Linear(hidden, channels, bias=False)
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.excitation = nn.Sequential(*layers)
        self.uniact = build_site_activation(act_cfg[1], channels)

    def gate(self, x: Tensor) -> Tensor:
        """The per-channel gate of ``x`` (N, C, H, W): shape (N, C)."""
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f'input of shape {tuple(x.shape)} does not match '
                             f'channels={self.channels} (N, C, H, W)')
        y = self.squeeze(x).flatten(1)
        if self.norm is not None:
            y = self.norm(y)
        return self.uniact(self.excitation(y))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)[:, :, None, None]
