# Copyright (c) apa_mmdet contributors.
"""Numerics of apa()/aglu(): formula, limits, gradients, dtypes, memory."""
import itertools

import pytest
import torch
import torch.nn.functional as F

from apa_mmdet.ops import (aglu, apa, cpu_kernel_available, scale_add_apa,
                           use_eager_formula)
from apa_mmdet.testing.official import official_apa


@pytest.fixture(autouse=True, params=['fused CPU kernel', 'eager formula'])
def implementation(request):
    """Every test runs on both CPU paths."""
    if request.param == 'eager formula':
        with use_eager_formula():
            assert not cpu_kernel_available()
            yield request.param
    else:
        assert cpu_kernel_available(), 'the fused CPU kernel did not build'
        yield request.param


def reference_apa(z, lam, kappa):
    """(λ·exp(−κz) + 1)^(−1/λ) in float64, written as exp(−log1p(·)/λ)."""
    lam = lam.clamp(min=1e-4)
    return torch.exp(-torch.log1p(lam * torch.exp(-kappa * z)) / lam)


def params(lam, kappa, dtype=torch.float64, channels=1):
    return (torch.full((channels, ), lam, dtype=dtype, requires_grad=True),
            torch.full((channels, ), kappa, dtype=dtype, requires_grad=True))


@pytest.mark.parametrize('lam', [1e-3, 1e-2, 0.1, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize('kappa', [-3.0, -1.0, -0.3, 0.0, 0.5, 1.0, 3.0])
def test_matches_formula_float64(lam, kappa):
    z = torch.linspace(-50, 50, 2001, dtype=torch.float64)
    lam_t, kappa_t = params(lam, kappa)
    expected = reference_apa(z, lam_t.detach(), kappa_t.detach())
    out = apa(z, lam_t, kappa_t)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-300)
    torch.testing.assert_close(
        aglu(z, lam_t, kappa_t), z * expected, rtol=1e-10, atol=1e-300)


def test_sigmoid_and_silu_special_case():
    z = torch.linspace(-30, 30, 601, dtype=torch.float64)
    lam, kappa = params(1.0, 1.0)
    torch.testing.assert_close(apa(z, lam, kappa), torch.sigmoid(z))
    torch.testing.assert_close(aglu(z, lam, kappa), F.silu(z))
    lam, kappa = params(1.0, 2.5)
    torch.testing.assert_close(apa(z, lam, kappa), torch.sigmoid(2.5 * z))


@pytest.mark.parametrize('kappa', [0.5, 1.0, 2.0])
def test_small_lambda_approaches_gumbel(kappa):
    z = torch.linspace(-5, 10, 301, dtype=torch.float64)
    gumbel = torch.exp(-torch.exp(-kappa * z))
    errors = []
    for lam in (1e-1, 1e-2, 1e-3, 1e-4):
        lam_t, kappa_t = params(lam, kappa)
        errors.append((apa(z, lam_t, kappa_t) - gumbel).abs().max().item())
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 5e-5


def test_lambda_is_clamped_at_1e_4():
    z = torch.linspace(-5, 5, 11, dtype=torch.float64)
    floor = apa(z, *params(1e-4, 1.0))
    for raw in (1e-6, 0.0, -1.0):
        lam, kappa = params(raw, 1.0)
        out = apa(z, lam, kappa)
        torch.testing.assert_close(out, floor)
        out.sum().backward()
        assert lam.grad.item() == 0.0  # no gradient below the floor
        assert kappa.grad.abs().item() > 0


@pytest.mark.parametrize('fn', [apa, aglu])
def test_per_channel_lambda_partly_below_the_floor(fn):
    """Channels whose λ is below 1e-4 use 1e-4 and get no λ gradient; the
    others are untouched: values and gradients against the float64 formula
    with λ floored per channel."""
    z = (torch.randn(2, 5, 3, 4, dtype=torch.float64) * 3)
    lam = torch.tensor([0.5, 1e-6, 2.0, -1.0, 1e-4],
                       dtype=torch.float64, requires_grad=True)
    kappa = torch.tensor([1.0, 0.5, -0.7, 1.3, 2.0],
                         dtype=torch.float64, requires_grad=True)
    out = fn(z, lam, kappa)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (lam, kappa), g)
    lam64 = lam.detach().clone().requires_grad_()
    kappa64 = kappa.detach().clone().requires_grad_()
    view = (-1, 1, 1)
    ref = reference_apa(z, lam64.view(view), kappa64.view(view))
    ref = z * ref if fn is aglu else ref
    ref_grads = torch.autograd.grad(ref, (lam64, kappa64), g)
    torch.testing.assert_close(out, ref)
    below = lam.detach() < 1e-4
    assert (grads[0][below] == 0).all() and (grads[0][~below] != 0).all()
    torch.testing.assert_close(grads[0], ref_grads[0])
    torch.testing.assert_close(grads[1], ref_grads[1])


