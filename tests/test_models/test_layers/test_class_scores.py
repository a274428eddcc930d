# Copyright (c) apa_mmdet contributors.
"""The class-score modules against the float64 formulas (p, log p,
log(1 − p), gradients), built from the registry, as APADropLoss builds
them from the configs' spellings, with the state-dict keys of checkpoints
saved before they existed."""
import pytest
import torch
from mmdet.registry import MODELS

from apa_mmdet.models.layers import (APAClassScore, GumbelClassScore,
                                     SigmoidClassScore)
from apa_mmdet.models.losses import APADropLoss

Z = torch.tensor([[-90., -30., -5., -0.5, 0., 0.5, 3., 10.],
                  [-2., -1., -0.1, 0.1, 1., 2., 20., 40.]])


def gumbel(z):
    return torch.exp(-torch.exp(-z))


def apa(z, lam, kappa):
    return (lam * torch.exp(-kappa * z) + 1) ** (-1 / lam)


@pytest.mark.parametrize('module,formula', [
    (GumbelClassScore(), gumbel),
    (SigmoidClassScore(), torch.sigmoid),
    (APAClassScore(num_parameters=8, lambda_init=(0.05, 2.),
                   kappa_init=(0.3, 1.5)), None),
], ids=['gumbel', 'sigmoid', 'apa'])
def test_scores_and_their_logs_follow_the_formula(module, formula):
    if formula is None:
        lam = module.lambda_param.detach().double()
        kappa = module.kappa_param.detach().double()
        formula = lambda z: apa(z, lam, kappa)  # noqa: E731
    z = Z[:, :8].clone()
    z64 = z.double()
    if isinstance(module, GumbelClassScore):
        z64 = z64.clamp(min=-80.)
    p = formula(z64)
    torch.testing.assert_close(module(z).double(), p, rtol=1e-5, atol=1e-30)
    log_p = module.log_prob(z).double()
    # where p underflows in float64 too, log p is compared as −exp(−z)
    finite = p > 0
    torch.testing.assert_close(log_p[finite], p[finite].log(), rtol=1e-5,
                               atol=1e-6)
    assert torch.isfinite(log_p).all() and (log_p <= 0).all()
    log_1mp = module.log_complement(z).double()
    expected = torch.log1p(-p)
    inside = p < 1 - 1e-12
    torch.testing.assert_close(log_1mp[inside], expected[inside], rtol=1e-4,
                               atol=1e-6)
    assert torch.isfinite(log_1mp).all()


def test_gradients_of_the_learnable_score_flow_to_lambda_and_kappa():
    module = APAClassScore(num_parameters=3, lambda_init=(0.2, 1.),
                           kappa_init=(0.5, 1.)).double()
    z = torch.randn(4, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda z, lam, kappa: (module.log_prob(z), module.log_complement(z)),
        (z, module.lambda_param, module.kappa_param))
    (module.log_prob(z).sum() + module.log_complement(z).sum()).backward()
    assert (module.lambda_param.grad != 0).all()
    assert (module.kappa_param.grad != 0).all()


@pytest.mark.parametrize('spelling,cls', [
    ('Gumbel', GumbelClassScore), ('Sigmoid', SigmoidClassScore),
    ('APA', APAClassScore), ('GumbelClassScore', GumbelClassScore),
    ('APAClassScore', APAClassScore)])
def test_the_loss_builds_its_score_from_the_registry(spelling, cls):
    loss = APADropLoss(5, act_cfg=dict(type=spelling), tail_thr=0.)
    assert type(loss.act) is cls
    assert not isinstance(loss.act, torch.nn.Sigmoid)  # mmcv's Sigmoid
    assert type(MODELS.build(dict(type=cls.__name__))) is cls


def test_apa_score_defaults_next_to_gumbel_and_keys_as_before():
    loss = APADropLoss(
        5, act_cfg=dict(type='APAClassScore', num_parameters=5), tail_thr=0.)
    assert loss.act.lambda_param.tolist() == pytest.approx([0.01] * 5)
    assert loss.act.kappa_param.tolist() == [1.0] * 5
    # the keys checkpoints saved by the earlier loss hold
    assert sorted(loss.state_dict()) == ['act.kappa_param',
                                         'act.lambda_param']
    assert not APADropLoss(5, tail_thr=0.).state_dict()


@pytest.mark.parametrize('act_cfg,message', [
    (dict(type='Softmax'), "'Softmax' is not one of"),
    (dict(type='Gumbel', num_parameters=3), 'act_cfg .*Gumbel'),
])
def test_bad_scores_are_named(act_cfg, message):
    with pytest.raises(ValueError, match=message):
        APADropLoss(5, act_cfg=act_cfg, tail_thr=0.)
