# Copyright (c) apa_mmdet contributors.
"""Fused APA/AGLU kernels for CUDA, written in Triton.

One pass over memory in each direction, in float32 registers for float32,
bfloat16 and float16 inputs (output in the input's dtype): forward reads z
and writes act(z); backward reads z and the output gradient, writes the
input gradient and per-tile partial sums of the λ and κ gradients, which
torch adds up in float64 (deterministic, no atomics). The math is that of
``eager`` in base 2, where ``exp2`` is one instruction: with
u = κz − ln λ, v = u·log2 e and a = 2^{−|v|} = e^{−|u|},

    s = softplus(−u) = log1p(a) − min(u, 0),   p = exp(−s/λ),
    σ(−u) = e^{−softplus(u)} = (a if u >= 0 else 1)/(1 + a),
    s − σ(−u) by its series in a where e^{−u} < 1e-3,

with log2(1 + a) a polynomial in a (FMAs only); the instruction counts per
element are measured by ``benchmarks/kernel_instructions.py`` and kept in
``benchmarks/README.md``.

The input is seen as (rows, inner) = (N·C, H·W) so that a program's tile
(BLOCK_R rows × BLOCK_I columns) shares each row's channel; with one λ and
κ it is (1, numel); with the channels innermost ((N, C) logits, tokens) it
is (tokens, C), each column one channel. Both kernels are ``torch.library`` custom ops, so
``torch.compile`` keeps them whole. Imported on first CUDA use by
``dispatch``; with ``TRITON_INTERPRET=1`` they also run on CPU tensors
(how the tests check them on machines without a GPU, which also compile
them for sm_80/sm_90 with Triton's compiler).
"""
import contextlib
import math

import torch
import triton
import triton.language as tl
from torch import Tensor

BLOCK = 2048  # elements per program (16 per thread of 4 warps)
LN_2 = tl.constexpr(math.log(2))
LOG2_E = tl.constexpr(math.log2(math.e))


@triton.jit
def _log2_1p_unit(a):
    """log2(1 + a) for a in [0, 1]: a·P(a), P the degree-9 Chebyshev
    interpolant of log2(1 + a)/a (the coefficients of ``csrc/apa_cpu.cpp``
    times log2 e; relative error 1.6e-7 in float32; FMAs only)."""
    poly = -0.004582081683 * a + 0.02819390708
    poly = poly * a - 0.08132993162
    poly = poly * a + 0.1521123375
    poly = poly * a - 0.2202947296
    poly = poly * a + 0.2836810826
    poly = poly * a - 0.3599757304
    poly = poly * a + 0.4808460805
    poly = poly * a - 0.7213459717
    poly = poly * a + 1.442695033
    return a * poly


@triton.jit
def _log1p_minus_ratio_over_square(a):
    """(ln(1 + a) − a/(1 + a))/a² for a in [0, 1]: the degree-9 Chebyshev
    interpolant in t = 2a − 1 (relative error 2e-7 in float32; FMAs only).
    Times a², it is s − σ(−u) for u ≥ 0 (a = e^{−u}) without the
    cancellation of the difference, whose error would be ~ε/a relative."""
    t = 2.0 * a - 1.0
    poly = -3.979864223e-05 * t + 0.0001179333685
    poly = poly * t - 0.0002490426201
    poly = poly * t + 0.0007314976485
    poly = poly * t - 0.002222307896
    poly = poly * t + 0.006431828006
    poly = poly * t - 0.01830548808
    poly = poly * t + 0.05076517647
    poly = poly * t - 0.1326097626
    return poly * t + 0.2885271253


