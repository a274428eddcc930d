# Copyright (c) apa_mmdet contributors.
"""APA/AGLU modules: parameters, initialisation, registry and mmcv/mmdet use."""
from types import SimpleNamespace

import pytest
import torch
from mmcv.cnn import ConvModule, build_activation_layer
from mmdet.models.layers import SELayer
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope

from apa_mmdet.models.layers import AGLU, APA, build_site_activation
from apa_mmdet.ops import dispatch, scale_add_apa


def formula(cls, z, lam, kappa):
    """APA / AGLU in float64 from the paper's formula, λ floored at 1e-4,
    per-channel parameters on dimension 1."""
    z = z.double()
    shape = (-1, ) + (1, ) * (z.dim() - 2)
    lam = lam.detach().double().clamp(min=1e-4).view(shape)
    kappa = kappa.detach().double().view(shape)
    gate = (lam * torch.exp(-kappa * z) + 1) ** (-1 / lam)
    return gate if cls is APA else z * gate


@pytest.mark.parametrize('cls', [APA, AGLU])
def test_forward_is_the_formula(cls):
    layer = cls(num_parameters=3, lambda_init=(0.05, 2.),
                kappa_init=(-1., 1.5))
    x = torch.randn(2, 3, 4, 4) * 3
    torch.testing.assert_close(
        layer(x).double(),
        formula(cls, x, layer.lambda_param, layer.kappa_param),
        rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('cls', [APA, AGLU])
def test_parameter_names_and_shapes(cls):
    assert set(cls().state_dict()) == {'lambda_param', 'kappa_param'}
    assert cls().lambda_param.shape == (1, )
    layer = cls(num_parameters=5)
    assert layer.lambda_param.shape == layer.kappa_param.shape == (5, )
    assert 'num_parameters=5' in repr(layer)


def test_official_default_initialisation():
    torch.manual_seed(0)
    aglu_layer, apa_layer = AGLU(num_parameters=4096), APA(4096)
    for value, low, high in (
        (aglu_layer.lambda_param, 0.0, 1.0),
        (aglu_layer.kappa_param, 1.0, 1.3),
        (apa_layer.lambda_param, 0.0, 1.0),
        (apa_layer.kappa_param, -1.0, 0.0),
    ):
        assert low <= value.min() and value.max() <= high
        assert value.max() - value.min() > 0.9 * (high - low)


def test_configurable_initialisation():
    layer = AGLU(num_parameters=3, lambda_init=1.0, kappa_init=(2.0, 2.0))
    assert torch.equal(layer.lambda_param, torch.ones(3))
    assert torch.equal(layer.kappa_param, torch.full((3, ), 2.0))
    x = torch.randn(2, 3, 5, dtype=torch.float64)
    torch.testing.assert_close(
        layer.double()(x), x * torch.sigmoid(2 * x))
    layer = APA(lambda_init=[0.5, 0.7], kappa_init=-2)
    assert 0.5 <= layer.lambda_param.item() <= 0.7
    assert layer.kappa_param.item() == -2.0


@pytest.mark.parametrize('cls', [APA, AGLU])
@pytest.mark.parametrize('kwargs,message', [
    (dict(num_parameters=0), 'num_parameters.*0'),
    (dict(num_parameters=-3), 'num_parameters.*-3'),
    (dict(num_parameters=2.5), 'num_parameters.*2.5'),
    (dict(lambda_init=0.0), r'lambda_init=0\.0'),
    (dict(lambda_init=-0.5), r'lambda_init=-0\.5'),
    (dict(lambda_init=(-1.0, 1.0)), r'lambda_init=\(-1\.0, 1\.0\)'),
    (dict(lambda_init=(1.0, 0.5)), r'lambda_init=\(1\.0, 0\.5\)'),
    (dict(kappa_init='one'), "kappa_init.*'one'"),
    (dict(kappa_init=float('nan')), 'kappa_init=nan must be finite'),
    (dict(lambda_init=(0., float('inf'))), r'lambda_init=\(0\.0, inf\)'),
])
def test_bad_arguments_name_the_value(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


@pytest.mark.parametrize('cls', [APA, AGLU])
def test_channel_mismatch_names_the_shapes(cls):
    layer = cls(num_parameters=4)
    with pytest.raises(ValueError, match=r'\(2, 3, 5, 5\).*num_parameters=4'):
        layer(torch.randn(2, 3, 5, 5))


@pytest.mark.parametrize('name,cls', [('APA', APA), ('AGLU', AGLU)])
@pytest.mark.parametrize('scope', [None, 'mmdet', 'mmengine'])
def test_builds_through_registries(name, cls, scope):
    cfg = dict(type=name, num_parameters=8)
    assert ROOT_MODELS.get(name) is cls
    if scope is None:
        layers = [build_activation_layer(cfg), MMDET_MODELS.build(cfg)]
    else:
        with DefaultScope.overwrite_default_scope(scope):
            layers = [build_activation_layer(cfg), MMDET_MODELS.build(cfg),
                      ROOT_MODELS.build(cfg)]
    for layer in layers:
        assert type(layer) is cls and layer.num_parameters == 8


@pytest.mark.parametrize('name', ['APA', 'AGLU'])
def test_conv_module_passes_inplace(name):
    conv = ConvModule(3, 8, 3, padding=1, act_cfg=dict(type=name))
    assert isinstance(conv.activate, (APA, AGLU))
    out = conv(torch.randn(2, 3, 9, 9))
    assert out.shape == (2, 8, 9, 9)
    out.sum().backward()
    assert conv.activate.lambda_param.grad.all()
    per_channel = ConvModule(
        3, 8, 1, act_cfg=dict(type=name, num_parameters=8, inplace=True))
    assert per_channel(torch.randn(1, 3, 4, 4)).shape == (1, 8, 4, 4)


def test_apa_as_the_gate_of_mmdet_se_layer():
    with DefaultScope.overwrite_default_scope('mmdet'):
        se = SELayer(32, ratio=4,
                     act_cfg=(dict(type='ReLU'), dict(type='APA')))
    assert isinstance(se.conv2.activate, APA)
    x = torch.randn(2, 32, 6, 6)
    out = se(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert se.conv2.activate.kappa_param.grad.abs().item() > 0
    # a zero-initialised excitation gates every channel by APA(0)
    torch.nn.init.zeros_(se.conv2.conv.weight)
    torch.nn.init.zeros_(se.conv2.conv.bias)
    lam = se.conv2.activate.lambda_param.clamp(min=1e-4)
    expected = x * (1 + lam)**(-1 / lam)
    torch.testing.assert_close(se(x), expected)


def test_unknown_activation_lists_the_known_ones():
    message = r"unknown activation type 'AGLUU'.*known: AGLU, APA, .*ReLU"
    with pytest.raises(KeyError, match=message):
        build_site_activation(dict(type='AGLUU'), 8)
    with pytest.raises(KeyError, match=message):
        MMDET_MODELS.build(dict(type='APASEResNet', depth=50,
                                act_cfg=dict(type='AGLUU')))


@pytest.fixture
def counted_cpu_kernel_loads(monkeypatch):
    """The CPU kernel (built once for real) as if not yet loaded; returns
    the list its loader appends to."""
    assert dispatch.cpu_kernel_available()
    backend = dispatch.CPU_KERNEL.backend
    module = SimpleNamespace(forward=backend.forward,
                             backward=backend.backward,
                             differentiable=backend.differentiable)
    loads = []
    monkeypatch.setattr(dispatch.CPU_KERNEL, 'loaded', None)
    monkeypatch.setattr(dispatch.CPU_KERNEL, 'load',
                        lambda: loads.append(1) or module)
    monkeypatch.setattr(dispatch, '_chosen', {})
    return loads


@pytest.mark.parametrize('cls', [APA, AGLU])
def test_the_kernel_loads_on_the_first_forward_not_when_built(
        counted_cpu_kernel_loads, cls):
    layer = cls(num_parameters=2)
    assert counted_cpu_kernel_loads == []
    layer(torch.randn(3, 2))
    layer(torch.randn(3, 2))
    assert counted_cpu_kernel_loads == [1]
    assert dispatch.CPU_KERNEL.loaded


def test_torch_compile_loads_the_kernel_while_tracing(
        counted_cpu_kernel_loads):
    """A layer compiled before any eager call: the kernel loads during
    tracing and its operator is in the graph."""
    from torch._dynamo.backends.registry import lookup_backend
    torch._dynamo.reset()
    graphs = []

    def counting_aot_eager(graph, example_inputs):
        graphs.append(graph)
        return lookup_backend('aot_eager')(graph, example_inputs)

    layer = AGLU(num_parameters=4)
    compiled = torch.compile(layer, backend=counting_aot_eager,
                             fullgraph=True)
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(compiled(x), layer(x))
    assert counted_cpu_kernel_loads == [1]
    assert 'apa_mmdet.apa_forward' in graphs[0].print_readable(
        print_output=False)
    torch._dynamo.reset()


@pytest.mark.parametrize('cls', [APA, AGLU])
def test_parameters_are_checked_when_loaded_not_in_forward(monkeypatch,
                                                           cls):
    """A checkpoint's λ, κ are checked as they are loaded (a wrong shape by
    torch, a non-finite value here, both naming the key); forward checks
    nothing (the kernels still refuse a tensor without the channels)."""
    layer = cls(num_parameters=3)
    state = layer.state_dict()
    state['lambda_param'] = torch.tensor([0.5, float('nan'), 1.0])
    with pytest.raises(ValueError, match=r'lambda_param in the checkpoint '
                       r'is not finite: \[0.5, nan, 1.0\]'):
        layer.load_state_dict(state)
    assert torch.isfinite(layer.lambda_param).all()  # nothing copied
    state['lambda_param'] = torch.ones(4)
    with pytest.raises(RuntimeError, match='size mismatch for lambda_param'):
        layer.load_state_dict(state)
    from apa_mmdet.ops import functional

    def checked(*args, **kwargs):
        raise AssertionError('forward checked its parameters')

    monkeypatch.setattr(functional, '_check_parameters', checked)
    layer(torch.randn(2, 3, 4)).sum().backward()
    with pytest.raises(ValueError, match='num_parameters=3'):
        layer(torch.randn(2, 4, 4))


def test_eager_forward_backward_bypass_the_dispatcher():
    """In eager mode a layer calls the CPU kernel directly: its operators
    (torch.compile's boundary) never run; the dispatcher sees only the
    allocations and the autograd plumbing."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):

        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    assert dispatch.cpu_kernel_available()
    layer = AGLU(num_parameters=4)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    with Recorder() as recorder:
        layer(x).backward(torch.ones(2, 4, 5, 5))
    assert not [op for op in recorder.ops if 'apa_mmdet' in op]
    assert x.grad is not None and layer.lambda_param.grad is not None


def test_scale_add_rejects_an_unknown_function():
    with pytest.raises(ValueError, match="act must be one of .*'sigmoid'"):
        scale_add_apa(torch.zeros(1, 2, 1, 1), torch.zeros(1, 2),
                      torch.zeros(1, 2, 1, 1), torch.ones(1), torch.ones(1),
                      act='sigmoid')


def test_per_channel_aglu_in_mmcvs_ffn_on_tokens():
    """mmcv's FFN (as in mmdet's Swin) with a per-channel AGLU on its
    hidden channels, channels last: every λ, κ gets its own gradient."""
    from mmcv.cnn.bricks.transformer import FFN
    ffn = FFN(embed_dims=8, feedforward_channels=32,
              act_cfg=dict(type='AGLU', num_parameters=32, dim=-1))
    act = ffn.layers[0][1]
    assert isinstance(act, AGLU) and 'dim=-1' in repr(act)
    tokens = torch.randn(2, 49, 8)
    ffn(tokens).square().sum().backward()
    assert act.lambda_param.grad.shape == (32, )
    assert (act.lambda_param.grad != 0).all()
    assert (act.kappa_param.grad != 0).all()


def test_dim_must_be_an_integer():
    with pytest.raises(ValueError, match='dim must be an integer'):
        AGLU(dim='last')


@pytest.mark.parametrize('cls', [APA, AGLU])
def test_floored_exp_lambda_is_the_same_function_never_absorbed(cls):
    """lambda_parametrization='floored-exp': λ = 1e-4 + exp(ρ), the same
    λ and output from the same draw; where the official λ, at or below the
    floor, gets no gradient, ρ always does; ρ is what the optimizer sees."""
    torch.manual_seed(3)
    direct = cls(num_parameters=4)
    torch.manual_seed(3)
    learnt = cls(num_parameters=4, lambda_parametrization='floored-exp')
    torch.testing.assert_close(learnt.lambda_param, direct.lambda_param.data)
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(learnt(x), direct(x))
    rho = learnt.learnt_lambda()
    assert [name for name, _ in learnt.named_parameters()] == [
        'kappa_param', 'parametrizations.lambda_param.original']
    torch.testing.assert_close(rho, torch.log(direct.lambda_param - 1e-4))
    with torch.no_grad():
        direct.lambda_param.fill_(1e-5)  # below the floor
        learnt.lambda_param = torch.full((4, ), 1e-5)
    floor = torch.tensor(1e-4)  # in float32, as the kernels compare
    assert torch.all(learnt.lambda_param >= floor)
    direct(x).square().sum().backward()
    learnt(x).square().sum().backward()
    assert torch.all(direct.lambda_param.grad == 0)
    assert torch.all(rho.grad != 0)
    assert direct.learnt_lambda() is direct.lambda_param
    learnt.reset_parameters()  # draws λ again through ρ
    assert torch.all(learnt.lambda_param >= floor)
    assert float(learnt.lambda_param.max()) <= 1.


def test_unknown_lambda_parametrization_is_named():
    with pytest.raises(ValueError, match=r"lambda_parametrization must be "
                       r"one of \('direct', 'floored-exp'\), got 'log'"):
        APA(lambda_parametrization='log')
