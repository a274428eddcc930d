# Copyright (c) apa_mmdet contributors.
"""The fused CPU kernel against the eager formula (both analytic paths,
both taking the parameters as stored and returning finished gradients)."""
import pytest
import torch

from apa_mmdet.ops import aglu, cpu_kernel_available, dispatch, eager

CASES = [  # (channels, shape): scalar and per-channel, any rank, ragged tails
    (1, (4, 8, 5, 7)), (8, (4, 8, 5, 7)), (8, (3, 8)), (1, (1000, )),
    (1, (3, 40001)), (5, (2, 5, 33)), (1, (0, 3)), (4, (0, 4, 2, 2)),
    # channels innermost (logits, tokens as (B·L, C, 1)): per-lane λ, κ,
    # tokens in blocks of 32768 / C
    (300, (7, 300)), (13, (5000, 13, 1)), (1203, (40, 1203))
]
TOLERANCES = {torch.float64: 1e-12, torch.float32: 2e-6}


@pytest.fixture(scope='module', autouse=True)
def kernel():
    assert cpu_kernel_available(), 'the fused CPU kernel did not build'


def parameters(channels, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    lam = torch.rand(channels, generator=gen, dtype=compute) * 3 + 1e-4
    lam[0] = 1e-4  # the floor
    kappa = torch.randn(channels, generator=gen, dtype=compute) * 2
    return lam, kappa


def both_paths(x, g, lam, kappa, act):
    return [(backend.forward(x, lam, kappa, act),
             backend.backward(g, x, lam, kappa, act))
            for backend in (dispatch.CPU_KERNEL.backend, dispatch.EAGER)]


def relative(a, b):
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


@pytest.mark.parametrize('act', ['aglu', 'apa'])
@pytest.mark.parametrize('channels,shape', CASES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_fused_equals_eager(dtype, channels, shape, act):
    x = torch.randn(shape, dtype=dtype) * 4
    g = torch.randn(shape, dtype=dtype)
    lam, kappa = parameters(channels, dtype)
    (out, (gx, grad_l, grad_k)), (ref, (ref_gx, ref_l, ref_k)) = both_paths(
        x, g, lam, kappa, act)
    assert out.dtype == gx.dtype == grad_l.dtype == grad_k.dtype == dtype
    assert out.shape == x.shape
    assert grad_l.shape == grad_k.shape == (channels, )
    if x.numel() == 0:
        assert not grad_l.any() and not grad_k.any()
        return
    tol = TOLERANCES[dtype]
    assert relative(out, ref) < tol and relative(gx, ref_gx) < tol
    # the parameter gradients differ in summation order only
    assert relative(grad_l, ref_l) < 100 * tol
    assert relative(grad_k, ref_k) < 100 * tol


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('channels,shape', [(1, (3, 6, 41)), (6, (3, 6, 41)),
                                            (300, (5, 300, 1))])
def test_16_bit_inputs_are_computed_in_float32(dtype, channels, shape):
    x = (torch.randn(shape) * 4).to(dtype)
    g = torch.randn(shape).to(dtype)
    lam, kappa = parameters(channels, dtype)
    (out, (gx, sum_l, sum_k)), _ = both_paths(x, g, lam, kappa, 'aglu')
    # same float32 computation on the upcast input, one rounding at the end
    (ref, (ref_gx, ref_l, ref_k)), _ = both_paths(
        x.float(), g.float(), lam, kappa, 'aglu')
    assert out.dtype == gx.dtype == dtype
    assert torch.equal(out, ref.to(dtype))
    assert torch.equal(gx, ref_gx.to(dtype))
    # rounding of sums with cancellation (few terms per channel): relative
    # to the largest sum
    for got, expected in ((sum_l, ref_l), (sum_k, ref_k)):
        torch.testing.assert_close(got, expected, rtol=1e-5,
                                   atol=1e-5 * expected.abs().max().item())


def test_extreme_inputs_match_eager_and_nan_propagates():
    x = torch.tensor([[-6e4, -100., -20., -1e-3, 0., 1e-3, 20., 100., 6e4,
                       float('-inf'), float('inf'), float('nan')]])
    g = torch.ones_like(x)
    for lam_value in (1e-4, 0.3, 5.):
        lam = torch.full((1, ), lam_value)
        kappa = torch.tensor([1.3])
        for act in ('aglu', 'apa'):
            (out, (gx, _, _)), (ref, (ref_gx, _, _)) = both_paths(
                x, g, lam, kappa, act)
            torch.testing.assert_close(out, ref, equal_nan=True)
            torch.testing.assert_close(gx[:, :9], ref_gx[:, :9])
            assert out[0, -1].isnan()


def test_non_contiguous_inputs():
    x = torch.randn(2, 6, 5, 4)
    lam, kappa = parameters(6, torch.float32)
    for view in (x.to(memory_format=torch.channels_last),
                 x.transpose(2, 3)):
        out = dispatch.CPU_KERNEL.backend.forward(view, lam, kappa, 'aglu')
        torch.testing.assert_close(
            out, eager.forward(view.contiguous(), lam, kappa, 'aglu'))


@pytest.mark.parametrize('param_dtype', [torch.float64, torch.bfloat16])
def test_parameters_of_another_dtype_are_read_as_stored(param_dtype):
    """λ, κ in another dtype than the compute dtype: floored in their own
    dtype, converted inside the kernel, gradients returned in their dtype
    (as the formula does)."""
    x = torch.randn(3, 5, 7) * 3
    g = torch.randn(3, 5, 7)
    lam, kappa = (t.to(param_dtype) for t in parameters(5, torch.float32))
    (out, grads), (ref, ref_grads) = both_paths(x, g, lam, kappa, 'aglu')
    torch.testing.assert_close(out, ref)
    for got, expected in zip(grads, ref_grads):
        assert got.dtype == expected.dtype
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('backend', ['cpu', 'eager'])
def test_no_lambda_gradient_below_the_floor(backend):
    """As torch.clamp(λ, min=1e-4): λ below the floor gets 0 (also where
    its unfloored gradient is not finite), λ at it its gradient."""
    backend = (dispatch.CPU_KERNEL.backend
               if backend == 'cpu' else dispatch.EAGER)
    x = torch.randn(2, 4, 4)
    x[:, 3] = float('inf')
    lam = torch.tensor([5e-5, 1e-4, 0.5, 5e-5])
    kappa = torch.ones(4)
    _, grad_lambda, _ = backend.backward(torch.ones_like(x), x, lam, kappa,
                                         'aglu')
    assert grad_lambda[0] == 0 and grad_lambda[1] != 0
    assert grad_lambda[2] != 0 and grad_lambda[3] == 0


def test_parameters_on_another_device_are_refused():
    backend = dispatch.CPU_KERNEL.backend
    x = torch.randn(2, 3)
    lam = torch.full((1, ), 0.5)
    with pytest.raises(RuntimeError, match=r'meta \(lambda_param\)'):
        backend.forward(x, lam.to('meta'), torch.ones(1), 'aglu')


def test_differentiable_function_makes_its_node_in_cpp():
    """The eager entry point builds one C++ autograd node that saves only
    x, λ, κ and returns finished gradients (none for inputs without
    requires_grad)."""
    backend = dispatch.CPU_KERNEL.backend
    x = torch.randn(2, 3, 4, 5)
    lam, kappa = parameters(3, torch.float32)
    lam.requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append(t) or t, lambda t: t):
        out = backend.differentiable(x, lam, kappa, 'aglu')
    assert 'ActivationFunction' in out.grad_fn.name()
    assert [t.data_ptr() for t in saved] == [
        x.data_ptr(), lam.data_ptr(), kappa.data_ptr()]
    g = torch.randn_like(out)
    (grad_lambda, ) = torch.autograd.grad(out, (lam, ), g)
    expected = backend.backward(g, x, lam.detach(), kappa, 'aglu')[1]
    assert torch.equal(grad_lambda, expected)
    with torch.no_grad():
        assert backend.differentiable(x, lam, kappa, 'aglu').grad_fn is None


def test_bad_shapes_are_rejected_by_name():
    backend = dispatch.CPU_KERNEL.backend
    lam, kappa = parameters(4, torch.float32)
    with pytest.raises(ValueError, match='num_parameters=4'):
        backend.forward(torch.randn(2, 3, 5), lam, kappa, 'aglu')
    with pytest.raises(ValueError, match='1-D of equal size'):
        backend.forward(torch.randn(2, 4, 5), lam, kappa[:2], 'aglu')


def test_operator_schemas_and_fake_kernels():
    """The ops' fake (meta) kernels and autograd agree with them, so
    torch.compile can trace models that contain APA/AGLU."""
    x = torch.randn(2, 3, 4, 4)
    lam, kappa = parameters(3, torch.float32)
    torch.library.opcheck(torch.ops.apa_mmdet.apa_forward.default,
                          (x, lam, kappa, 'aglu'))
    torch.library.opcheck(torch.ops.apa_mmdet.apa_backward.default,
                          (torch.randn_like(x), x, lam, kappa, 'apa'))
    # the kernel's output is contiguous whatever the input's layout
    channels_last = x.to(memory_format=torch.channels_last)
    torch.library.opcheck(torch.ops.apa_mmdet.apa_forward.default,
                          (channels_last, lam, kappa, 'aglu'))


def test_failed_build_falls_back_with_a_warning(monkeypatch):
    def no_compiler():
        raise RuntimeError('Error building extension\nc++: error: not found')

    monkeypatch.setattr(dispatch.CPU_KERNEL, 'loaded', None)
    monkeypatch.setattr(dispatch.CPU_KERNEL, 'load', no_compiler)
    monkeypatch.setattr(dispatch, '_chosen', {})
    with pytest.warns(UserWarning,
                      match=r'could not be built \(RuntimeError: c\+\+: '
                      r'error: not found\); using the eager formula'):
        assert not cpu_kernel_available()
    x = torch.randn(2, 3, requires_grad=True)
    assert dispatch.backend_for(x) is dispatch.EAGER
    out = aglu(x, torch.tensor([0.5]), torch.tensor([1.2]))
    out.sum().backward()
    # the formula's gradient, in float64
    x64 = x.detach().double().requires_grad_()
    (x64 * (0.5 * torch.exp(-1.2 * x64) + 1)**(-1 / 0.5)).sum().backward()
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-5,
                               atol=1e-6)


def test_environment_variable_selects_the_eager_formula(monkeypatch):
    monkeypatch.setattr(dispatch.CPU_KERNEL, 'loaded', None)
    monkeypatch.setenv('APA_MMDET_CPU_KERNEL', '0')
    assert not cpu_kernel_available()


def test_the_loader_carries_torch_compiles_constant_mark():
    """dispatch marks its loader as ``torch.compiler.assume_constant_result``
    would (without importing torch._dynamo), so tracing runs it."""
    def probe():
        return True

    torch.compiler.assume_constant_result(probe)
    assert vars(probe) and all(
        getattr(dispatch._fused_kernel_in_use, key) == value
        for key, value in vars(probe).items())
