# Copyright (c) apa_mmdet contributors.
"""The Triton CUDA kernels against the eager formula.

On a CUDA machine they run on the GPU; elsewhere Triton's interpreter
(``TRITON_INTERPRET=1``, set by tests/conftest.py) runs the same kernels on
CPU tensors, so every machine with Triton checks their math.
"""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from apa_mmdet.ops import (aglu, apa, dispatch, eager, scale_add_apa,
                           triton_kernel_available, use_eager_formula)

triton = pytest.importorskip('triton')
ROOT = Path(__file__).resolve().parents[2]
CUDA = torch.cuda.is_available()
DEVICE = 'cuda' if CUDA else 'cpu'
CASES = [  # (channels, shape): scalar and per-channel, any rank, ragged tiles
    (1, (4, 8, 5, 7)), (8, (4, 8, 5, 7)), (8, (3, 8)), (1, (1000, )),
    (1, (3, 4097)), (5, (2, 5, 1100)), (1, (0, 3)), (4, (0, 4, 2, 2))
]


@pytest.fixture(scope='module', autouse=True)
def kernels():
    """The kernel module; without a GPU, interpreted on CPU (tests/conftest.py
    sets ``TRITON_INTERPRET=1`` before Triton is imported)."""
    module = importlib.import_module(
        'apa_mmdet.ops.triton_kernel')
    if not CUDA:
        from triton.runtime.interpreter import InterpretedFunction
        assert isinstance(module._apa_forward_kernel, InterpretedFunction), \
            'no GPU and Triton was imported before TRITON_INTERPRET=1 was set'
    return module


@pytest.fixture
def tiles(kernels):
    """What the kernel modules share: the tile plan and the reduction."""
    return importlib.import_module('apa_mmdet.ops.triton_tiles')


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


@pytest.fixture
def triton_path(monkeypatch):
    """APA/AGLU of this test's tensors run on the Triton kernels (eager
    mode: the launchers; torch.compile: their operator), but inside
    ``use_eager_formula()``, where the reference runs the formula."""
    assert dispatch.TRITON_KERNEL.available()
    monkeypatch.setattr(
        dispatch, 'backend_for', lambda x: dispatch.EAGER
        if dispatch._eager_formula_depth else dispatch.TRITON_KERNEL.backend)
    monkeypatch.setattr(
        dispatch, 'compiled_operator', lambda x: None
        if dispatch._eager_formula_depth else
        torch.ops.apa_mmdet.apa_forward_triton)


@pytest.fixture
def launches(kernels, monkeypatch):
    """The names of the Triton kernels launched during the test, in
    order."""
    launched = []

    class Counted:

        def __init__(self, name, kernel):
            self.name, self.kernel = name, kernel

        def __getitem__(self, grid):
            launched.append(self.name)
            return self.kernel[grid]

    se_end = importlib.import_module('apa_mmdet.ops.triton_se_end')
    for module, names in (
            (kernels, ('_apa_forward_kernel', '_apa_backward_kernel',
                       'parameter_grads_kernel')),
            (se_end, ('_scale_add_forward_kernel',
                      '_scale_add_backward_kernel',
                      'parameter_grads_kernel'))):
        for name in names:
            monkeypatch.setattr(module, name,
                                Counted(name, getattr(module, name)))
    return launched


def parameters(channels, seed=0):
    gen = torch.Generator().manual_seed(seed)
    lam = torch.rand(channels, generator=gen) * 3 + 1e-4
    lam[0] = 1e-4  # the floor
    kappa = torch.randn(channels, generator=gen) * 2
    return lam.to(DEVICE), kappa.to(DEVICE)


def triton_and_eager(x, g, lam, kappa, act):
    """(out, (grad_x, ∂L/∂λ, ∂L/∂κ)) of the kernels, then of the formula in
    float64 (with the float32 parameters: the floor is taken in their
    dtype, where λ = 1e-4 lies on it)."""
    g64, x64 = g.double(), x.double()
    return ((torch.ops.apa_mmdet.apa_forward_triton(x, lam, kappa, act),
             torch.ops.apa_mmdet.apa_backward_triton(g, x, lam, kappa, act)),
            (eager.forward(x64, lam, kappa, act),
             eager.backward(g64, x64, lam, kappa, act)))


