# Copyright (c) apa_mmdet contributors.
"""APA/AGLU modules: parameters, initialisation, registry and mmcv/mmdet use."""
import pytest
import torch
from mmcv.cnn import ConvModule, build_activation_layer
from mmdet.models.layers import SELayer
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope

from apa_mmdet.models.layers import (AGLU, APA, aglu, apa,
                                     build_site_activation)


@pytest.mark.parametrize('cls,fn', [(APA, apa), (AGLU, aglu)])
def test_forward_is_the_function(cls, fn):
    layer = cls(num_parameters=3)
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(
        layer(x), fn(x, layer.lambda_param, layer.kappa_param))


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
    assert conv.activate.lambda_param.grad is not None
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


@pytest.mark.parametrize('cls', [APA, AGLU])
def test_building_a_layer_loads_the_kernel(monkeypatch, cls):
    """So that torch.compile, which cannot build it while tracing, finds the
    fused kernel loaded from the layer's first call on."""
    from apa_mmdet.models.layers import apa_cpu_kernel
    builds = []
    monkeypatch.setattr(apa_cpu_kernel, '_state', {'eager_blocks': 0})
    monkeypatch.setattr(apa_cpu_kernel, '_build', lambda: builds.append(1))
    assert not apa_cpu_kernel.cpu_kernel_loaded()
    cls(num_parameters=2)
    assert builds == [1] and apa_cpu_kernel.cpu_kernel_loaded()
    cls()
    assert builds == [1]
