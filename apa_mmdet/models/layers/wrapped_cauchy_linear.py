# Copyright (c) apa_mmdet contributors.
"""Wrapped-Cauchy cosine classifier of the official V3Det recipes.

Registered in mmengine's root ``MODELS`` beside mmdet's ``NormedLinear``, so
a ``BBoxHead`` builds it with ``cls_predictor_cfg=dict(type='WCLinear')``.
"""
import torch
from mmengine.registry import MODELS
from torch import Tensor, nn
from torch.nn import functional as F

OFFICIAL_PI = 3.14  # the official code's constant, not math.pi


@MODELS.register_module()
class WCLinear(nn.Linear):
    """Cosine classifier with wrapped-Cauchy logits (after Han, ICML 2023,
    as the official APA V3Det recipes use it).

    cos = (x / ‖x‖) · (W / ‖W‖)ᵀ + b,  γ = σ(g) per class,
    logit = s · (1 − γ²) / (2·pi · (1 + γ² − 2γ·cos)),

    the wrapped-Cauchy density of the angle with concentration γ. x: (N,
    in_features) → logits (N, out_features). Parameters keep the official
    names (``weight``, ``bias``, ``g``, and ``s_`` when trainable), so
    official V3Det checkpoints load key for key. With the bias a cosine may
    exceed 1 and the denominator approach 0, as officially.

    Args:
        in_features (int): Feature channels.
        out_features (int): Classes (C + 1 with a softmax loss).
        bias (bool): Add the per-class bias to the cosine. Defaults to True.
        s_trainable (bool): Learn s (initialised to
            ``learnable_init_value``); else s = ``fixed_scale``. Defaults to
            True, as officially; the V3Det recipes set False.
        learnable_init_value (float): Initial trainable s. Defaults to 50.
        fixed_scale (float): s when not trainable. Defaults to 300.
        gamma (float): Initial g (γ = σ(g) ≈ 0.731). Defaults to 1.
        pi (float): The π of the density; 3.14 as in the official code, so
            its released weights give their logits. Defaults to 3.14.
        power (float): ‖·‖ is raised to this power. Defaults to 1.
        eps (float): Added to the norms. Defaults to 1e-6.
        init_bias (float): Initial bias. Defaults to 0.
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 bias: bool = True,
                 s_trainable: bool = True,
                 learnable_init_value: float = 50.,
                 fixed_scale: float = 300.,
                 gamma: float = 1.,
                 pi: float = OFFICIAL_PI,
                 power: float = 1.,
                 eps: float = 1e-6,
                 init_bias: float = 0.,
                 device=None,
                 dtype=None) -> None:
        super().__init__(in_features, out_features, bias, device=device,
                         dtype=dtype)
        factory = dict(device=self.weight.device, dtype=self.weight.dtype)
        self.g = nn.Parameter(torch.full((out_features,), float(gamma),
                                         **factory))
        self.s_trainable = s_trainable
        self.learnable_init_value = learnable_init_value
        self.s_ = nn.Parameter(torch.tensor(float(learnable_init_value),
                                            **factory)) if s_trainable \
            else float(fixed_scale)
        self.gamma = gamma
        self.pi = pi
        self.power = power
        self.eps = eps
        self.init_bias = init_bias
        self.init_weights()

    def init_weights(self) -> None:
        """weight N(0, 0.01), bias ``init_bias``, g ``gamma``, trainable s
        ``learnable_init_value``."""
        nn.init.normal_(self.weight, std=0.01)
        if self.bias is not None:
            nn.init.constant_(self.bias, self.init_bias)
        with torch.no_grad():
            self.g.fill_(self.gamma)
            if self.s_trainable:
                self.s_.fill_(self.learnable_init_value)

    def _unit(self, t: Tensor) -> Tensor:
        return t / (t.norm(dim=1, keepdim=True).pow(self.power) + self.eps)

    def forward(self, x: Tensor) -> Tensor:
        cosine = F.linear(self._unit(x), self._unit(self.weight), self.bias)
        gamma = torch.sigmoid(self.g)
        density = (1 - gamma * gamma) / (
            2 * self.pi * (1 + gamma * gamma - 2 * gamma * cosine))
        return self.s_ * density

    def extra_repr(self) -> str:
        scale = (f'learnable_init_value={self.learnable_init_value}'
                 if self.s_trainable else f'fixed_scale={self.s_}')
        return f'{super().extra_repr()}, {scale}, pi={self.pi}'