def assert_sums_close(sums, ref_sums, g, x, lam, kappa, act):
    """The kernels' ∂L/∂λ and ∂L/∂κ within 1e-6·Σ|term| of the float64
    formula's: float32 partial sums of terms of both signs are off by
    ~ε·Σ|term|, however much of that cancels in the sum."""
    channels = lam.numel()
    flat = (1, x.numel())

    def per_element(parameter):
        view = (1, channels) + (1, ) * (x.dim() - 2) if channels > 1 else 1
        return parameter.view(view).expand(x.shape).reshape(-1)

    _, *terms = eager.backward(
        g.double().reshape(flat), x.double().reshape(flat),
        per_element(lam), per_element(kappa), act)
    for got, expected, term in zip(sums, ref_sums, terms):
        term = term.double().abs().view(x.shape)
        magnitude = (term.transpose(0, 1).reshape(channels, -1).sum(1)
                     if channels > 1 else term.sum().view(1))
        assert ((got - expected).abs() <= 1e-6 * magnitude).all(), \
            (got, expected, magnitude)


def relative(a, b):
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


@pytest.mark.parametrize('act', ['aglu', 'apa'])
@pytest.mark.parametrize('channels,shape', CASES)
def test_kernels_equal_the_formula_float32(channels, shape, act):
    x = torch.randn(shape, device=DEVICE) * 4
    g = torch.randn(shape, device=DEVICE)
    lam, kappa = parameters(channels)
    (out, (gx, sum_l, sum_k)), (ref, (ref_gx, ref_l, ref_k)) = \
        triton_and_eager(x, g, lam, kappa, act)
    assert out.dtype == gx.dtype == torch.float32 and out.shape == x.shape
    assert sum_l.dtype == torch.float32 and sum_l.shape == (channels, )
    if x.numel() == 0:
        assert not sum_l.any() and not sum_k.any()
        return
    assert relative(out, ref) < 2e-6 and relative(gx, ref_gx) < 2e-6
    assert_sums_close((sum_l, sum_k), (ref_l, ref_k), g, x, lam, kappa, act)


def test_tiles_leave_few_lanes_idle(tiles):
    """Per-channel rows (one per (n, c) map) are tiled in the widest power
    of two that leaves at most 10 % of lanes idle; one λ and κ: BLOCK."""

    def idle(inner, width):
        return triton.cdiv(inner, width) * width / inner - 1

    for inner in (64, 65, 1050, 1100, 4200, 16800, 67200, 268800):
        width = tiles.tile_width(8, inner)
        assert 64 <= width <= tiles.BLOCK
        assert idle(inner, width) <= 0.1 or width == 64, (inner, width)
        assert width == tiles.BLOCK or idle(inner, 2 * width) > 0.1
    assert tiles.tile_width(8, 1050) == 128
    assert tiles.tile_width(8, 35) == 64
    assert tiles.tile_width(1, 1000) == 1024
    assert tiles.tile_width(1, 1050) == tiles.BLOCK


@pytest.mark.parametrize('channels,shape', [(1, (3, 4097)), (5, (2, 5, 33))])
def test_int64_offsets_give_the_same_results(kernels, monkeypatch, channels,
                                             shape):
    """Tensors of 2³¹ elements or more index in int64 (``WIDE``)."""
    x = torch.randn(shape, device=DEVICE) * 4
    g = torch.randn(shape, device=DEVICE)
    lam, kappa = parameters(channels)
    narrow = triton_and_eager(x, g, lam, kappa, 'aglu')[0]
    launch_for = kernels.launch_for
    monkeypatch.setattr(kernels, 'launch_for',
                        lambda *args: launch_for(*args)._replace(wide=True))
    wide = triton_and_eager(x, g, lam, kappa, 'aglu')[0]
    assert torch.equal(wide[0], narrow[0])
    for got, expected in zip(wide[1], narrow[1]):
        assert torch.equal(got, expected)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('channels', [1, 6])
