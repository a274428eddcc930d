# Copyright (c) apa_mmdet contributors.
"""The official APA/AGLU formulas (kostas1515/AGLU ``Unified``/``UniRect``),
written once for the tests and benchmarks, differentiated by autograd."""
import torch
import torch.nn.functional as F
from torch import Tensor


def official_apa(x: Tensor, lambda_param: Tensor,
                 kappa_param: Tensor) -> Tensor:
    """exp((1/λ)·Softplus_{β=−1}(κx − ln λ)), λ ≥ 1e-4; λ and κ broadcast
    against ``x`` as given."""
    lam = lambda_param.clamp(min=1e-4)
    return torch.exp(
        (1 / lam) * F.softplus(kappa_param * x - torch.log(lam), beta=-1))


def official_aglu(x: Tensor, lambda_param: Tensor,
                  kappa_param: Tensor) -> Tensor:
    """x·APA(x), the official eager rectifier."""
    return x * official_apa(x, lambda_param, kappa_param)
