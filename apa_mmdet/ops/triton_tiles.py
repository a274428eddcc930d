# Copyright (c) apa_mmdet contributors.
"""What the Triton APA/AGLU kernels (``triton_kernel``, ``triton_se_end``)
share: the math in base 2, a program's tile, the λ/κ gradient reduction and
the launch plan of a tensor shape.

The math is that of ``eager`` in base 2, where ``exp2`` is one
instruction: with u = κz − ln λ, v = u·log2 e and a = 2^{−|v|} = e^{−|u|},

    s = softplus(−u) = log1p(a) − min(u, 0),   p = exp(−s/λ),
    σ(−u) = e^{−softplus(u)} = (a if u >= 0 else 1)/(1 + a),
    s − σ(−u) = a²·P(a) for u ≥ 0 (P a polynomial: no cancellation),

with log2(1 + a) a polynomial in a (FMAs only); the instruction counts per
element are measured by ``benchmarks/kernel_instructions.py`` and kept in
``benchmarks/README.md``.

The input is seen as (rows, inner) = (N·C, H·W) so that a program's tile
(BLOCK_R rows × BLOCK_I columns) shares each row's channel; with one λ and
κ it is (1, numel); with the channels innermost ((N, C) logits, tokens) it
is (tokens, C), each column one channel. The kernels read λ and κ as stored
and floor λ at 1e-4 themselves. Backward kernels write per-tile partial
sums of the λ and κ gradients, which :func:`parameter_grads_kernel` adds up
per channel in float64 (deterministic, no atomics).
"""
import contextlib
import functools
import math
from typing import NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

BLOCK = 2048  # elements per program (16 per thread of 4 warps)
LN_2 = tl.constexpr(math.log(2))
LOG2_E = tl.constexpr(math.log2(math.e))
LAMBDA_MIN = tl.constexpr(1e-4)
REDUCE_BLOCK = 1024  # partial sums a program of the reduction adds at once


