# Copyright (c) apa_mmdet contributors.
"""WCLinear against the formula in float64, its official parameter names,
gradients, and mmdet's BBoxHead with it on the softmax path."""
import math

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import ConfigDict

from apa_mmdet.models.layers import WCLinear


def wrapped_cauchy_logits(x, weight, bias, g, s, pi):
    """The official logit, written in numpy from the spec (§3.6)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    w = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    cosine = x @ w.T + bias
    gamma = 1 / (1 + np.exp(-g))
    return s * (1 / (2 * pi)) * (1 - gamma**2) / (1 + gamma**2 -
                                                   2 * gamma * cosine)


@pytest.mark.parametrize('trainable', [True, False])
def test_logits_equal_the_formula_in_float64(trainable):
    torch.manual_seed(0)
    layer = WCLinear(16, 5, s_trainable=trainable, eps=0.).double()
    with torch.no_grad():
        layer.bias.uniform_(-0.2, 0.2)
        layer.g.uniform_(-1, 2)
    x = torch.randn(7, 16, dtype=torch.float64)
    expected = wrapped_cauchy_logits(
        x.numpy(), layer.weight.detach().numpy(),
        layer.bias.detach().numpy(), layer.g.detach().numpy(),
        50. if trainable else 300., 3.14)
    np.testing.assert_allclose(layer(x).detach().numpy(), expected,
                               rtol=1e-12)


def test_official_names_and_initial_values():
    trainable, fixed = WCLinear(8, 3), WCLinear(8, 3, s_trainable=False)
    assert list(trainable.state_dict()) == ['weight', 'bias', 'g', 's_']
    assert list(fixed.state_dict()) == ['weight', 'bias', 'g']
    assert trainable.s_.item() == 50 and fixed.s_ == 300
    assert torch.equal(fixed.g, torch.ones(3)) and not fixed.bias.any()
    assert fixed.weight.std().item() == pytest.approx(0.01, rel=0.5)
    assert 'fixed_scale=300.0, pi=3.14' in repr(fixed)


def test_pi_is_an_argument():
    x = torch.randn(4, 8)
    official, exact = WCLinear(8, 3), WCLinear(8, 3, pi=math.pi)
    exact.load_state_dict(official.state_dict())
    torch.testing.assert_close(exact(x) * math.pi, official(x) * 3.14)


def test_gradients_are_right_and_finite():
    torch.manual_seed(1)
    layer = WCLinear(6, 4).double()
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    params = (layer.weight, layer.bias, layer.g, layer.s_)

    def function(x, weight, bias, g, s):
        return torch.func.functional_call(
            layer, dict(weight=weight, bias=bias, g=g, s_=s), (x, ))

    assert torch.autograd.gradcheck(
        function, (x, *[p.detach().clone().requires_grad_() for p in params]))
    WCLinear(6, 4)(torch.randn(3, 6)).sum().backward()
    big = WCLinear(1024, 1001, s_trainable=False)
    big(torch.randn(64, 1024) * 30).logsumexp(-1).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in big.parameters())
    assert big.weight.grad.any() and big.g.grad.any()


def test_bbox_head_scores_are_the_softmax_of_its_logits():
    """mmdet's Shared2FCBBoxHead with the official V3Det classifier: C + 1
    outputs, scores at inference = softmax over them."""
    head = MODELS.build(
        dict(type='Shared2FCBBoxHead', in_channels=4, fc_out_channels=32,
             roi_feat_size=7, num_classes=6, reg_class_agnostic=True,
             cls_predictor_cfg=dict(type='WCLinear', s_trainable=False),
             loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False)))
    head.init_weights()
    assert isinstance(head.fc_cls, WCLinear)
    assert head.fc_cls.out_features == 7
    torch.manual_seed(2)
    cls_score, bbox_pred = head(torch.randn(5, 4, 7, 7))
    rois = torch.cat([torch.zeros(5, 1),
                      torch.tensor([[0., 0., 20., 20.]]).repeat(5, 1)], 1)
    results = head.predict_by_feat(
        (rois, ), (cls_score, ), (bbox_pred, ),
        [dict(img_shape=(32, 32), scale_factor=(1., 1.))],
        rcnn_test_cfg=ConfigDict(score_thr=0., max_per_img=100,
                                 nms=dict(type='nms', iou_threshold=1.01)))
    expected = torch.softmax(cls_score, -1)[:, :-1].flatten()
    torch.testing.assert_close(results[0].scores.sort().values,
                               expected.sort().values)