def test_16_bit_in_and_out_computed_in_float32(dtype, channels):
    x = (torch.randn(3, 6, 41, device=DEVICE) * 4).to(dtype)
    g = torch.randn(3, 6, 41, device=DEVICE).to(dtype)
    lam, kappa = parameters(channels)
    (out, (gx, sum_l, sum_k)), (ref, (ref_gx, ref_l, ref_k)) = \
        triton_and_eager(x, g, lam, kappa, 'aglu')
    assert out.dtype == gx.dtype == dtype
    # one rounding of a float32 result: within the 16-bit format's ulp
    torch.testing.assert_close(out, ref.to(dtype))
    torch.testing.assert_close(gx, ref_gx.to(dtype))
    assert_sums_close((sum_l, sum_k), (ref_l, ref_k), g, x, lam, kappa, 'aglu')


@pytest.mark.filterwarnings('ignore:invalid value:RuntimeWarning')  # inf·0
def test_extreme_inputs_and_nan():
    x = torch.tensor([[-6e4, -100., -20., -1e-3, 0., 1e-3, 20., 100., 6e4,
                       float('-inf'), float('inf'), float('nan')]],
                     device=DEVICE)
    g = torch.ones_like(x)
    for lam_value in (1e-4, 0.3, 5.):
        lam = torch.full((1, ), lam_value, device=DEVICE)
        kappa = torch.tensor([1.3], device=DEVICE)
        for act in ('aglu', 'apa'):
            (out, (gx, _, _)), (ref, (ref_gx, _, _)) = triton_and_eager(
                x, g, lam, kappa, act)
            # a few float32 ulps (λ = 1e-4 scales the rounding of s by 1e4)
            torch.testing.assert_close(out.double(), ref, equal_nan=True,
                                       rtol=2e-6, atol=1e-7)
            torch.testing.assert_close(gx[:, :9].double(), ref_gx[:, :9],
                                       rtol=2e-6, atol=1e-7)
            assert out[0, -1].isnan()


@pytest.mark.skipif(CUDA, reason="the interpreter's exp2, made as rough "
                    "as the GPU's")
@pytest.mark.parametrize('act', ['aglu', 'apa'])
def test_lambda_sums_keep_their_accuracy_with_the_gpus_exp2(monkeypatch,
                                                            act):
    """On a GPU ``tl.exp2`` is MUFU.EX2, off by up to ~2⁻²² relative; where
    e^{−u} is small, s − σ(−u) is a difference of two such values, so its
    error is ~2⁻²¹/e^{−u} relative. The λ sums must stay within 1e-6 of the
    float64 formula's with exp2 biased by 2⁻²² in the interpreter (u from 1
    to 9, where the H200 was off by up to 1e-5 in the first GPU run)."""
    from triton.runtime.interpreter import InterpreterBuilder

    rough = (lambda self, arg: self.unary_op(
        arg, lambda v: (np.exp2(v) * (1 + 2.**-22)).astype(v.dtype)))
    monkeypatch.setattr(InterpreterBuilder, 'create_exp2', rough)
    lam = torch.tensor([0.3, 2.0])
    kappa = torch.tensor([1.0, 0.5])
    u = torch.linspace(1.0, 9.0, 2 * 64).view(2, 64)
    x = ((u + lam.log()[:, None]) / kappa[:, None]).view(1, 2, 8, 8)
    g = torch.ones_like(x)
    (_, (_, sum_l, _)), (_, (_, ref_l, _)) = triton_and_eager(
        x, g, lam, kappa, act)
    assert ((sum_l - ref_l).abs() <= 1e-6 * ref_l.abs()).all(), (sum_l,
                                                                 ref_l)


