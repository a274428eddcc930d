# Copyright (c) apa_mmdet contributors.
"""APA/AGLU forward and analytic backward written with torch ops.

The implementation for devices and dtypes without a fused kernel, and the
reference the kernels are tested against. With u = κz − ln λ (λ already
floored), s = softplus(−u), σ = sigmoid(−u), p = exp(−s/λ), q = p·σ/λ:

    ∂p/∂z = κq      ∂p/∂κ = zq      ∂p/∂λ = p·(s − σ)/λ²
    ∂(zp)/∂z = p + κzq,  ∂(zp)/∂κ = z²q,  ∂(zp)/∂λ = z·p·(s − σ)/λ²

``backward`` returns the parameter sums without the 1/λ² of the λ-gradient,
which the caller applies (as for the kernels).
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor

# Below w = λ·exp(−κz) = 1e-3 (compared as log w = −u), s − σ =
# log1p(w) − w/(1+w) cancels; its Taylor series is used there instead
# (relative error ~w⁴).
_LOG_SERIES_MAX_W = math.log(1e-3)


def broadcast(param: Tensor, x: Tensor, dtype: torch.dtype) -> Tensor:
    """View a (1,) or (C,) parameter so it broadcasts over dim 1 of ``x``."""
    if param.numel() == 1:
        return param.to(dtype).reshape(())
    shape = [1] * x.dim()
    shape[1] = param.numel()
    return param.to(dtype).reshape(shape)


def _sum_product(a: Tensor, b: Tensor, param: Tensor) -> Tensor:
    """Σ a·b over all dimensions but 1, shaped like a (1,) or (C,) param."""
    if param.numel() == 1:
        return torch.dot(a.reshape(-1), b.reshape(-1)).reshape(1)
    dims = [d for d in range(a.dim()) if d != 1]
    return (a * b).sum(dim=dims)


def _small_w_series(w: Tensor) -> Tensor:
    return w * w * (0.5 - w * (2. / 3. - w * (0.75 - 0.8 * w)))


def _correct_small_w(diff: Tensor, neg_u: Tensor) -> Tensor:
    """Fix s − σ = log1p(w) − w/(1+w), w = e^{−u}, where it cancels.

    Below w = 1e-3 the Taylor series Σ_{k≥2} (−1)^k (k−1)/k · w^k replaces
    the direct difference (in place; only those, usually few, elements;
    branch-free under torch.compile).
    """
    small = neg_u < _LOG_SERIES_MAX_W
    if torch.compiler.is_compiling():
        return torch.where(small, _small_w_series(neg_u.exp()), diff)
    if small.any():
        diff[small] = _small_w_series(neg_u[small].exp())
    return diff


def forward(x: Tensor, lam: Tensor, kappa_param: Tensor, act: str) -> Tensor:
    """APA(x) or AGLU(x) (``act`` 'apa' or 'aglu') in the dtype of ``x``,
    computed in the dtype of ``lam`` (max(λ, 1e-4), shape (1,) or (C,))."""
    dtype = lam.dtype
    xc = x.to(dtype)
    lam = broadcast(lam, x, dtype)
    kappa = broadcast(kappa_param, x, dtype)
    u = torch.mul(xc, kappa).sub_(torch.log(lam))  # κz − ln λ
    p = F.logsigmoid(u).div_(lam).exp_()
    return (p.mul_(xc) if act == 'aglu' else p).to(x.dtype)


def backward(grad_out: Tensor, x: Tensor, lam_value: Tensor,
             kappa_param: Tensor, act: str):
    """grad_x (dtype of ``x``) and, shaped like λ, Σ g·∂out/∂λ·λ² and
    Σ g·∂out/∂κ (compute dtype)."""
    dtype = lam_value.dtype
    xc = x.to(dtype)
    g = grad_out.to(dtype)
    lam = broadcast(lam_value, x, dtype)
    kappa = broadcast(kappa_param, x, dtype)
    # u = κz − ln λ; log p = logsigmoid(u)/λ = −s/λ
    u = torch.mul(xc, kappa).sub_(torch.log(lam))
    neg_s = F.logsigmoid(u)
    p = torch.div(neg_s, lam).exp_()
    neg_u = u.neg_()
    sigma = torch.sigmoid(neg_u)  # σ(−u)
    diff = _correct_small_w(neg_s.neg_().sub_(sigma), neg_u)  # s − σ
    q_g = sigma.mul_(p).div_(lam).mul_(g)  # q·g, q = p·σ(−u)/λ
    if act == 'aglu':
        grad_x = torch.mul(xc, kappa).mul_(q_g).addcmul_(p, g)
        sum_kappa = _sum_product(q_g.mul_(xc), xc, kappa_param)
        sum_lambda = _sum_product(diff.mul_(p).mul_(g), xc, lam_value)
    else:
        grad_x = q_g * kappa
        sum_kappa = _sum_product(q_g, xc, kappa_param)
        sum_lambda = _sum_product(diff.mul_(p), g, lam_value)
    return grad_x.to(x.dtype), sum_lambda, sum_kappa
