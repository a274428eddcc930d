# Copyright (c) apa_mmdet contributors.
"""Adaptive Parametric Activation as differentiable functions.

APA(z; λ, κ) = (λ·exp(−κz) + 1)^(−1/λ) and AGLU(z; λ, κ) = z·APA(z; λ, κ),
from *Adaptive Parametric Activation* (Alexandridis et al., ECCV 2024,
arXiv 2407.08567).

Both are evaluated in the stable log-space form

    p = exp(logsigmoid(κz − ln λ) / λ),    λ ← max(λ, 1e-4),

which never exponentiates a positive number. The backward pass is analytic
(``eager.py`` gives the derivatives) and recomputes everything from the
saved input, so each call keeps one tensor the size of the input alive for
backward (eager autograd keeps four). Low-precision inputs are computed in
float32 and returned in their own dtype; float64 stays float64. Which
implementation runs (fused CPU kernel, Triton kernel, torch ops) is decided
per call by ``dispatch``.
"""
import torch
import torch.nn.functional as F
from torch import Tensor

from . import dispatch
from .eager import broadcast

LAMBDA_MIN = 1e-4
ACTIVATIONS = ('apa', 'aglu')


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _run_forward(ctx, z: Tensor, lambda_param: Tensor, kappa_param: Tensor,
                 act: str) -> Tensor:
    """act(z) on the implementation chosen here, which ``_run_backward``
    reuses."""
    ctx.act = act
    ctx.implementation = dispatch.select(z)
    lam = lambda_param.detach().clamp(min=LAMBDA_MIN).to(_compute_dtype(z))
    with torch.autocast(z.device.type, enabled=False):
        return ctx.implementation.forward(z, lam, kappa_param.detach(), act)


def _run_backward(ctx, grad_out: Tensor, z: Tensor, lambda_param: Tensor,
                  kappa_param: Tensor):
    """grad_z, the two parameter sums and the floored λ used."""
    lam = lambda_param.clamp(min=LAMBDA_MIN).to(_compute_dtype(z))
    with torch.autocast(z.device.type, enabled=False):
        return (*ctx.implementation.backward(grad_out, z, lam, kappa_param,
                                             ctx.act), lam)


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


class _APAFunction(torch.autograd.Function):
    """APA or AGLU with an analytic backward that saves only its inputs."""

    @staticmethod
    def forward(ctx, x: Tensor, lambda_param: Tensor, kappa_param: Tensor,
                act: str) -> Tensor:
        ctx.save_for_backward(x, lambda_param, kappa_param)
        return _run_forward(ctx, x, lambda_param, kappa_param, act)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, lambda_param, kappa_param = ctx.saved_tensors
        grad_x, sum_lambda, sum_kappa, lam = _run_backward(
            ctx, grad_out, x, lambda_param, kappa_param)
        grad_x = grad_x if ctx.needs_input_grad[0] else None
        return (grad_x, *_parameter_grads(
            ctx.needs_input_grad[1:3], lambda_param, kappa_param, lam,
            sum_lambda, sum_kappa), None)


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
                act: str) -> Tensor:
        ctx.save_for_backward(x, gate, identity, lambda_param, kappa_param)
        return _run_forward(ctx, _scale_add(x, gate, identity), lambda_param,
                            kappa_param, act)

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


def _check_parameters(x: Tensor, lambda_param: Tensor, kappa_param: Tensor,
                      dim: int = 1) -> int:
    """Validate the parameters against ``x``; the channel dimension, as a
    non-negative index (``dim`` for per-channel parameters, else 1)."""
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
    if channels == 1:
        return 1
    if not -x.dim() <= dim < x.dim() or x.shape[dim] != channels:
        raise ValueError(
            f'input of shape {tuple(x.shape)} does not match '
            f'num_parameters={channels}: per-channel APA needs {channels} '
            f'channels in dimension {dim}')
    return dim % x.dim()


def _channels_second(x: Tensor, dim: int) -> Tensor:
    """``x`` as (outer, C, inner) with its channel dimension ``dim`` in the
    middle: a view of a contiguous ``x``, the layout every implementation
    takes (per-channel λ, κ on dimension 1)."""
    outer = x.flatten(0, dim - 1) if dim > 0 else x.unsqueeze(0)
    return outer.flatten(2) if outer.dim() > 2 else outer.unsqueeze(-1)


def _apply(x: Tensor, lambda_param: Tensor, kappa_param: Tensor, dim: int,
           function) -> Tensor:
    """``function(x, λ, κ)`` with the channels of ``dim`` moved to dim 1
    (a reshape, no copy of a contiguous ``x``) and back."""
    dim = _check_parameters(x, lambda_param, kappa_param, dim)
    if dim == 1:
        return function(x, lambda_param, kappa_param)
    return function(_channels_second(x, dim), lambda_param,
                    kappa_param).reshape(x.shape)


def exporting() -> bool:
    """Whether a graph is being exported (``torch.export``, the ONNX
    exporters): APA/AGLU are then the formula in plain torch ops, with no
    autograd Function and no fused-kernel operator, so the graph leaves
    PyTorch as standard operators."""
    return torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export()


# torch.compile calls exporting() while tracing and keeps its answer (what
# torch.compiler.assume_constant_result does): some torch versions answer
# torch.compiler.is_exporting() with True for any dynamo trace, which would
# put the formula in place of the fused kernels in compiled graphs.
exporting._dynamo_marked_constant = True