@pytest.mark.parametrize('fn', [apa, aglu])
@pytest.mark.parametrize('channels', [1, 6])
def test_autograd_on_the_kernels_equals_the_eager_formula(
        monkeypatch, fn, channels):
    """Gradients of x, λ and κ through apa()/aglu() on the kernels (float32)
    against the formula in float64 (λ off the 1e-4 floor, where float32
    and float64 disagree on which side 1e-4 lies)."""
    lam, kappa = parameters(channels, seed=1)
    lam = lam.clamp(min=1e-3)
    gen = torch.Generator().manual_seed(1)
    data = (torch.randn(2, 6, 9, 7, generator=gen) * 3).to(DEVICE)
    results = []
    for path, dtype in (('triton', torch.float32), ('eager', torch.float64)):
        x = data.to(dtype).to(memory_format=torch.channels_last)
        x.requires_grad_()
        lam_p, kappa_p = (t.to(dtype, copy=True).requires_grad_()
                          for t in (lam, kappa))
        assert dispatch.TRITON_KERNEL.available()
        backend = (dispatch.TRITON_KERNEL.backend
                   if path == 'triton' else dispatch.EAGER)
        monkeypatch.setattr(dispatch, 'backend_for',
                            lambda _, chosen=backend: chosen)
        out = fn(x, lam_p, kappa_p)
        out.backward(torch.linspace(-1, 1, out.numel(), device=DEVICE,
                                    dtype=dtype).view_as(out))
        results.append((out, x.grad, lam_p.grad, kappa_p.grad))
    (out, grad_x, grad_lam, grad_kappa), expected = results
    for got, ref in zip((out, grad_x), expected[:2]):
        torch.testing.assert_close(got.double(), ref, rtol=2e-5, atol=1e-5)
    # float32 sums of 756 terms of both signs: absolute error ~1e-7·Σ|term|
    for got, ref in zip((grad_lam, grad_kappa), expected[2:]):
        torch.testing.assert_close(got.double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('act', ['aglu', 'apa'])
def test_scale_add_on_the_kernels(triton_path, act):
    x, identity = torch.randn(2, 2, 4, 6, 5, device=DEVICE).unbind(0)
    gate = torch.rand(2, 4, device=DEVICE)
    lam, kappa = parameters(4, seed=2)
    lam, kappa = lam.requires_grad_(), kappa.requires_grad_()
    out = scale_add_apa(x, gate, identity, lam, kappa, act)
    with use_eager_formula():
        ref = {'aglu': aglu, 'apa': apa}[act](
            x * gate[:, :, None, None] + identity, lam, kappa)
    torch.testing.assert_close(out, ref)
    grads = torch.autograd.grad(out.sum(), (lam, kappa))
    ref_grads = torch.autograd.grad(ref.sum(), (lam, kappa))
    for got, expected in zip(grads, ref_grads):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('act', ['aglu', 'apa'])
@pytest.mark.parametrize('channels,shape', [(1, (2, 3, 5, 7)),
                                            (6, (3, 6, 9, 70))])
def test_fused_scale_add_equals_the_formula(kernels, triton_path, act,
                                            channels, shape):
    """The SE end in one Triton kernel each way: its value and the
    gradients of x, gate, identity, λ and κ as the float64 formula's
    autograd; one λ and κ too (rows are still the (n, c) maps)."""
    gen = torch.Generator().manual_seed(channels)
    x, identity = (torch.randn(2, *shape, generator=gen) * 2).to(
        DEVICE).unbind(0)
    gate = torch.rand(shape[:2], generator=gen).to(DEVICE)
    lam, kappa = parameters(channels, seed=4)
    lam = lam.clamp(min=0.05)  # off the floor, where float32 and 64 agree
    inputs = [t.clone().requires_grad_()
              for t in (x, gate, identity, lam, kappa)]
    out = scale_add_apa(*inputs, act=act)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, inputs, g)
    x64, gate64, identity64, lam64, kappa64 = (
        t.detach().double().requires_grad_() for t in inputs)
    z = x64 * gate64[:, :, None, None] + identity64
    view = (1, channels, 1, 1) if channels > 1 else ()
    p = torch.exp(-torch.log1p(lam64.view(view) * torch.exp(
        -kappa64.view(view) * z)) / lam64.view(view))
    ref = z * p if act == 'aglu' else p
    ref_grads = torch.autograd.grad(
        ref, (x64, gate64, identity64, lam64, kappa64), g.double())
    assert out.dtype == x.dtype and relative(out, ref) < 2e-6
    for got, expected in zip(grads, ref_grads):
        assert got.shape == expected.shape
        assert relative(got, expected) < 1e-5