def test_constant_when_kappa_is_zero():
    z = torch.randn(100, dtype=torch.float64) * 10
    lam, kappa = params(0.5, 0.0)
    torch.testing.assert_close(
        apa(z, lam, kappa), torch.full_like(z, (1 + 0.5)**(-1 / 0.5)))


@pytest.mark.parametrize('fn', [apa, aglu])
@pytest.mark.parametrize('channels', [1, 3])
@pytest.mark.parametrize('lam_range', [(0.05, 2.0), (1e-3, 5e-3)])
def test_gradcheck_input_lambda_kappa(fn, channels, lam_range):
    gen = torch.Generator().manual_seed(channels)
    x = (torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=gen) * 4)
    x.requires_grad_()
    lam = torch.empty(channels, dtype=torch.float64).uniform_(
        *lam_range, generator=gen).requires_grad_()
    kappa = torch.empty(channels, dtype=torch.float64).uniform_(
        -2, 2, generator=gen).requires_grad_()
    assert torch.autograd.gradcheck(fn, (x, lam, kappa))


@pytest.mark.parametrize('shape', [(6, 4), (2, 4, 3, 5), (2, 4, 3)])
def test_per_channel_on_dim_1_any_rank(shape):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, generator=gen)
    lam = torch.tensor([0.2, 0.5, 1.0, 3.0], dtype=torch.float64)
    kappa = torch.tensor([-1.0, 0.5, 1.0, 2.0], dtype=torch.float64)
    view = [1] * len(shape)
    view[1] = 4
    expected = reference_apa(x, lam.view(view), kappa.view(view))
    torch.testing.assert_close(apa(x, lam, kappa), expected)
    torch.testing.assert_close(aglu(x, lam, kappa), x * expected)


@pytest.mark.parametrize('fn', [apa, aglu])
@pytest.mark.parametrize('channels', [1, 8])
def test_matches_eager_autograd_float32(fn, channels):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 8, 6, 6, generator=gen) * 3
    lam = torch.empty(channels).uniform_(0.01, 1.5, generator=gen)
    kappa = torch.empty(channels).uniform_(-1.5, 2.0, generator=gen)
    grad = torch.randn(4, 8, 6, 6, generator=gen)
    view = (1, channels, 1, 1) if channels > 1 else ()

    def run(impl):
        xi, li, ki = (t.clone().requires_grad_() for t in (x, lam, kappa))
        out = impl(xi, li, ki)
        out.backward(grad)
        return out, xi.grad, li.grad, ki.grad

    def eager(xi, li, ki):
        p = official_apa(xi, li.view(view), ki.view(view))
        return xi * p if fn is aglu else p

    for got, want in zip(run(fn), run(eager)):
        torch.testing.assert_close(got, want, rtol=2e-4, atol=1e-5)


LOW_PRECISION_INPUT = [-6e4, -1e4, -300., -20., -1., -1e-3, 0., 1e-3, 1.,
                       20., 300., 1e4, 6e4]


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16,
                                   torch.float16])
@pytest.mark.parametrize('fn', [apa, aglu])
@pytest.mark.parametrize('channels', [1, 2])
def test_finite_outputs_and_gradients_up_to_6e4(dtype, fn, channels):
    base = torch.tensor(LOW_PRECISION_INPUT)
    for lam, kappa in itertools.product([1e-4, 1e-2, 1.0, 10.0],
                                        [-3.5, -1.0, 0.0, 1.0, 3.5]):
        x = base.repeat(3, channels, 1).to(dtype).requires_grad_()
        lam_t, kappa_t = params(lam, kappa, torch.float32, channels)
        out = fn(x, lam_t, kappa_t)
        assert out.dtype == dtype
        out.backward(torch.ones_like(out))
        for name, value in (('out', out), ('x.grad', x.grad),
                            ('lambda.grad', lam_t.grad),
                            ('kappa.grad', kappa_t.grad)):
            assert torch.isfinite(value).all(), (name, lam, kappa, value)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('fn', [apa, aglu])
