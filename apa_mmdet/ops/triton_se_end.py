# Copyright (c) apa_mmdet contributors.
"""The end of an SE bottleneck, act(x·gate + identity), fused in Triton
the way :mod:`.triton_kernel` fuses APA/AGLU: one launch forward (z summed
in float32, never stored), two backward (the gate's gradient reduced with
the λ and κ gradients by :func:`~.triton_tiles.parameter_grads_kernel`).
"""
import torch
import triton
import triton.language as tl
from torch import Tensor

from .triton_tiles import (REDUCE_BLOCK, apa_terms, check_channels,
                           gradient_terms, launch_for, on_device_of,
                           parameter_grads_kernel, row_parameters, tile)


@triton.jit
def _scale_add_tile(x_ptr, gate_ptr, identity_ptr, lambda_ptr, kappa_ptr,
                    rows, inner, channels, n_col_blocks,
                    BLOCK_R: tl.constexpr, BLOCK_I: tl.constexpr,
                    WIDE: tl.constexpr):
    """The SE end's tile: rows are the (n, c) maps of (N, C, H, W) x and
    identity, gate (N, C) one value per row; z = x·gate + identity in
    float32, with :func:`~.triton_tiles.apa_terms`."""
    row, row_mask, offsets, mask = tile(rows, inner, n_col_blocks, BLOCK_R,
                                        BLOCK_I, WIDE)
    inv_lam, log2_lam, kappa, kappa_log2_e = row_parameters(
        lambda_ptr, kappa_ptr, row, row_mask, channels)
    gate = tl.load(gate_ptr + row, mask=row_mask,
                   other=0.0).to(tl.float32)[:, None]
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    z = x * gate + tl.load(identity_ptr + offsets, mask=mask,
                           other=0.0).to(tl.float32)
    v, a, log2_1p_a, softplus_neg_u_log2_e, p = apa_terms(
        z, inv_lam, log2_lam, kappa_log2_e)
    return (row, row_mask, offsets, mask, x, gate, z, kappa, inv_lam, v, a,
            log2_1p_a, softplus_neg_u_log2_e, p)