@triton.jit
def _tile(rows, inner, n_col_blocks, BLOCK_R: tl.constexpr,
          BLOCK_I: tl.constexpr, WIDE: tl.constexpr):
    """Row indices, element offsets and masks of this program's tile;
    offsets in int64 only for tensors of 2³¹ elements or more (``WIDE``)."""
    pid = tl.program_id(0)
    row = (pid // n_col_blocks) * BLOCK_R + tl.arange(0, BLOCK_R)
    col = (pid % n_col_blocks) * BLOCK_I
    if WIDE:
        col = col.to(tl.int64)
    col = col + tl.arange(0, BLOCK_I)
    row_mask = row < rows
    mask = row_mask[:, None] & (col < inner)[None, :]
    first = row.to(tl.int64) if WIDE else row
    offsets = first[:, None] * inner + col[None, :]
    return row, row_mask, offsets, mask


@triton.jit
def _row_parameters(lambda_ptr, kappa_ptr, row, row_mask, channels):
    """1/λ, log2 λ, κ and κ·log2 e of each row's channel, shaped
    (BLOCK_R, 1)."""
    channel = row % channels
    lam = tl.load(lambda_ptr + channel, mask=row_mask, other=1.0)
    kappa = tl.load(kappa_ptr + channel, mask=row_mask, other=1.0)
    return ((1.0 / lam)[:, None], tl.log2(lam)[:, None], kappa[:, None],
            (kappa * LOG2_E)[:, None])


@triton.jit
def _element_parameters(lambda_ptr, kappa_ptr, offsets, mask, channels):
    """The same for rows of C channels (channels innermost): each
    element's channel, shaped like the tile."""
    channel = offsets % channels
    lam = tl.load(lambda_ptr + channel, mask=mask, other=1.0)
    kappa = tl.load(kappa_ptr + channel, mask=mask, other=1.0)
    return 1.0 / lam, tl.log2(lam), kappa, kappa * LOG2_E


@triton.jit
def _load_tile(x_ptr, lambda_ptr, kappa_ptr, rows, inner, channels,
               n_col_blocks, BLOCK_R: tl.constexpr, BLOCK_I: tl.constexpr,
               WIDE: tl.constexpr, CHANNELS_LAST: tl.constexpr):
    """This program's tile of z (float32) and the terms both directions
    use, in base 2 (``exp2`` is one instruction): v = u·log2 e,
    a = 2^{−|v|}, log2(1 + a), s·log2 e where s = softplus(−u) = −log σ(u),
    and p = 2^{−s·log2 e/λ}."""
    row, row_mask, offsets, mask = _tile(rows, inner, n_col_blocks, BLOCK_R,
                                         BLOCK_I, WIDE)
    if CHANNELS_LAST:
        inv_lam, log2_lam, kappa, kappa_log2_e = _element_parameters(
            lambda_ptr, kappa_ptr, offsets, mask, channels)
    else:
        inv_lam, log2_lam, kappa, kappa_log2_e = _row_parameters(
            lambda_ptr, kappa_ptr, row, row_mask, channels)
    z = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    v = kappa_log2_e * z - log2_lam
    a = tl.exp2(-tl.abs(v))
    log2_1p_a = _log2_1p_unit(a)
    softplus_neg_u_log2_e = log2_1p_a - tl.minimum(v, 0.0)
    p = tl.exp2(-softplus_neg_u_log2_e * inv_lam)
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
    # σ(−u) = e^{−softplus(u)} = 2^{−log2(1 + a)}·(a if u >= 0 else 1)
    sigma = tl.exp2(-log2_1p_a) * tl.where(v >= 0.0, a, 1.0)
    # s − σ(−u): for u ≥ 0 a² times a polynomial (no difference of close
    # values); for u < 0 the difference is at least ln 2 − 1/2
    diff = tl.where(v >= 0.0, a * a * _log1p_minus_ratio_over_square(a),
                    softplus_neg_u_log2_e * LN_2 - sigma)
    g_p = g * p
    # g·∂p/∂(κz) = g·p·σ(−u)/λ: the 1/λ is applied per row, to κ for grad_x
    # and to the tile's κ sum
    g_p_sigma = g_p * sigma
    kappa_over_lam = kappa * inv_lam
    if AGLU:
        z_g_p_sigma = z * g_p_sigma
        grad_x = kappa_over_lam * z_g_p_sigma + g_p
        kappa_terms = z * z_g_p_sigma
        lambda_terms = z * g_p * diff
    else:
        grad_x = kappa_over_lam * g_p_sigma
        kappa_terms = z * g_p_sigma
        lambda_terms = g_p * diff
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


def _wide(x: Tensor) -> bool:
    """Whether element offsets (with a tile's overhang) can pass int32."""
    return x.numel() + BLOCK >= 2**31


def _tile_width(rows: int, inner: int) -> int:
    """BLOCK_I for ``rows`` rows of ``inner`` elements: with several rows,
    the widest power of two from 64 to BLOCK whose tiles leave at most 10 %
    of a row's lanes idle (64 if none does; e.g. 2048 for 200×336 maps, 512
    for 50×84, 128 for 25×42); one row, or rows narrower than 64, in tiles
    of their next power of two up to BLOCK."""
    if rows == 1 or inner < 64:
        return min(triton.next_power_of_2(inner), BLOCK)
    width = BLOCK
    while width > 64 and triton.cdiv(inner, width) * width > 1.1 * inner:
        width //= 2
    return width


def _launch_shape(x: Tensor, channels: int):
    """(rows, inner, n_col_blocks, BLOCK_R, BLOCK_I, grid, channels_last)
    for ``x``: rows of one channel, or, when the C channels are innermost
    ((N, C) logits, (B·L, C, 1) tokens), rows of C channels."""
    rows = 1 if channels == 1 else x.shape[0] * x.shape[1]
    channels_last = channels > 1 and x.numel() == rows
    if channels_last:
        rows = x.numel() // channels
    inner = x.numel() // rows
    block_i = _tile_width(rows, inner)
    block_r = BLOCK // block_i
    n_col_blocks = triton.cdiv(inner, block_i)
    grid = (triton.cdiv(rows, block_r) * n_col_blocks, )
    return rows, inner, n_col_blocks, block_r, block_i, grid, channels_last


def _on_device_of(x: Tensor):
    """Launch on x's GPU, whichever is current (CPU: the interpreter)."""
    if x.is_cuda:
        return torch.cuda.device(x.device)
    return contextlib.nullcontext()


@torch.library.custom_op('apa_mmdet::apa_forward_triton', mutates_args=())
def apa_forward(x: Tensor, lambda_: Tensor, kappa: Tensor,
                act: str) -> Tensor:
    """APA (``act='apa'``) or AGLU (``'aglu'``) of a contiguous ``x``; λ
    (floored) and κ are float32 of shape (1,) or (C,), C = x.shape[1]."""
    out = torch.empty_like(x)
    if x.numel():
        (rows, inner, n_col_blocks, block_r, block_i, grid,
         channels_last) = _launch_shape(x, lambda_.numel())
        with _on_device_of(x):
            _apa_forward_kernel[grid](
                x, out, lambda_, kappa, rows, inner, lambda_.numel(),
                n_col_blocks, AGLU=act == 'aglu', BLOCK_R=block_r, BLOCK_I=block_i,
                WIDE=_wide(x), CHANNELS_LAST=channels_last,
                enable_fp_fusion=True)
    return out


@apa_forward.register_fake
def _apa_forward_shape(x, lambda_, kappa, act):
    return torch.empty_like(x)


@torch.library.custom_op('apa_mmdet::apa_backward_triton', mutates_args=())
def apa_backward(grad: Tensor, x: Tensor, lambda_: Tensor, kappa: Tensor,
                 act: str) -> tuple[Tensor, Tensor, Tensor]:
    """grad_x (dtype of x) and, shaped like λ in float64, Σ g·∂out/∂λ·λ²
    and Σ g·∂out/∂κ; ``grad`` and ``x`` contiguous and of the same dtype."""
    channels = lambda_.numel()
    grad_x = torch.empty_like(x)
    if not x.numel():
        sums = lambda_.new_zeros(lambda_.shape, dtype=torch.float64)
        return grad_x, sums, sums.clone()
    (rows, inner, n_col_blocks, block_r, block_i, grid,
     channels_last) = _launch_shape(x, channels)
    shape = ((triton.cdiv(rows, block_r), inner) if channels_last else
             (rows, n_col_blocks))
    partial_lambda = x.new_empty(shape, dtype=torch.float32)
    partial_kappa = torch.empty_like(partial_lambda)
    with _on_device_of(x):
        _apa_backward_kernel[grid](
            grad, x, grad_x, lambda_, kappa, partial_lambda, partial_kappa,
            rows, inner, channels, n_col_blocks, AGLU=act == 'aglu',
            BLOCK_R=block_r, BLOCK_I=block_i, WIDE=_wide(x),
            CHANNELS_LAST=channels_last, enable_fp_fusion=True)
    return (grad_x, _per_channel(partial_lambda, channels, channels_last),
            _per_channel(partial_kappa, channels, channels_last))


def _per_channel(partial: Tensor, channels: int,
                 channels_last: bool) -> Tensor:
    """Sum partials per channel: (row blocks, C) ones, or (rows,
    n_col_blocks) ones with rows = N·C."""
    if channels_last:
        return partial.sum(0, dtype=torch.float64)
    return partial.view(-1, channels, partial.shape[1]).sum(
        (0, 2), dtype=torch.float64)


@apa_backward.register_fake
def _apa_backward_shape(grad, x, lambda_, kappa, act):
    sums = lambda_.new_empty(lambda_.shape, dtype=torch.float64)
    return torch.empty_like(x), sums, sums.clone()