def test_fused_scale_add_launches_once_forward_and_twice_backward(
        triton_path, launches):
    x, identity = torch.randn(2, 2, 4, 6, 5, device=DEVICE).unbind(0)
    gate = torch.rand(2, 4, device=DEVICE, requires_grad=True)
    lam, kappa = parameters(4)
    out = scale_add_apa(x, gate, identity, lam.requires_grad_(), kappa)
    assert launches == ['_scale_add_forward_kernel']
    out.backward(torch.ones_like(out))
    assert launches == ['_scale_add_forward_kernel',
                        '_scale_add_backward_kernel',
                        'parameter_grads_kernel']
    assert gate.grad.shape == (2, 4) and lam.grad.shape == (4, )


@pytest.mark.parametrize('channels,shape', [(1, (2, 6, 9, 7)),
                                            (6, (2, 6, 9, 7)), (6, (40, 6))])
def test_one_launch_forward_and_two_backward(triton_path, launches,
                                             channels, shape):
    """Eager AGLU on the Triton path: the forward kernel once, then the
    backward kernel and the parameter-gradient reduction once each; λ's
    floor, the 16-bit conversions and the finished parameter gradients
    are inside them."""
    x = torch.randn(shape, device=DEVICE, requires_grad=True)
    lam, kappa = parameters(channels)
    lam.requires_grad_()
    kappa.requires_grad_()
    out = aglu(x, lam, kappa)
    assert launches == ['_apa_forward_kernel']
    out.backward(torch.randn_like(out))
    assert launches == ['_apa_forward_kernel', '_apa_backward_kernel',
                        'parameter_grads_kernel']
    assert lam.grad.dtype == kappa.grad.dtype == torch.float32


def test_operator_schemas_and_fake_kernels():
    x = torch.randn(2, 3, 4, 4, device=DEVICE)
    lam, kappa = parameters(3)
    torch.library.opcheck(torch.ops.apa_mmdet.apa_forward_triton.default,
                          (x, lam, kappa, 'aglu'))
    torch.library.opcheck(torch.ops.apa_mmdet.apa_backward_triton.default,
                          (torch.randn_like(x), x, lam, kappa, 'apa'))


def test_compiles_whole_with_the_kernel_in_the_graph(triton_path):
    from mmengine.registry import MODELS
    from torch._dynamo.backends.registry import lookup_backend
    torch._dynamo.reset()
    graphs = []

    def counting_aot_eager(graph, example_inputs):
        graphs.append(graph)
        return lookup_backend('aot_eager')(graph, example_inputs)

    layer = MODELS.build(dict(type='AGLU', num_parameters=4)).to(DEVICE)
    compiled = torch.compile(layer, backend=counting_aot_eager,
                             fullgraph=True)
    for size in (6, 8, 10, 8):
        x = torch.randn(2, 4, size, size, device=DEVICE, requires_grad=True)
        (grad, ) = torch.autograd.grad(compiled(x).sum(), x)
        with use_eager_formula():
            (ref_grad, ) = torch.autograd.grad(layer(x).sum(), x)
        torch.testing.assert_close(grad, ref_grad)
    assert 1 <= len(graphs) <= 2
    assert 'apa_forward_triton' in graphs[0].print_readable(
        print_output=False)
    torch._dynamo.reset()


@pytest.mark.skipif(not CUDA, reason='needs a CUDA device')
def test_cuda_tensors_take_the_kernels_in_16_and_32_bit():
    assert triton_kernel_available()
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        assert dispatch.select(torch.ones(2, device='cuda',
                                          dtype=dtype)).name == 'triton'
    double = torch.ones(2, device='cuda', dtype=torch.float64)
    assert dispatch.select(double).name == 'eager'
    with use_eager_formula():
        assert dispatch.select(torch.ones(2, device='cuda')).name == 'eager'