@triton.jit
def log2_1p_unit(a):
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
def log1p_minus_ratio_over_square(a):
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
def tile(rows, inner, n_col_blocks, BLOCK_R: tl.constexpr,
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
def row_parameters(lambda_ptr, kappa_ptr, row, row_mask, channels):
    """1/λ, log2 λ, κ and κ·log2 e of each row's channel (λ floored at
    1e-4, both in float32), shaped (BLOCK_R, 1)."""
    channel = row % channels
    lam = tl.maximum(tl.load(lambda_ptr + channel, mask=row_mask, other=1.0),
                     LAMBDA_MIN,
                     propagate_nan=tl.PropagateNan.ALL).to(tl.float32)
    kappa = tl.load(kappa_ptr + channel, mask=row_mask,
                    other=1.0).to(tl.float32)
    return ((1.0 / lam)[:, None], tl.log2(lam)[:, None], kappa[:, None],
            (kappa * LOG2_E)[:, None])


@triton.jit
def element_parameters(lambda_ptr, kappa_ptr, offsets, mask, channels):
    """The same for rows of C channels (channels innermost): each
    element's channel, shaped like the tile."""
    channel = offsets % channels
    lam = tl.maximum(tl.load(lambda_ptr + channel, mask=mask, other=1.0),
                     LAMBDA_MIN,
                     propagate_nan=tl.PropagateNan.ALL).to(tl.float32)
    kappa = tl.load(kappa_ptr + channel, mask=mask, other=1.0).to(tl.float32)
    return 1.0 / lam, tl.log2(lam), kappa, kappa * LOG2_E


@triton.jit
def apa_terms(z, inv_lam, log2_lam, kappa_log2_e):
    """The terms both directions use, for z in float32, in base 2
    (``exp2`` is one instruction): v = u·log2 e, a = 2^{−|v|},
    log2(1 + a), s·log2 e where s = softplus(−u) = −log σ(u), and
    p = 2^{−s·log2 e/λ}."""
    v = kappa_log2_e * z - log2_lam
    a = tl.exp2(-tl.abs(v))
    log2_1p_a = log2_1p_unit(a)
    softplus_neg_u_log2_e = log2_1p_a - tl.minimum(v, 0.0)
    p = tl.exp2(-softplus_neg_u_log2_e * inv_lam)
    return v, a, log2_1p_a, softplus_neg_u_log2_e, p


@triton.jit
def gradient_terms(z, g, kappa, inv_lam, v, a, log2_1p_a,
                   softplus_neg_u_log2_e, p, AGLU: tl.constexpr):
    """∂L/∂z and each element's terms of Σ g·∂out/∂κ (without its 1/λ,
    which the caller applies per row or element) and of
    Σ g·∂out/∂λ·λ²."""
    # σ(−u) = e^{−softplus(u)} = 2^{−log2(1 + a)}·(a if u >= 0 else 1)
    sigma = tl.exp2(-log2_1p_a) * tl.where(v >= 0.0, a, 1.0)
    # s − σ(−u): for u ≥ 0 a² times a polynomial (no difference of close
    # values); for u < 0 the difference is at least ln 2 − 1/2
    diff = tl.where(v >= 0.0, a * a * log1p_minus_ratio_over_square(a),
                    softplus_neg_u_log2_e * LN_2 - sigma)
    g_p = g * p
    # g·∂p/∂(κz) = g·p·σ(−u)/λ: the 1/λ is applied with κ for ∂L/∂z
    g_p_sigma = g_p * sigma
    kappa_over_lam = kappa * inv_lam
    if AGLU:
        z_g_p_sigma = z * g_p_sigma
        grad_z = kappa_over_lam * z_g_p_sigma + g_p
        kappa_terms = z * z_g_p_sigma
        lambda_terms = z * g_p * diff
    else:
        grad_z = kappa_over_lam * g_p_sigma
        kappa_terms = z * g_p_sigma
        lambda_terms = g_p * diff
    return grad_z, kappa_terms, lambda_terms


@triton.jit
def parameter_grads_kernel(partial_lambda_ptr, partial_kappa_ptr,
                           lambda_ptr, grad_lambda_ptr, grad_kappa_ptr,
                           partial_gate_ptr, grad_gate_ptr, outer,
                           channels, inner, BLOCK: tl.constexpr):
    """Programs 0..C−1: ∂L/∂λ and ∂L/∂κ of the channel c = program_id,
    its partial sums (float32, laid out (outer, C, inner)) added in
    float64 in a fixed order; the λ sum divided by max(λ, 1e-4)² (float32,
    as the forward used it), 0 below the floor (as torch.clamp's
    gradient). Programs C.. (the SE end's only, one per row r of
    outer·C): ∂L/∂gate[r], the sum of the row's ``inner`` partials."""
    pid = tl.program_id(0)
    if pid < channels:
        count = outer * inner
        lambda_acc = tl.zeros([BLOCK], dtype=tl.float64)
        kappa_acc = tl.zeros([BLOCK], dtype=tl.float64)
        for start in range(0, count, BLOCK):
            k = start + tl.arange(0, BLOCK)
            mask = k < count
            offsets = (k // inner * channels + pid) * inner + k % inner
            lambda_acc += tl.load(partial_lambda_ptr + offsets, mask=mask,
                                  other=0.0).to(tl.float64)
            kappa_acc += tl.load(partial_kappa_ptr + offsets, mask=mask,
                                 other=0.0).to(tl.float64)
        lam = tl.load(lambda_ptr + pid)
        floored = tl.maximum(lam, LAMBDA_MIN,
                             propagate_nan=tl.PropagateNan.ALL)
        floored = floored.to(tl.float32).to(tl.float64)
        grad_lambda = tl.where(
            lam >= LAMBDA_MIN,
            tl.sum(lambda_acc, axis=0) / (floored * floored), 0.0)
        tl.store(grad_lambda_ptr + pid,
                 grad_lambda.to(grad_lambda_ptr.dtype.element_ty))
        tl.store(grad_kappa_ptr + pid,
                 tl.sum(kappa_acc, axis=0).to(grad_kappa_ptr.dtype.element_ty))
    else:
        row = pid - channels
        gate_acc = tl.zeros([BLOCK], dtype=tl.float64)
        for start in range(0, inner, BLOCK):
            k = start + tl.arange(0, BLOCK)
            gate_acc += tl.load(partial_gate_ptr + row * inner + k,
                                mask=k < inner, other=0.0).to(tl.float64)
        tl.store(grad_gate_ptr + row,
                 tl.sum(gate_acc, axis=0).to(grad_gate_ptr.dtype.element_ty))


def tile_width(rows: int, inner: int) -> int:
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


class Launch(NamedTuple):
    """How the kernels cover a tensor of one shape: its (rows, inner) view,
    the tile (BLOCK_R × BLOCK_I), the grid, int64 offsets (``wide``), the
    channels-last layout, and the partial sums' (outer, C, inner) layout."""
    rows: int
    inner: int
    n_col_blocks: int
    block_r: int
    block_i: int
    grid: tuple
    wide: bool
    channels_last: bool
    partial_outer: int
    partial_inner: int


@functools.lru_cache(maxsize=1024)
def launch_for(shape: torch.Size, channels: int,
               per_map: bool = False) -> Launch:
    """The :class:`Launch` of a contiguous tensor of ``shape`` with
    ``channels`` λ, κ (1, or C on dim 1): rows of one channel, or, when the
    C channels are innermost ((N, C) logits, (B·L, C, 1) tokens), rows of
    C channels; ``per_map``: rows of one (n, c) map whatever the
    parameters (the SE end, whose gate is one value per map). Cached: a
    network has few shapes."""
    numel = math.prod(shape)
    rows = shape[0] * shape[1] if per_map or channels > 1 else 1
    channels_last = not per_map and channels > 1 and numel == rows
    if channels_last:
        rows = numel // channels
    inner = numel // rows
    block_i = tile_width(rows, inner)
    block_r = BLOCK // block_i
    n_col_blocks = triton.cdiv(inner, block_i)
    grid = (triton.cdiv(rows, block_r) * n_col_blocks, )
    # partials: (row blocks, C) channels last, else (rows, column blocks)
    # with rows = outer·C
    partial_outer, partial_inner = ((triton.cdiv(rows, block_r), 1)
                                    if channels_last else
                                    (rows // channels, n_col_blocks))
    return Launch(rows, inner, n_col_blocks, block_r, block_i, grid,
                  numel + BLOCK >= 2**31, channels_last, partial_outer,
                  partial_inner)


def on_device_of(x: Tensor):
    """Launch on x's GPU when it is not the current one (CPU: the
    interpreter)."""
    if x.is_cuda and x.device.index != torch.cuda.current_device():
        return torch.cuda.device(x.device)
    return contextlib.nullcontext()


def check_channels(x: Tensor, channels: int) -> None:
    if channels > 1 and (x.dim() < 2 or x.shape[1] != channels):
        raise ValueError(
            f'input of shape {tuple(x.shape)} does not match '
            f'num_parameters={channels}: per-channel APA needs {channels} '
            'channels in dimension 1')
