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
float32 and returned in their own dtype; float64 stays float64.

Three paths, one per kind of call:

* eager mode: the implementation ``dispatch`` chose for the device type
  and dtype, called directly: the fused CPU kernel's function with its
  autograd node made in C++, or one ``autograd.Function`` around the
  Triton launchers (or the formula);
* ``torch.compile``: the fused kernel's ``torch.library`` operator, which
  the graph keeps whole (:mod:`.operators`);
* export (``torch.export``, ONNX): the formula in standard torch ops.

:func:`apa`, :func:`aglu` and :func:`scale_add_apa` check their arguments;
:func:`activation` and :func:`scale_add_activation` are the layers' path,
whose parameters were checked when they were built or loaded.
"""
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import dispatch
from .eager import LAMBDA_MIN, broadcast, compute_dtype

ACTIVATIONS = ('apa', 'aglu')


class _ActivationFunction(torch.autograd.Function):
    """APA or AGLU on a backend (``dispatch.Backend``), saving only the
    input and the parameters for backward; differentiable once."""

    @staticmethod
    def forward(ctx, x: Tensor, lambda_param: Tensor, kappa_param: Tensor,
                backend: dispatch.Backend, act: str) -> Tensor:
        ctx.save_for_backward(x, lambda_param, kappa_param)
        ctx.backend, ctx.act = backend, act
        return backend.forward(x, lambda_param, kappa_param, act)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        return (*ctx.backend.backward(grad_out, *ctx.saved_tensors,
                                      ctx.act), None, None)


def _scale_add(x: Tensor, gate: Tensor, identity: Tensor) -> Tensor:
    """x·gate + identity for x, identity (N, C, H, W) and gate (N, C), in
    the dtype of x·gate (as ``se(x) += identity``)."""
    scaled = x * gate[:, :, None, None]
    return scaled.add_(identity.to(scaled.dtype))


class _ScaleAddFunction(torch.autograd.Function):
    """act(x·gate + identity) on a backend, keeping x, gate and identity
    for backward, not the sum: a bottleneck's block input (the identity)
    and its SE input are held anyway, so the last activation of a block
    costs no memory. On a backend that fuses it (Triton), one kernel each
    way when the three share a dtype; else x·gate + identity in torch ops
    (recomputed in backward) around the backend's activation."""

    @staticmethod
    def forward(ctx, x: Tensor, gate: Tensor, identity: Tensor,
                lambda_param: Tensor, kappa_param: Tensor,
                backend: dispatch.Backend, act: str) -> Tensor:
        ctx.save_for_backward(x, gate, identity, lambda_param, kappa_param)
        ctx.backend, ctx.act = backend, act
        ctx.fused = (backend.scale_add_forward is not None
                     and x.dtype == gate.dtype == identity.dtype)
        if ctx.fused:
            return backend.scale_add_forward(x, gate, identity, lambda_param,
                                             kappa_param, act)
        return backend.forward(_scale_add(x, gate, identity), lambda_param,
                               kappa_param, act)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        x, gate, identity, lambda_param, kappa_param = ctx.saved_tensors
        if ctx.fused:
            return (*ctx.backend.scale_add_backward(
                grad_out, x, gate, identity, lambda_param, kappa_param,
                ctx.act), None, None)
        grad_sum, grad_lambda, grad_kappa = ctx.backend.backward(
            grad_out, _scale_add(x, gate, identity), lambda_param,
            kappa_param, ctx.act)
        needed = ctx.needs_input_grad
        grad_x = grad_sum * gate[:, :, None, None] if needed[0] else None
        grad_gate = None
        if needed[1]:
            grad_gate = (grad_sum * x).sum((2, 3)).to(gate.dtype)
        grad_identity = grad_sum.to(identity.dtype) if needed[2] else None
        return (grad_x, grad_gate, grad_identity, grad_lambda, grad_kappa,
                None, None)


