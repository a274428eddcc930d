# Copyright (c) apa_mmdet contributors.
"""Fused APA/AGLU kernels for CUDA, written in Triton.

One pass over memory in each direction, in float32 registers for float32,
bfloat16 and float16 inputs (output in the input's dtype): forward reads z
and writes act(z); backward reads z and the output gradient, writes the
input gradient and per-tile partial sums of the λ and κ gradients, which a
second, small kernel adds up per channel in float64 and finishes (÷ λ², none
below the floor, the parameters' dtype): one launch forward and two
backward. The math, the tiles and the reduction are in :mod:`.triton_tiles`.

:func:`forward` and :func:`backward` launch the kernels directly (eager
mode's ``dispatch.Backend``); the same functions are the ``torch.library``
operators ``apa_forward_triton`` / ``apa_backward_triton`` that
``torch.compile`` keeps whole. The fused end of an SE bottleneck
(:mod:`.triton_se_end`) is offered here beside them, so that ``dispatch``
imports one module on first CUDA use. With ``TRITON_INTERPRET=1`` the
kernels also run on CPU tensors (how the tests check them on machines
without a GPU, which also compile them for sm_80/sm_90 with Triton's
compiler).
"""
import torch
import triton
import triton.language as tl
from torch import Tensor

from .operators import register_operator
from .triton_se_end import scale_add_backward, scale_add_forward
from .triton_tiles import (REDUCE_BLOCK, apa_terms, check_channels,
                           element_parameters, gradient_terms, launch_for,
                           on_device_of, parameter_grads_kernel,
                           row_parameters, tile)

__all__ = ['forward', 'backward', 'scale_add_forward', 'scale_add_backward']


@triton.jit
def _load_tile(x_ptr, lambda_ptr, kappa_ptr, rows, inner, channels,
               n_col_blocks, BLOCK_R: tl.constexpr, BLOCK_I: tl.constexpr,
               WIDE: tl.constexpr, CHANNELS_LAST: tl.constexpr):
    """This program's tile of z (float32), its parameters and
    :func:`~.triton_tiles.apa_terms`."""
    row, row_mask, offsets, mask = tile(rows, inner, n_col_blocks, BLOCK_R,
                                        BLOCK_I, WIDE)
    if CHANNELS_LAST:
        inv_lam, log2_lam, kappa, kappa_log2_e = element_parameters(
            lambda_ptr, kappa_ptr, offsets, mask, channels)
    else:
        inv_lam, log2_lam, kappa, kappa_log2_e = row_parameters(
            lambda_ptr, kappa_ptr, row, row_mask, channels)
    z = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    v, a, log2_1p_a, softplus_neg_u_log2_e, p = apa_terms(
        z, inv_lam, log2_lam, kappa_log2_e)
    return (row, row_mask, offsets, mask, z, kappa, inv_lam, v, a, log2_1p_a,
            softplus_neg_u_log2_e, p)