def test_low_precision_is_computed_in_float32(dtype, fn):
    gen = torch.Generator().manual_seed(2)
    x = (torch.randn(2, 4, 8, 8, generator=gen) * 3).to(dtype)
    lam, kappa = params(0.3, 1.2, torch.float32, 4)
    expected = fn(x.float(), lam, kappa).to(dtype)
    torch.testing.assert_close(fn(x, lam, kappa), expected, rtol=0, atol=0)


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
@pytest.mark.parametrize('fn', [apa, aglu])
@pytest.mark.parametrize('channels', [1, 16])
def test_saves_only_the_input_for_backward(dtype, fn, channels):
    x = torch.randn(2, 16, 32, 32).to(dtype).requires_grad_()
    lam, kappa = params(0.5, 1.1, torch.float32, channels)
    saved = []

    def pack(tensor):
        saved.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(x, lam, kappa)
    full_size = [t for t in saved if t.numel() == x.numel()]
    assert len(full_size) == 1
    assert full_size[0].dtype == dtype
    assert full_size[0].data_ptr() == x.data_ptr()
    assert sum(t.numel() for t in saved) == x.numel() + 2 * channels
    out.sum().backward()


def test_autocast_keeps_input_dtype():
    x = torch.randn(2, 4, 5, 5).requires_grad_()
    lam, kappa = params(0.5, 1.0, torch.float32, 4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = torch.nn.functional.conv2d(x, torch.randn(4, 4, 1, 1))
        out = aglu(y, lam, kappa)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert torch.isfinite(lam.grad).all() and torch.isfinite(x.grad).all()
    assert lam.grad.all() and x.grad.any()


def test_channel_mismatch_is_rejected():
    lam, kappa = params(0.5, 1.0, torch.float32, 4)
    with pytest.raises(ValueError, match='num_parameters=4'):
        apa(torch.randn(2, 3, 5), lam, kappa)
    with pytest.raises(ValueError, match='num_parameters=4'):
        aglu(torch.randn(4), lam, kappa)


@pytest.mark.parametrize('act', ['aglu', 'apa'])
@pytest.mark.parametrize('channels', [1, 6])
def test_scale_add_equals_the_unfused_sum(act, channels):
    gen = torch.Generator().manual_seed(channels)
    x = torch.randn(2, 6, 5, 4, generator=gen, dtype=torch.float64) * 3
    gate = torch.rand(2, 6, generator=gen, dtype=torch.float64)
    identity = torch.randn(2, 6, 5, 4, generator=gen, dtype=torch.float64)
    lam, kappa = params(0.4, 1.2, torch.float64, channels)
    inputs = [t.requires_grad_() for t in (x, gate, identity, lam, kappa)]
    fn = {'aglu': aglu, 'apa': apa}[act]

    def fused(*args):
        return scale_add_apa(*args, act=act)

    def unfused(x, gate, identity, lam, kappa):
        return fn(x * gate[:, :, None, None] + identity, lam, kappa)

    torch.testing.assert_close(fused(*inputs), unfused(*inputs))
    assert torch.autograd.gradcheck(fused, inputs)
    grad = torch.randn(2, 6, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(
        torch.autograd.grad(fused(*inputs), inputs, grad),
        torch.autograd.grad(unfused(*inputs), inputs, grad))


def test_scale_add_keeps_its_inputs_not_the_sum():
    x, identity = torch.randn(2, 16, 8, 8), torch.randn(2, 16, 8, 8)
    gate = torch.rand(2, 16)
    lam, kappa = params(0.5, 1.1, torch.float32)
    x.requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append(t) or t, lambda t: t):
        scale_add_apa(x, gate, identity, lam, kappa, act='aglu')
    assert {t.data_ptr() for t in saved if t.numel() == x.numel()} == {
        x.data_ptr(), identity.data_ptr()}


def test_scale_add_rejects_bad_shapes():
    lam, kappa = params(0.5, 1.1, torch.float32)
    with pytest.raises(ValueError, match=r'gate \(2, 3\)'):
        scale_add_apa(torch.zeros(2, 4, 3, 3), torch.zeros(2, 3),
                      torch.zeros(2, 4, 3, 3), lam, kappa, act='aglu')


def test_compiles_whole_and_once_per_dynamic_shape(implementation):
    """torch.compile traces APA/AGLU without graph breaks (fullgraph) on
    either path (the kernel as an operator in the graph) and recompiles at
    most once over a multi-scale run."""
    from mmengine.registry import MODELS
    from torch._dynamo.backends.registry import lookup_backend
    torch._dynamo.reset()
    graphs = []

    def counting_aot_eager(graph, example_inputs):
        graphs.append(graph)
        return lookup_backend('aot_eager')(graph, example_inputs)

    layer = MODELS.build(dict(type='AGLU', num_parameters=4))
    compiled = torch.compile(layer, backend=counting_aot_eager,
                             fullgraph=True)
    for size in (16, 20, 24, 28, 20):
        x = torch.randn(2, 4, size, size, requires_grad=True)
        out = compiled(x)
        (grad, ) = torch.autograd.grad(out.sum(), x)
        x_ref = x.detach().requires_grad_()
        ref = layer(x_ref)
        ref.sum().backward()
        torch.testing.assert_close(out, ref)
        torch.testing.assert_close(grad, x_ref.grad)
    assert 1 <= len(graphs) <= 2
    code = graphs[0].print_readable(print_output=False)
    assert ('apa_mmdet.apa_forward' in code) == (
        implementation == 'fused CPU kernel')


@pytest.mark.parametrize('shape,dim', [((2, 5, 4), -1), ((3, 4), -1),
                                       ((2, 3, 4, 5), 2), ((4, ), 0)])
def test_per_channel_on_any_dim(shape, dim):
    """dim=-1 for tokens (B, L, C): values as the formula broadcast there,
    gradients of x and of per-channel λ, κ as gradcheck's."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, generator=gen)
    lam = torch.tensor([0.2, 0.5, 1.0, 3.0], dtype=torch.float64)
    kappa = torch.tensor([-1.0, 0.5, 1.0, 2.0], dtype=torch.float64)
    view = [1] * len(shape)
    view[dim] = 4
    expected = reference_apa(x, lam.view(view), kappa.view(view))
    torch.testing.assert_close(apa(x, lam, kappa, dim=dim), expected)
    torch.testing.assert_close(aglu(x, lam, kappa, dim=dim), x * expected)
    for fn in (apa, aglu):
        assert torch.autograd.gradcheck(
            lambda x, lam, kappa: fn(x, lam, kappa, dim=dim),
            (x.requires_grad_(), lam.requires_grad_(),
             kappa.requires_grad_()))


def test_channels_last_equals_channels_first():
    x = torch.randn(2, 4, 6, 3, requires_grad=True)  # (B, C, H, W)
    tokens = x.detach().flatten(2).transpose(1, 2).contiguous()  # (B, L, C)
    tokens.requires_grad_()
    lam_a, kappa_a = params(0.3, 1.2, torch.float32, 4)
    lam_b, kappa_b = params(0.3, 1.2, torch.float32, 4)
    with torch.no_grad():
        for a, b in ((lam_a, lam_b), (kappa_a, kappa_b)):
            a.uniform_(0.1, 2)
            b.copy_(a)
    first = aglu(x, lam_a, kappa_a)
    last = aglu(tokens, lam_b, kappa_b, dim=-1)
    torch.testing.assert_close(last, first.flatten(2).transpose(1, 2))
    first.square().sum().backward()
    last.square().sum().backward()
    torch.testing.assert_close(tokens.grad,
                               x.grad.flatten(2).transpose(1, 2))
    torch.testing.assert_close(lam_b.grad, lam_a.grad)
    torch.testing.assert_close(kappa_b.grad, kappa_a.grad)


def test_a_channel_dim_without_the_channels_is_rejected():
    lam, kappa = params(0.5, 1.0, torch.float32, 4)
    with pytest.raises(ValueError, match='4 channels in dimension -1'):
        aglu(torch.randn(2, 4, 3), lam, kappa, dim=-1)
    with pytest.raises(ValueError, match='in dimension 3'):
        aglu(torch.randn(2, 4, 3), lam, kappa, dim=3)


def test_token_layout_compiles_whole(implementation):
    """AGLU(num_parameters=C, dim=-1) on (B, L, C) tokens under
    torch.compile(fullgraph=True): same values and gradients, the kernel
    in the graph on the fused path."""
    from mmengine.registry import MODELS
    from torch._dynamo.backends.registry import lookup_backend
    torch._dynamo.reset()
    graphs = []

    def counting_aot_eager(graph, example_inputs):
        graphs.append(graph)
        return lookup_backend('aot_eager')(graph, example_inputs)

    layer = MODELS.build(dict(type='AGLU', num_parameters=8, dim=-1))
    compiled = torch.compile(layer, backend=counting_aot_eager,
                             fullgraph=True)
    x = torch.randn(2, 49, 8, requires_grad=True)
    out = compiled(x)
    grads = torch.autograd.grad(out.square().sum(),
                                (x, layer.lambda_param, layer.kappa_param))
    reference = layer(x)
    expected = torch.autograd.grad(reference.square().sum(),
                                   (x, layer.lambda_param, layer.kappa_param))
    torch.testing.assert_close(out, reference)
    torch.testing.assert_close(grads[0], expected[0])
    # λ, κ gradients: float32 sums over 2·49 elements, in the order each
    # graph chooses (the traced formula's differ from eager's by ~1e-5)
    for got, want in zip(grads[1:], expected[1:]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    code = graphs[0].print_readable(print_output=False)
    assert ('apa_mmdet.apa_forward' in code) == (
        implementation == 'fused CPU kernel')
