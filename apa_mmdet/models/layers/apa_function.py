# Copyright (c) apa_mmdet contributors.
"""Adaptive Parametric Activation as differentiable functions.

APA(z; λ, κ) = (λ·exp(−κz) + 1)^(−1/λ) and AGLU(z; λ, κ) = z·APA(z; λ, κ),
from *Adaptive Parametric Activation* (Alexandridis et al., ECCV 2024,
arXiv 2407.08567).

Both are evaluated in the stable log-space form

    p = exp(logsigmoid(κz − ln λ) / λ),    λ ← max(λ, 1e-4),

which never exponentiates a positive number. The backward pass is analytic
and recomputes everything from the saved input, so each call keeps one
tensor the size of the input alive for backward (eager autograd keeps four).
With u = κz − ln λ, s = softplus(−u), σ = sigmoid(−u), q = p·σ/λ:

    ∂p/∂z = κq      ∂p/∂κ = zq      ∂p/∂λ = p·(s − σ)/λ²
    ∂(zp)/∂z = p + κzq,  ∂(zp)/∂κ = z²q,  ∂(zp)/∂λ = z·p·(s − σ)/λ²

Low-precision inputs are computed in float32 and returned in their own dtype;
float64 stays float64. On CPU both directions run in the fused kernel
(``csrc/apa_cpu.cpp``, see ``apa_cpu_kernel``), on CUDA in the Triton
kernels for float32/bfloat16/float16 (``apa_triton_kernel``, see
``triton_loader``), elsewhere as torch ops.
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .apa_cpu_kernel import cpu_kernel_available, cpu_kernel_loaded
from .triton_loader import (TRITON_DTYPES, triton_kernel_available,
                            triton_kernel_loaded)

LAMBDA_MIN = 1e-4
# Below w = λ·exp(−κz) = 1e-3 (compared as log w = −u), s − σ =
# log1p(w) − w/(1+w) cancels; its Taylor series is used there instead
# (relative error ~w⁴).
_LOG_SERIES_MAX_W = math.log(1e-3)


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _broadcast(param: Tensor, x: Tensor, dtype: torch.dtype) -> Tensor:
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


def _eager_forward(x: Tensor, lam: Tensor, kappa_param: Tensor,
                   gated: bool) -> Tensor:
    """The formula with torch ops; ``lam`` is max(λ, 1e-4) in compute dtype."""
    dtype = lam.dtype
    xc = x.to(dtype)
    lam = _broadcast(lam, x, dtype)
    kappa = _broadcast(kappa_param, x, dtype)
    u = torch.mul(xc, kappa).sub_(torch.log(lam))  # κz − ln λ
    p = F.logsigmoid(u).div_(lam).exp_()
    return (p.mul_(xc) if gated else p).to(x.dtype)


def _eager_backward(grad_out: Tensor, x: Tensor, lam_value: Tensor,
                    kappa_param: Tensor, gated: bool):
    """Returns grad_x and, shaped like λ, Σ g·∂out/∂λ·λ² and Σ g·∂out/∂κ."""
    dtype = lam_value.dtype
    xc = x.to(dtype)
    g = grad_out.to(dtype)
    lam = _broadcast(lam_value, x, dtype)
    kappa = _broadcast(kappa_param, x, dtype)
    # u = κz − ln λ; log p = logsigmoid(u)/λ = −s/λ
    u = torch.mul(xc, kappa).sub_(torch.log(lam))
    neg_s = F.logsigmoid(u)
    p = torch.div(neg_s, lam).exp_()
    neg_u = u.neg_()
    sigma = torch.sigmoid(neg_u)  # σ(−u)
    diff = _correct_small_w(neg_s.neg_().sub_(sigma), neg_u)  # s − σ
    q_g = sigma.mul_(p).div_(lam).mul_(g)  # q·g, q = p·σ(−u)/λ
    if gated:
        grad_x = torch.mul(xc, kappa).mul_(q_g).addcmul_(p, g)
        sum_kappa = _sum_product(q_g.mul_(xc), xc, kappa_param)
        sum_lambda = _sum_product(diff.mul_(p).mul_(g), xc, lam_value)
    else:
        grad_x = q_g * kappa
        sum_kappa = _sum_product(q_g, xc, kappa_param)
        sum_lambda = _sum_product(diff.mul_(p), g, lam_value)
    return grad_x.to(x.dtype), sum_lambda, sum_kappa


def _fused_path(forward_op: str, backward_op: str):
    """(forward, backward) calling the ``torch.ops.apa_mmdet`` kernels of
    those names (looked up at call time: the CPU library loads on first
    use) on contiguous tensors, κ in the compute dtype."""

    def forward(x: Tensor, lam: Tensor, kappa_param: Tensor,
                gated: bool) -> Tensor:
        op = getattr(torch.ops.apa_mmdet, forward_op)
        return op(x.contiguous(), lam, kappa_param.to(lam.dtype), gated)

    def backward(grad_out: Tensor, x: Tensor, lam_value: Tensor,
                 kappa_param: Tensor, gated: bool):
        op = getattr(torch.ops.apa_mmdet, backward_op)
        return op(grad_out.to(x.dtype).contiguous(), x.contiguous(),
                  lam_value, kappa_param.to(lam_value.dtype), gated)

    return forward, backward


_PATHS = {
    'eager': (_eager_forward, _eager_backward),
    'cpu': _fused_path('apa_forward', 'apa_backward'),
    'triton': _fused_path('apa_forward_triton', 'apa_backward_triton'),
}


def load_kernels() -> None:
    """Build or import the fused kernels this machine can run (the APA/AGLU
    layers call it when built): torch.compile cannot load them while
    tracing and would trace the formula instead."""
    cpu_kernel_available()
    if torch.cuda.is_available():
        triton_kernel_available()


def _select_path(x: Tensor) -> str:
    """'cpu' (fused C++ kernel), 'triton' (CUDA kernel) or 'eager'."""
    compiling = torch.compiler.is_compiling()
    if x.device.type == 'cpu':
        fused = cpu_kernel_loaded() if compiling else cpu_kernel_available()
        return 'cpu' if fused else 'eager'
    if x.device.type == 'cuda' and x.dtype in TRITON_DTYPES:
        fused = (triton_kernel_loaded()
                 if compiling else triton_kernel_available())
        return 'triton' if fused else 'eager'
    return 'eager'


def _run_forward(ctx, z: Tensor, lambda_param: Tensor, kappa_param: Tensor,
                 gated: bool) -> Tensor:
    """act(z) on the path chosen here, which ``_run_backward`` reuses."""
    ctx.gated = gated
    ctx.path = _select_path(z)
    lam = lambda_param.detach().clamp(min=LAMBDA_MIN).to(_compute_dtype(z))
    forward = _PATHS[ctx.path][0]
    with torch.autocast(z.device.type, enabled=False):
        return forward(z, lam, kappa_param.detach(), gated)


def _run_backward(ctx, grad_out: Tensor, z: Tensor, lambda_param: Tensor,
                  kappa_param: Tensor):
    """grad_z, the two parameter sums and the floored λ used."""
    lam = lambda_param.clamp(min=LAMBDA_MIN).to(_compute_dtype(z))
    backward = _PATHS[ctx.path][1]
    with torch.autocast(z.device.type, enabled=False):
        return (*backward(grad_out, z, lam, kappa_param, ctx.gated), lam)


class _APAFunction(torch.autograd.Function):
    """APA or AGLU with an analytic backward that saves only its inputs.

    The fused CPU kernel (``csrc/apa_cpu.cpp``) or the Triton CUDA kernel
    (``apa_triton_kernel``) runs both directions where it is available,
    the eager formula elsewhere; all give the same values (tested).
    """

    @staticmethod
    def forward(ctx, x: Tensor, lambda_param: Tensor, kappa_param: Tensor,
                gated: bool) -> Tensor:
        ctx.save_for_backward(x, lambda_param, kappa_param)
        return _run_forward(ctx, x, lambda_param, kappa_param, gated)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, lambda_param, kappa_param = ctx.saved_tensors
        grad_x, sum_lambda, sum_kappa, lam = _run_backward(
            ctx, grad_out, x, lambda_param, kappa_param)
        grad_x = grad_x if ctx.needs_input_grad[0] else None
        return (grad_x, *_parameter_grads(
            ctx.needs_input_grad[1:3], lambda_param, kappa_param, lam,
            sum_lambda, sum_kappa), None)


def _parameter_grads(needed, lambda_param: Tensor, kappa_param: Tensor,
                     lam: Tensor, sum_lambda: Tensor, sum_kappa: Tensor):
    """∂L/∂λ (none below the 1e-4 floor, like torch.clamp) and ∂L/∂κ."""
    grad_lambda = grad_kappa = None
    if needed[0]:
        active = (lambda_param >= LAMBDA_MIN).to(lambda_param.dtype)
        grad_lambda = (sum_lambda / lam.double()**2).to(
            lambda_param.dtype) * active
    if needed[1]:
        grad_kappa = sum_kappa.to(kappa_param.dtype)
    return grad_lambda, grad_kappa


def _scale_add(x: Tensor, gate: Tensor, identity: Tensor) -> Tensor:
    """x·gate + identity for x, identity (N, C, H, W) and gate (N, C), in
    the dtype of x·gate (as ``se(x) += identity``)."""
    scaled = x * gate[:, :, None, None]
    return scaled.add_(identity.to(scaled.dtype))


class _ScaleAddAPAFunction(torch.autograd.Function):
    """act(x·gate + identity) keeping x, gate and identity for backward,
    not the sum: a bottleneck's block input (the identity) and its SE input
    are held anyway, so the last activation of a block costs no memory."""

    @staticmethod
    def forward(ctx, x: Tensor, gate: Tensor, identity: Tensor,
                lambda_param: Tensor, kappa_param: Tensor,
                gated: bool) -> Tensor:
        ctx.save_for_backward(x, gate, identity, lambda_param, kappa_param)
        return _run_forward(ctx, _scale_add(x, gate, identity), lambda_param,
                            kappa_param, gated)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, gate, identity, lambda_param, kappa_param = ctx.saved_tensors
        grad_pre, sum_lambda, sum_kappa, lam = _run_backward(
            ctx, grad_out, _scale_add(x, gate, identity), lambda_param,
            kappa_param)
        needed = ctx.needs_input_grad
        grad_x = grad_pre * gate[:, :, None, None] if needed[0] else None
        grad_gate = None
        if needed[1]:
            grad_gate = (grad_pre * x).sum((2, 3)).to(gate.dtype)
        grad_identity = grad_pre.to(identity.dtype) if needed[2] else None
        return (grad_x, grad_gate, grad_identity, *_parameter_grads(
            needed[3:5], lambda_param, kappa_param, lam, sum_lambda,
            sum_kappa), None)


def _check_parameters(x: Tensor, lambda_param: Tensor,
                      kappa_param: Tensor) -> None:
    for name, param in (('lambda_param', lambda_param),
                        ('kappa_param', kappa_param)):
        if param.dim() != 1:
            raise ValueError(f'{name} must be 1-D of size 1 or C, got shape '
                             f'{tuple(param.shape)}')
    if lambda_param.numel() != kappa_param.numel():
        raise ValueError(
            f'lambda_param has {lambda_param.numel()} values but kappa_param '
            f'has {kappa_param.numel()}')
    channels = lambda_param.numel()
    if channels > 1 and (x.dim() < 2 or x.shape[1] != channels):
        raise ValueError(
            f'input of shape {tuple(x.shape)} does not match '
            f'num_parameters={channels}: per-channel APA needs an input of '
            f'rank >= 2 with {channels} channels in dimension 1')


def apa(x: Tensor, lambda_param: Tensor, kappa_param: Tensor) -> Tensor:
    """APA(z; λ, κ) = (λ·exp(−κz) + 1)^(−1/λ), the adaptive gate.

    Args:
        x (Tensor): Input of any shape; rank >= 2 when the parameters are
            per-channel, e.g. (N, C) or (N, C, H, W).
        lambda_param (Tensor): λ of shape (1,) or (C,); used as
            max(λ, 1e-4).
        kappa_param (Tensor): κ of shape (1,) or (C,).

    Returns:
        Tensor: APA(x), same shape and dtype as ``x``, values in [0, 1].
    """
    _check_parameters(x, lambda_param, kappa_param)
    return _APAFunction.apply(x, lambda_param, kappa_param, False)


def aglu(x: Tensor, lambda_param: Tensor, kappa_param: Tensor) -> Tensor:
    """AGLU(z; λ, κ) = z·APA(z; λ, κ), the adaptive rectifier.

    Args and shapes as :func:`apa`.

    Returns:
        Tensor: AGLU(x), same shape and dtype as ``x``.
    """
    _check_parameters(x, lambda_param, kappa_param)
    return _APAFunction.apply(x, lambda_param, kappa_param, True)


def log_apa(x: Tensor, lambda_param: Tensor, kappa_param: Tensor) -> Tensor:
    """log APA(z; λ, κ) = logsigmoid(κz − ln λ)/λ, differentiated by autograd.

    For losses on small tensors (e.g. RoI logits), where log-space keeps the
    binary cross-entropy finite for any logit. Args and broadcasting as
    :func:`apa`; computed in the input's dtype.

    Returns:
        Tensor: log APA(x) <= 0, same shape as ``x``.
    """
    _check_parameters(x, lambda_param, kappa_param)
    lam = _broadcast(lambda_param.clamp(min=LAMBDA_MIN), x, x.dtype)
    kappa = _broadcast(kappa_param, x, x.dtype)
    return F.logsigmoid(kappa * x - torch.log(lam)) / lam


def scale_add_apa(x: Tensor, gate: Tensor, identity: Tensor,
                  lambda_param: Tensor, kappa_param: Tensor,
                  gated: bool) -> Tensor:
    """APA or AGLU of x·gate + identity, the end of an SE bottleneck.

    Equals ``(aglu if gated else apa)(x * gate[..., None, None] + identity,
    lambda_param, kappa_param)`` but keeps x, gate and identity for backward
    instead of the sum (recomputed there).

    Args:
        x (Tensor): SE input, (N, C, H, W).
        gate (Tensor): SE gate, (N, C).
        identity (Tensor): Residual, (N, C, H, W).
        lambda_param, kappa_param (Tensor): As :func:`apa`.
        gated (bool): AGLU (z·APA(z)) if True, else APA.

    Returns:
        Tensor: (N, C, H, W), the dtype of x·gate.
    """
    if x.dim() != 4 or gate.shape != x.shape[:2] or identity.shape != x.shape:
        raise ValueError(
            f'x {tuple(x.shape)}, gate {tuple(gate.shape)} and identity '
            f'{tuple(identity.shape)} must be (N, C, H, W), (N, C) and '
            '(N, C, H, W)')
    _check_parameters(x, lambda_param, kappa_param)
    return _ScaleAddAPAFunction.apply(x, gate, identity, lambda_param,
                                      kappa_param, gated)