def _formula(act: str):
    """(z, λ, κ) -> APA or AGLU of z (per-channel parameters on dim 1) as
    plain torch ops: exp(−softplus(ln λ − κz)/λ), λ floored at 1e-4
    (softplus, which exporters keep as one operator, rather than
    log(sigmoid(·)), whose tails onnxruntime's sigmoid cuts off)."""

    def function(z: Tensor, lambda_param: Tensor,
                 kappa_param: Tensor) -> Tensor:
        dtype = _compute_dtype(z)
        zc = z.to(dtype)
        lam = broadcast(lambda_param.clamp(min=LAMBDA_MIN), z, dtype)
        kappa = broadcast(kappa_param, z, dtype)
        p = torch.exp(-F.softplus(torch.log(lam) - zc * kappa) / lam)
        return (zc * p if act == 'aglu' else p).to(z.dtype)

    return function


def _check_act(act: str) -> None:
    if act not in ACTIVATIONS:
        raise ValueError(f"act must be one of {ACTIVATIONS}, got {act!r}")


def apa(x: Tensor, lambda_param: Tensor, kappa_param: Tensor,
        dim: int = 1) -> Tensor:
    """APA(z; λ, κ) = (λ·exp(−κz) + 1)^(−1/λ), the adaptive gate.

    Args:
        x (Tensor): Input of any shape; with per-channel parameters its
            dimension ``dim`` holds the C channels, e.g. (N, C, H, W) with
            dim=1 or tokens (B, L, C) with dim=-1.
        lambda_param (Tensor): λ of shape (1,) or (C,); used as
            max(λ, 1e-4).
        kappa_param (Tensor): κ of shape (1,) or (C,).
        dim (int): The channel dimension of per-channel parameters.
            Defaults to 1.

    Returns:
        Tensor: APA(x), same shape and dtype as ``x``, values in [0, 1].
    """
    if exporting():
        return _apply(x, lambda_param, kappa_param, dim, _formula('apa'))
    return _apply(x, lambda_param, kappa_param, dim,
                  lambda z, lam, kappa: _APAFunction.apply(z, lam, kappa,
                                                          'apa'))


def aglu(x: Tensor, lambda_param: Tensor, kappa_param: Tensor,
         dim: int = 1) -> Tensor:
    """AGLU(z; λ, κ) = z·APA(z; λ, κ), the adaptive rectifier.

    Args and shapes as :func:`apa`.

    Returns:
        Tensor: AGLU(x), same shape and dtype as ``x``.
    """
    if exporting():
        return _apply(x, lambda_param, kappa_param, dim, _formula('aglu'))
    return _apply(x, lambda_param, kappa_param, dim,
                  lambda z, lam, kappa: _APAFunction.apply(z, lam, kappa,
                                                          'aglu'))


def _log_apa(x: Tensor, lambda_param: Tensor,
             kappa_param: Tensor) -> Tensor:
    lam = broadcast(lambda_param.clamp(min=LAMBDA_MIN), x, x.dtype)
    kappa = broadcast(kappa_param, x, x.dtype)
    return F.logsigmoid(kappa * x - torch.log(lam)) / lam


def log_apa(x: Tensor, lambda_param: Tensor, kappa_param: Tensor,
            dim: int = 1) -> Tensor:
    """log APA(z; λ, κ) = logsigmoid(κz − ln λ)/λ, differentiated by autograd.

    For losses on small tensors (e.g. RoI logits), where log-space keeps the
    binary cross-entropy finite for any logit. Args and broadcasting as
    :func:`apa`; computed in the input's dtype.

    Returns:
        Tensor: log APA(x) <= 0, same shape as ``x``.
    """
    return _apply(x, lambda_param, kappa_param, dim, _log_apa)


def scale_add_apa(x: Tensor, gate: Tensor, identity: Tensor,
                  lambda_param: Tensor, kappa_param: Tensor,
                  act: str = 'aglu') -> Tensor:
    """APA or AGLU of x·gate + identity, the end of an SE bottleneck.

    Equals ``{'apa': apa, 'aglu': aglu}[act](x * gate[..., None, None] +
    identity, lambda_param, kappa_param)`` but keeps x, gate and identity
    for backward instead of the sum (recomputed there).

    Args:
        x (Tensor): SE input, (N, C, H, W).
        gate (Tensor): SE gate, (N, C).
        identity (Tensor): Residual, (N, C, H, W).
        lambda_param, kappa_param (Tensor): As :func:`apa`.
        act (str): 'aglu' (z·APA(z)) or 'apa'. Defaults to 'aglu'.

    Returns:
        Tensor: (N, C, H, W), the dtype of x·gate.
    """
    if x.dim() != 4 or gate.shape != x.shape[:2] or identity.shape != x.shape:
        raise ValueError(
            f'x {tuple(x.shape)}, gate {tuple(gate.shape)} and identity '
            f'{tuple(identity.shape)} must be (N, C, H, W), (N, C) and '
            '(N, C, H, W)')
    _check_act(act)
    _check_parameters(x, lambda_param, kappa_param, 1)
    if exporting():
        return _formula(act)(_scale_add(x, gate, identity), lambda_param,
                             kappa_param)
    return _ScaleAddAPAFunction.apply(x, gate, identity, lambda_param,
                                      kappa_param, act)