@triton.jit
def _scale_add_forward_kernel(x_ptr, gate_ptr, identity_ptr, out_ptr,
                              lambda_ptr, kappa_ptr, rows, inner, channels,
                              n_col_blocks, AGLU: tl.constexpr,
                              BLOCK_R: tl.constexpr, BLOCK_I: tl.constexpr,
                              WIDE: tl.constexpr):
    _, _, offsets, mask, _, _, z, _, _, _, _, _, _, p = _scale_add_tile(
        x_ptr, gate_ptr, identity_ptr, lambda_ptr, kappa_ptr, rows, inner,
        channels, n_col_blocks, BLOCK_R, BLOCK_I, WIDE)
    out = p * z if AGLU else p
    tl.store(out_ptr + offsets, out.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _scale_add_backward_kernel(grad_ptr, x_ptr, gate_ptr, identity_ptr,
                               grad_x_ptr, grad_identity_ptr, lambda_ptr,
                               kappa_ptr, partial_lambda_ptr,
                               partial_kappa_ptr, partial_gate_ptr, rows,
                               inner, channels, n_col_blocks,
                               AGLU: tl.constexpr, BLOCK_R: tl.constexpr,
                               BLOCK_I: tl.constexpr, WIDE: tl.constexpr):
    """∂L/∂x = ∂L/∂z·gate and ∂L/∂identity = ∂L/∂z written; per row and
    column block the partial sums of the λ, κ and gate gradients
    (Σ ∂L/∂z·x for the gate)."""
    (row, row_mask, offsets, mask, x, gate, z, kappa, inv_lam, v, a,
     log2_1p_a, softplus_neg_u_log2_e, p) = _scale_add_tile(
         x_ptr, gate_ptr, identity_ptr, lambda_ptr, kappa_ptr, rows, inner,
         channels, n_col_blocks, BLOCK_R, BLOCK_I, WIDE)
    g = tl.load(grad_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    grad_z, kappa_terms, lambda_terms = gradient_terms(
        z, g, kappa, inv_lam, v, a, log2_1p_a, softplus_neg_u_log2_e, p,
        AGLU)
    tl.store(grad_x_ptr + offsets,
             (grad_z * gate).to(grad_x_ptr.dtype.element_ty), mask=mask)
    tl.store(grad_identity_ptr + offsets,
             grad_z.to(grad_identity_ptr.dtype.element_ty), mask=mask)
    partial = row * n_col_blocks + tl.program_id(0) % n_col_blocks
    kappa_sum = tl.sum(kappa_terms, axis=1) * tl.reshape(inv_lam, (BLOCK_R, ))
    tl.store(partial_kappa_ptr + partial, kappa_sum, mask=row_mask)
    tl.store(partial_lambda_ptr + partial, tl.sum(lambda_terms, axis=1),
             mask=row_mask)
    tl.store(partial_gate_ptr + partial, tl.sum(grad_z * x, axis=1),
             mask=row_mask)


def _check_scale_add(x: Tensor, gate: Tensor, identity: Tensor,
                     channels: int) -> None:
    check_channels(x, channels)
    if (x.dim() != 4 or gate.shape != x.shape[:2]
            or identity.shape != x.shape):
        raise ValueError(
            f'x {tuple(x.shape)}, gate {tuple(gate.shape)} and identity '
            f'{tuple(identity.shape)} must be (N, C, H, W), (N, C) and '
            '(N, C, H, W)')


def scale_add_forward(x: Tensor, gate: Tensor, identity: Tensor,
                      lambda_param: Tensor, kappa_param: Tensor,
                      act: str) -> Tensor:
    """act(x·gate + identity), the end of an SE bottleneck, in one launch:
    x, identity (N, C, H, W) and gate (N, C) of one dtype (the output's),
    summed in float32."""
    x, identity = x.contiguous(), identity.contiguous()
    gate = gate.contiguous()
    lambda_param = lambda_param.contiguous()
    kappa_param = kappa_param.contiguous()
    channels = lambda_param.numel()
    _check_scale_add(x, gate, identity, channels)
    out = torch.empty_like(x)
    if x.numel():
        launch = launch_for(x.shape, channels, per_map=True)
        with on_device_of(x):
            _scale_add_forward_kernel[launch.grid](
                x, gate, identity, out, lambda_param, kappa_param,
                launch.rows, launch.inner, channels, launch.n_col_blocks,
                AGLU=act == 'aglu', BLOCK_R=launch.block_r,
                BLOCK_I=launch.block_i, WIDE=launch.wide,
                enable_fp_fusion=True)
    return out


def scale_add_backward(grad: Tensor, x: Tensor, gate: Tensor,
                       identity: Tensor, lambda_param: Tensor,
                       kappa_param: Tensor, act: str):
    """(∂L/∂x, ∂L/∂gate, ∂L/∂identity, ∂L/∂λ, ∂L/∂κ) of
    :func:`scale_add_forward`, typed and shaped like what they
    differentiate; two launches."""
    x, identity = x.contiguous(), identity.contiguous()
    gate = gate.contiguous()
    lambda_param = lambda_param.contiguous()
    kappa_param = kappa_param.contiguous()
    grad = grad.to(x.dtype).contiguous()
    channels = lambda_param.numel()
    _check_scale_add(x, gate, identity, channels)
    grad_x, grad_identity = torch.empty_like(x), torch.empty_like(identity)
    grad_gate = torch.empty_like(gate)
    grad_lambda = torch.empty_like(lambda_param)
    grad_kappa = torch.empty_like(kappa_param)
    if not x.numel():
        return (grad_x, grad_gate.zero_(), grad_identity, grad_lambda.zero_(),
                grad_kappa.zero_())
    launch = launch_for(x.shape, channels, per_map=True)
    partial_lambda = x.new_empty(
        (launch.partial_outer, channels, launch.partial_inner),
        dtype=torch.float32)
    partial_kappa = torch.empty_like(partial_lambda)
    partial_gate = torch.empty_like(partial_lambda)
    with on_device_of(x):
        _scale_add_backward_kernel[launch.grid](
            grad, x, gate, identity, grad_x, grad_identity, lambda_param,
            kappa_param, partial_lambda, partial_kappa, partial_gate,
            launch.rows, launch.inner, channels, launch.n_col_blocks,
            AGLU=act == 'aglu', BLOCK_R=launch.block_r,
            BLOCK_I=launch.block_i, WIDE=launch.wide, enable_fp_fusion=True)
        parameter_grads_kernel[(channels + launch.rows, )](
            partial_lambda, partial_kappa, lambda_param, grad_lambda,
            grad_kappa, partial_gate, grad_gate, launch.partial_outer,
            channels, launch.partial_inner, BLOCK=REDUCE_BLOCK)
    return grad_x, grad_gate, grad_identity, grad_lambda, grad_kappa
