# Copyright (c) apa_mmdet contributors.
"""Class scores of a classifier's logits, p = act(z), with the log-space
terms a binary cross-entropy needs: the Gumbel CDF, the sigmoid and a
learnable APA, one small interface (``forward``: p, ``log_prob``: log p,
``log_complement``: log(1 − p)), built from the registry (e.g. by
:class:`~apa_mmdet.models.losses.APADropLoss`)."""
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn

from ...ops import log_apa
from .activations import APA

# exp(−z) stays finite in float32 for z > −80
GUMBEL_LOGIT_MIN = -80.
# log(1 − p) stays finite: p is never taken closer to 1 than 1 − 1e-30
_LOG_P_MAX = -1e-30


class _ClassScore:
    """log(1 − p) from log p, finite for any z."""

    def log_complement(self, z: Tensor) -> Tensor:
        """log(1 − p) = log(−expm1(log p)), with log p kept below −1e-30."""
        return torch.log(-torch.expm1(self.log_prob(z).clamp(max=_LOG_P_MAX)))


@MODELS.register_module()
class GumbelClassScore(_ClassScore, nn.Module):
    """p = exp(−exp(−z)), the Gumbel CDF (APA's λ → 0 member), the official
    Gumbel Optimised Loss's score; z is clamped at −80 below.

    Shape: any (*) → (*).
    """

    def forward(self, z: Tensor) -> Tensor:
        return torch.exp(self.log_prob(z))

    def log_prob(self, z: Tensor) -> Tensor:
        """log p = −exp(−z)."""
        return -torch.exp(-z.clamp(min=GUMBEL_LOGIT_MIN))


@MODELS.register_module()
class SigmoidClassScore(_ClassScore, nn.Module):
    """p = sigmoid(z) = 1 / (1 + exp(−z)) (APA at λ = κ = 1).

    Shape: any (*) → (*).
    """

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(z)

    def log_prob(self, z: Tensor) -> Tensor:
        """log p = logsigmoid(z)."""
        return F.logsigmoid(z)

    def log_complement(self, z: Tensor) -> Tensor:
        """log(1 − p) = logsigmoid(−z)."""
        return F.logsigmoid(-z)


@MODELS.register_module()
class APAClassScore(_ClassScore, APA):
    """p = APA(z; λ, κ) = (λ·exp(−κz) + 1)^(−1/λ) with learnable λ, κ
    (one pair, or one per class with ``num_parameters=C`` on the last
    dimension of (N, C) logits); starts next to the Gumbel CDF.

    Args:
        num_parameters (int): 1, or C for a pair per class. Defaults to 1.
        lambda_init (float | tuple[float, float]): Defaults to 0.01.
        kappa_init (float | tuple[float, float]): Defaults to 1.0.
        dim (int): The class dimension of per-class parameters. Defaults
            to 1, the class dimension of (N, C) logits.
        lambda_parametrization (str): ``'direct'`` (official: λ floored at
            1e-4, no gradient below) or ``'floored-exp'`` (opt-in: λ =
            1e-4 + exp(ρ), which the floor cannot absorb).

    Shape: (N, C) → (N, C).
    """

    def __init__(self,
                 num_parameters: int = 1,
                 lambda_init=0.01,
                 kappa_init=1.0,
                 inplace: bool = False,
                 dim: int = 1,
                 lambda_parametrization: str = 'direct') -> None:
        super().__init__(num_parameters, lambda_init, kappa_init, inplace,
                         dim, lambda_parametrization)

    def log_prob(self, z: Tensor) -> Tensor:
        """log APA(z) = logsigmoid(κz − ln λ) / λ <= 0, finite for any z."""
        return log_apa(z, self.lambda_param, self.kappa_param, self.dim)