@triton.jit
def _apa_forward_kernel(x_ptr, out_ptr, lambda_ptr, kappa_ptr, rows, inner,
                        channels, n_col_blocks, AGLU: tl.constexpr,
                        BLOCK_R: tl.constexpr, BLOCK_I: tl.constexpr,
                        WIDE: tl.constexpr, CHANNELS_LAST: tl.constexpr):
    _, _, offsets, mask, z, _, _, _, _, _, _, p = _load_tile(
        x_ptr, lambda_ptr, kappa_ptr, rows, inner, channels, n_col_blocks,
        BLOCK_R, BLOCK_I, WIDE, CHANNELS_LAST)
    out = p * z if AGLU else p
    tl.store(out_ptr + offsets, out.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _apa_backward_kernel(grad_ptr, x_ptr, grad_x_ptr, lambda_ptr, kappa_ptr,
                         partial_lambda_ptr, partial_kappa_ptr, rows, inner,
                         channels, n_col_blocks, AGLU: tl.constexpr,
                         BLOCK_R: tl.constexpr, BLOCK_I: tl.constexpr,
                         WIDE: tl.constexpr, CHANNELS_LAST: tl.constexpr):
    """Masked elements load z = g = 0, so every term of the sums (each has
    a factor g) is 0 there. Partial sums: one per row and column block, or
    with ``CHANNELS_LAST`` one per row block and column (channel)."""
    (row, row_mask, offsets, mask, z, kappa, inv_lam, v, a, log2_1p_a,
     softplus_neg_u_log2_e, p) = _load_tile(x_ptr, lambda_ptr, kappa_ptr,
                                            rows, inner, channels,
                                            n_col_blocks, BLOCK_R, BLOCK_I,
                                            WIDE, CHANNELS_LAST)
    g = tl.load(grad_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    grad_x, kappa_terms, lambda_terms = gradient_terms(
        z, g, kappa, inv_lam, v, a, log2_1p_a, softplus_neg_u_log2_e, p,
        AGLU)
    tl.store(grad_x_ptr + offsets, grad_x.to(grad_x_ptr.dtype.element_ty),
             mask=mask)
    if CHANNELS_LAST:
        pid = tl.program_id(0)
        col = (pid % n_col_blocks) * BLOCK_I + tl.arange(0, BLOCK_I)
        partial = (pid // n_col_blocks) * inner + col
        tl.store(partial_kappa_ptr + partial,
                 tl.sum(kappa_terms * inv_lam, axis=0), mask=col < inner)
        tl.store(partial_lambda_ptr + partial, tl.sum(lambda_terms, axis=0),
                 mask=col < inner)
    else:
        partial = row * n_col_blocks + tl.program_id(0) % n_col_blocks
        kappa_sum = tl.sum(kappa_terms, axis=1) * tl.reshape(
            inv_lam, (BLOCK_R, ))
        tl.store(partial_kappa_ptr + partial, kappa_sum, mask=row_mask)
        tl.store(partial_lambda_ptr + partial, tl.sum(lambda_terms, axis=1),
                 mask=row_mask)


def forward(x: Tensor, lambda_param: Tensor, kappa_param: Tensor,
            act: str) -> Tensor:
    """APA (``act='apa'``) or AGLU (``'aglu'``) of ``x`` (float32,
    bfloat16 or float16; made contiguous), one launch; λ (floored inside)
    and κ as stored, shape (1,) or (C,), C = x.shape[1]."""
    x = x.contiguous()
    lambda_param = lambda_param.contiguous()
    kappa_param = kappa_param.contiguous()
    out = torch.empty_like(x)
    channels = lambda_param.numel()
    check_channels(x, channels)
    if x.numel():
        launch = launch_for(x.shape, channels)
        with on_device_of(x):
            _apa_forward_kernel[launch.grid](
                x, out, lambda_param, kappa_param, launch.rows, launch.inner,
                channels, launch.n_col_blocks, AGLU=act == 'aglu',
                BLOCK_R=launch.block_r, BLOCK_I=launch.block_i,
                WIDE=launch.wide, CHANNELS_LAST=launch.channels_last,
                enable_fp_fusion=True)
    return out


def backward(grad: Tensor, x: Tensor, lambda_param: Tensor,
             kappa_param: Tensor, act: str) -> tuple[Tensor, Tensor, Tensor]:
    """(∂L/∂x, ∂L/∂λ, ∂L/∂κ) for the output gradient ``grad``, typed and
    shaped like x, λ and κ; two launches."""
    x = x.contiguous()
    lambda_param = lambda_param.contiguous()
    kappa_param = kappa_param.contiguous()
    grad = grad.to(x.dtype).contiguous()
    channels = lambda_param.numel()
    check_channels(x, channels)
    grad_x = torch.empty_like(x)
    grad_lambda = torch.empty_like(lambda_param)
    grad_kappa = torch.empty_like(kappa_param)
    if not x.numel():
        return grad_x, grad_lambda.zero_(), grad_kappa.zero_()
    launch = launch_for(x.shape, channels)
    partial_lambda = x.new_empty(
        (launch.partial_outer, channels, launch.partial_inner),
        dtype=torch.float32)
    partial_kappa = torch.empty_like(partial_lambda)
    with on_device_of(x):
        _apa_backward_kernel[launch.grid](
            grad, x, grad_x, lambda_param, kappa_param, partial_lambda,
            partial_kappa, launch.rows, launch.inner, channels,
            launch.n_col_blocks, AGLU=act == 'aglu', BLOCK_R=launch.block_r,
            BLOCK_I=launch.block_i, WIDE=launch.wide,
            CHANNELS_LAST=launch.channels_last, enable_fp_fusion=True)
        # (no gate: its two pointers are placeholders no program reads)
        parameter_grads_kernel[(channels, )](
            partial_lambda, partial_kappa, lambda_param, grad_lambda,
            grad_kappa, partial_lambda, grad_lambda, launch.partial_outer,
            channels, launch.partial_inner, BLOCK=REDUCE_BLOCK)
    return grad_x, grad_lambda, grad_kappa


torch.library.custom_op('apa_mmdet::apa_forward_triton', forward,
                        mutates_args=())
torch.library.custom_op('apa_mmdet::apa_backward_triton', backward,
                        mutates_args=())
register_operator('apa_mmdet::apa_forward_triton',
                  'apa_mmdet::apa_backward_triton')