@pytest.mark.skipif(not CUDA, reason='needs a CUDA device')
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
@pytest.mark.parametrize('fn', [apa, aglu])
def test_inductor_compiles_the_kernels_on_cuda(fn, dtype):
    """torch.compile's default backend (Inductor) around the Triton custom
    ops, fullgraph: values and the gradients of x, λ and κ as the float64
    formula's (per-channel, λ off the floor)."""
    torch._dynamo.reset()
    lam, kappa = parameters(8, seed=3)
    lam = lam.clamp(min=1e-2).requires_grad_()
    kappa = kappa.requires_grad_()
    x = (torch.randn(4, 8, 33, 17, device=DEVICE) * 3).to(dtype)
    x.requires_grad_()
    compiled = torch.compile(fn, fullgraph=True)
    out = compiled(x, lam, kappa)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (x, lam, kappa), g)
    x64, lam64, kappa64 = (t.detach().double().requires_grad_()
                           for t in (x, lam, kappa))
    with use_eager_formula():
        ref = fn(x64, lam64, kappa64)
    ref_grads = torch.autograd.grad(ref, (x64, lam64, kappa64), g.double())
    assert out.dtype == dtype
    tol = 2e-6 if dtype == torch.float32 else 1e-2
    assert relative(out, ref) < tol
    for got, expected in zip(grads, ref_grads):
        assert relative(got, expected) < max(tol, 1e-5)
    torch._dynamo.reset()


def test_missing_triton_falls_back_with_a_warning(monkeypatch):
    def no_triton(name, package=None):
        raise ModuleNotFoundError("No module named 'triton'")

    monkeypatch.setattr(dispatch.TRITON_KERNEL, 'loaded', None)
    monkeypatch.setattr(dispatch.importlib, 'import_module', no_triton)
    with pytest.warns(UserWarning,
                      match=r"Triton APA/AGLU kernel could not be loaded "
                      r"\(ModuleNotFoundError: No module named 'triton'\); "
                      r'using the eager formula on CUDA'):
        assert not triton_kernel_available()
    assert dispatch.TRITON_KERNEL.loaded is False


def test_environment_variable_and_block_select_the_eager_formula(
        monkeypatch):
    monkeypatch.setattr(dispatch.TRITON_KERNEL, 'loaded', None)
    monkeypatch.setenv('APA_MMDET_TRITON_KERNEL', '0')
    assert not triton_kernel_available()
    monkeypatch.setattr(dispatch.TRITON_KERNEL, 'loaded', True)
    assert triton_kernel_available()
    with use_eager_formula():
        assert not triton_kernel_available()


# Compiles every kernel variant for a GPU target with Triton's own compiler
# and ptxas (no GPU needed) and reports what its code holds.
AHEAD_OF_TIME = r"""
import itertools, json, sys
from apa_mmdet.ops.triton_tiles import BLOCK
from apa_mmdet.testing.triton_aot import (compile_kernel, machine_code,
                                      wide_accesses)
variants = [(*v, False, False) for v in itertools.product(
    (80, 90), ('forward', 'backward'), ('fp32', 'bf16', 'fp16'),
    ('aglu', 'apa'), ((1, BLOCK), (BLOCK // 64, 64)))]
variants += [(90, direction, 'fp32', 'aglu', (1, BLOCK), True, False)
             for direction in ('forward', 'backward')]
# channels innermost (tokens of 256 channels)
variants += [(90, direction, 'bf16', 'aglu', (BLOCK // 256, 256), False,
              True) for direction in ('forward', 'backward')]
report = []
for (arch, direction, dtype, act, (block_r, block_i), wide,
     channels_last) in variants:
    compiled = compile_kernel(direction, arch, dtype, act, block_r,
                              block_i, wide, channels_last=channels_last)
    loads, stores = wide_accesses(compiled)
    report.append(dict(arch=arch, direction=direction, dtype=dtype,
                       act=act, block_r=block_r, wide=wide,
                       channels_last=channels_last,
                       wide_loads=loads, wide_stores=stores,
                       num_warps=compiled.metadata.num_warps,
                       **machine_code(compiled)))
sys.stdout.write(json.dumps(report))
"""


