# Copyright (c) apa_mmdet contributors.
"""SEResidualEnd: act(se(x) + identity) against the float64 formula, fused
for an SE layer with a gate and an APA/AGLU activation, plain where hooks
watch the activation (they then see its input), for any SE layer, and
without parameters of its own."""
import pytest
import torch
from mmdet.models.layers import SELayer

from apa_mmdet.models.layers import AGLU, APA, APASELayer, SEResidualEnd

OFFICIAL_SE = dict(ratio=4, norm_cfg=dict(type='LN'),
                   act_cfg=(dict(type='ReLU'), dict(type='APA')))


def formula(act, z):
    """APA / AGLU of z in float64 (per-channel parameters on dim 1)."""
    z = z.double()
    lam = act.lambda_param.detach().double().clamp(min=1e-4).view(-1, 1, 1)
    kappa = act.kappa_param.detach().double().view(-1, 1, 1)
    gate = (lam * torch.exp(-kappa * z) + 1)**(-1 / lam)
    return z * gate if isinstance(act, AGLU) else gate


def inputs():
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(2, 8, 5, 5, generator=gen) * 2,
            torch.randn(2, 8, 5, 5, generator=gen))


@pytest.mark.parametrize('cls', [AGLU, APA])
def test_fused_end_is_the_formula(cls):
    se = APASELayer(8, **OFFICIAL_SE).eval()
    act = cls(num_parameters=8, lambda_init=(0.05, 2.), kappa_init=(-1., 2.))
    end = SEResidualEnd(se, act)
    assert end.fused()
    x, identity = inputs()
    with torch.no_grad():
        z = x.double() * se.gate(x).double()[:, :, None, None] + identity
    torch.testing.assert_close(end(x, identity).double(), formula(act, z),
                               rtol=1e-5, atol=1e-6)


def test_hooks_on_the_activation_see_its_input():
    se = APASELayer(8, **OFFICIAL_SE).eval()
    act = AGLU(num_parameters=8)
    end = SEResidualEnd(se, act)
    x, identity = inputs()
    fused = end(x, identity)
    seen = []
    handle = act.register_forward_pre_hook(lambda m, args: seen.append(
        args[0]))
    assert not end.fused()
    torch.testing.assert_close(end(x, identity), fused)
    handle.remove()
    assert end.fused()
    torch.testing.assert_close(seen[0], se(x) + identity)


@pytest.mark.parametrize('se', [
    SELayer(8, ratio=4), None], ids=['mmdet SELayer', 'no SE'])
def test_any_se_layer_and_none(se):
    act = AGLU()
    end = SEResidualEnd(se, act)
    assert not end.fused()  # no gate(): the plain path
    x, identity = inputs()
    with torch.no_grad():
        z = (x if se is None else se(x)) + identity
        torch.testing.assert_close(end(x.clone(), identity).double(),
                                   formula(act, z), rtol=1e-5, atol=1e-6)


def test_no_parameters_or_keys_of_its_own():
    se, act = APASELayer(8, **OFFICIAL_SE), AGLU()
    end = SEResidualEnd(se, act)
    assert not list(end.parameters()) and not end.state_dict()
    assert end.se is se and end.act is act


def test_channels_last_parameters_are_refused_on_maps():
    end = SEResidualEnd(APASELayer(8, **OFFICIAL_SE),
                        AGLU(num_parameters=8, dim=-1))
    x, identity = inputs()
    with pytest.raises(ValueError, match='dim=-1 is not their channel'):
        end(x, identity)
