# Copyright (c) apa_mmdet contributors.
"""APA/AGLU forward and analytic backward written with torch ops.

The implementation for devices and dtypes without a fused kernel, and the
reference the kernels are tested against. With u = κz − ln λ (λ already
floored), s = softplus(−u), σ = sigmoid(−u), p = exp(−s/λ), q = p·σ/λ:

    ∂p/∂z = κq      ∂p/∂κ = zq      ∂p/∂λ = p·(s − σ)/λ²
    ∂(zp)/∂z = p + κzq,  ∂(zp)/∂κ = z²q,  ∂(zp)/∂λ = z·p·(s − σ)/λ²

:func:`forward` and :func:`backward` take the parameters as stored and
return finished gradients, as the fused kernels do (``dispatch.Backend``):
λ is used as max(λ, 1e-4), floored in its own dtype, and gets no gradient
below it (as torch.clamp's). 16-bit inputs are computed in float32.
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor

LAMBDA_MIN = 1e-4

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
    the direct difference (in place; only those, usually few, elements).
    """
    small = neg_u < _LOG_SERIES_MAX_W
    if small.any():
        diff[small] = _small_w_series(neg_u[small].exp())
    return diff


def compute_dtype(x: Tensor) -> torch.dtype:
    """float64 for float64 inputs, float32 for the others."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def floored(lambda_param: Tensor, dtype: torch.dtype) -> Tensor:
    """max(λ, 1e-4), floored in λ's dtype, in ``dtype``."""
    return lambda_param.detach().clamp(min=LAMBDA_MIN).to(dtype)


def forward(x: Tensor, lambda_param: Tensor, kappa_param: Tensor,
            act: str) -> Tensor:
    """APA(x) or AGLU(x) (``act`` 'apa' or 'aglu') in the dtype of ``x``;
    λ, κ of shape (1,) or (C,) (C on dim 1)."""
    dtype = compute_dtype(x)
    with torch.autocast(x.device.type, enabled=False):
        xc = x.to(dtype)
        lam = broadcast(floored(lambda_param, dtype), x, dtype)
        kappa = broadcast(kappa_param.detach(), x, dtype)
        u = torch.mul(xc, kappa).sub_(torch.log(lam))  # κz − ln λ
        p = F.logsigmoid(u).div_(lam).exp_()
        return (p.mul_(xc) if act == 'aglu' else p).to(x.dtype)


def backward(grad_out: Tensor, x: Tensor, lambda_param: Tensor,
             kappa_param: Tensor, act: str):
    """(∂L/∂x, ∂L/∂λ, ∂L/∂κ) of ``forward`` for the output gradient
    ``grad_out``, typed and shaped like x, λ and κ."""
    dtype = compute_dtype(x)
    with torch.autocast(x.device.type, enabled=False):
        lam_value = floored(lambda_param, dtype)
        lambda_terms, kappa_terms, grad_x = _backward_terms(
            grad_out.to(dtype), x.to(dtype), lam_value,
            kappa_param.detach().to(dtype), act)
        # Σ g·∂out/∂λ·λ² / λ², none below the floor (as torch.clamp's)
        grad_lambda = torch.where(
            lambda_param >= LAMBDA_MIN,
            (lambda_terms / lam_value.double()**2).to(lambda_param.dtype), 0)
        return (grad_x.to(x.dtype), grad_lambda,
                kappa_terms.to(kappa_param.dtype))


def _backward_terms(g: Tensor, xc: Tensor, lam_value: Tensor,
                    kappa_param: Tensor, act: str):
    """Σ g·∂out/∂λ·λ² and Σ g·∂out/∂κ (shaped like λ), and ∂L/∂x, in the
    compute dtype of ``xc``; ``lam_value`` already floored."""
    lam = broadcast(lam_value, xc, xc.dtype)
    kappa = broadcast(kappa_param, xc, xc.dtype)
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
        kappa_terms = _sum_product(q_g.mul_(xc), xc, kappa_param)
        lambda_terms = _sum_product(diff.mul_(p).mul_(g), xc, lam_value)
    else:
        grad_x = q_g * kappa
        kappa_terms = _sum_product(q_g, xc, kappa_param)
        lambda_terms = _sum_product(diff.mul_(p), g, lam_value)
    return lambda_terms, kappa_terms, grad_x