def _tracing() -> bool:
    """Whether a graph is being traced (torch.compile, torch.export, the
    TorchScript-based ONNX exporter) rather than run eagerly."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


def _needs_grad(*tensors: Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def activation(x: Tensor, lambda_param: Tensor, kappa_param: Tensor,
               act: str, dim: int = 1) -> Tensor:
    """APA or AGLU (``act``) of ``x`` without Python checks (the layers
    check their parameters at build and load; the kernels check the
    shapes): the hot path of :func:`apa` and :func:`aglu`, same
    arguments."""
    if dim != 1 and lambda_param.numel() > 1:
        return activation(_channels_second(x, dim % x.dim()), lambda_param,
                          kappa_param, act).reshape(x.shape)
    if _tracing():
        operator = None if exporting() else dispatch.compiled_operator(x)
        if operator is None:
            return _formula(x, lambda_param, kappa_param, act)
        return operator(x, lambda_param, kappa_param, act)
    backend = dispatch.backend_for(x)
    if backend.differentiable is not None:
        return backend.differentiable(x, lambda_param, kappa_param, act)
    if _needs_grad(x, lambda_param, kappa_param):
        return _ActivationFunction.apply(x, lambda_param, kappa_param,
                                         backend, act)
    return backend.forward(x, lambda_param, kappa_param, act)


def scale_add_activation(x: Tensor, gate: Tensor, identity: Tensor,
                         lambda_param: Tensor, kappa_param: Tensor,
                         act: str) -> Tensor:
    """act(x·gate + identity) with arguments already checked: the hot path
    of :func:`scale_add_apa`, same arguments."""
    if _tracing():
        return activation(_scale_add(x, gate, identity), lambda_param,
                          kappa_param, act)
    backend = dispatch.backend_for(x)
    if _needs_grad(x, gate, identity, lambda_param, kappa_param):
        return _ScaleAddFunction.apply(x, gate, identity, lambda_param,
                                       kappa_param, backend, act)
    if (backend.scale_add_forward is not None
            and x.dtype == gate.dtype == identity.dtype):
        return backend.scale_add_forward(x, gate, identity, lambda_param,
                                         kappa_param, act)
    return backend.forward(_scale_add(x, gate, identity), lambda_param,
                           kappa_param, act)


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


def _formula(z: Tensor, lambda_param: Tensor, kappa_param: Tensor,
             act: str) -> Tensor:
    """APA or AGLU of z (per-channel parameters on dim 1) as plain torch ops
    differentiated by autograd, what exported graphs hold:
    exp(−softplus(ln λ − κz)/λ), λ floored at 1e-4 (softplus, which
    exporters keep as one operator, rather than log(sigmoid(·)), whose
    tails onnxruntime's sigmoid cuts off)."""
    dtype = compute_dtype(z)
    zc = z.to(dtype)
    lam = broadcast(lambda_param.clamp(min=LAMBDA_MIN), z, dtype)
    kappa = broadcast(kappa_param, z, dtype)
    p = torch.exp(-F.softplus(torch.log(lam) - zc * kappa) / lam)
    return (zc * p if act == 'aglu' else p).to(z.dtype)


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
    dim = _check_parameters(x, lambda_param, kappa_param, dim)
    return activation(x, lambda_param, kappa_param, 'apa', dim)


def aglu(x: Tensor, lambda_param: Tensor, kappa_param: Tensor,
         dim: int = 1) -> Tensor:
    """AGLU(z; λ, κ) = z·APA(z; λ, κ), the adaptive rectifier.

    Args and shapes as :func:`apa`.

    Returns:
        Tensor: AGLU(x), same shape and dtype as ``x``.
    """
    dim = _check_parameters(x, lambda_param, kappa_param, dim)
    return activation(x, lambda_param, kappa_param, 'aglu', dim)


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
    dim = _check_parameters(x, lambda_param, kappa_param, dim)
    if dim == 1 or lambda_param.numel() == 1:
        return _log_apa(x, lambda_param, kappa_param)
    return _log_apa(_channels_second(x, dim), lambda_param,
                    kappa_param).reshape(x.shape)


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
    return scale_add_activation(x, gate, identity, lambda_param, kappa_param,
                                act)