def test_kernels_compile_for_ampere_and_hopper_with_wide_accesses():
    """Real (not interpreted) compilation to cubin for sm_80 and sm_90 of
    every dtype, AGLU/APA and tile shape (and the int64-offset variant);
    with 16-aligned rows every load and store of the tensors is 128 bits
    wide, and no variant spills registers."""
    from apa_mmdet.ops.triton_tiles import BLOCK
    env = {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}
    result = subprocess.run([sys.executable, '-c', AHEAD_OF_TIME], env=env,
                            cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert len(report) == 2 * 2 * 3 * 2 * 2 + 2 + 2
    for variant in report:
        assert variant['instructions'] > 0 and variant['mufu'] > 0, variant
        assert variant['spill_bytes'] == 0, variant
        # each thread's share of a tile (BLOCK elements in every variant),
        # per tensor, in 128-bit accesses: all of it, so no tensor element
        # moves in a narrower access
        size = 4 if variant['dtype'] == 'fp32' else 2
        per_tensor = BLOCK * size // (variant['num_warps'] * 32 * 16)
        loaded, stored = ((1, 1) if variant['direction'] == 'forward' else
                          (2, 1))  # z (and the output gradient); one out
        assert per_tensor >= 1, variant
        assert variant['wide_loads'] == loaded * per_tensor, variant
        assert variant['wide_stores'] == stored * per_tensor, variant


# The SE end's kernels and the gradient reduction, compiled the same way.
AHEAD_OF_TIME_SE_END = r"""
import json, sys
from apa_mmdet.testing.triton_aot import compile_kernel, machine_code
report = []
for direction, dtype in (('scale_add_forward', 'bf16'),
                         ('scale_add_backward', 'bf16'),
                         ('scale_add_backward', 'fp32'),
                         ('parameter_grads', 'fp32')):
    compiled = compile_kernel(direction, 90, dtype, 'aglu', 2, 1024)
    report.append(dict(direction=direction, dtype=dtype,
                       **machine_code(compiled)))
sys.stdout.write(json.dumps(report))
"""


def test_se_end_and_reduction_kernels_compile_for_hopper():
    env = {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}
    result = subprocess.run([sys.executable, '-c', AHEAD_OF_TIME_SE_END],
                            env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert len(report) == 4
    for variant in report:
        assert variant['instructions'] > 0 and variant['spill_bytes'] == 0, \
            variant


@pytest.mark.parametrize('act', ['aglu', 'apa'])
@pytest.mark.parametrize('shape', [(2, 37, 6), (3, 50, 300)])
def test_token_layout_on_the_kernels(triton_path, act, shape):
    """Per-channel λ, κ on the last dimension of (B, L, C) tokens (rows of
    C channels, tiles across several rows and column blocks): values and
    all three gradients as the float64 formula's autograd."""
    channels = shape[-1]
    x = (torch.randn(shape, device=DEVICE) * 3).requires_grad_()
    lam, kappa = parameters(channels)
    lam[0] = 0.5  # off the floor (float32 1e-4 is below float64's)
    lam.requires_grad_()
    kappa.requires_grad_()
    out = (aglu if act == 'aglu' else apa)(x, lam, kappa, dim=-1)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (x, lam, kappa), g)
    x64, lam64, kappa64 = (t.detach().double().requires_grad_()
                           for t in (x, lam, kappa))
    view = lam64.clamp(min=1e-4).view(1, 1, channels)
    ref = torch.exp(-torch.log1p(view * torch.exp(
        -kappa64.view(1, 1, channels) * x64)) / view)
    ref = ref * x64 if act == 'aglu' else ref
    ref_grads = torch.autograd.grad(ref, (x64, lam64, kappa64), g.double())
    assert relative(out, ref) < 2e-6
    for got, expected in zip(grads, ref_grads):
        assert relative(got, expected) < 1e-5
