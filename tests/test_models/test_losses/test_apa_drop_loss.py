# Copyright (c) apa_mmdet contributors.
"""APADropLoss: formula, rare-negative drop, protocol through BBoxHead."""

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import ConfigDict

from apa_mmdet.datasets import load_class_frequency
from apa_mmdet.datasets.synthetic import generate_lvis
from apa_mmdet.models.losses import APADropLoss

C = 9


@pytest.fixture(scope='module')
def ann_file(tmp_path_factory):
    root = tmp_path_factory.mktemp('lvis')
    return generate_lvis(str(root), num_classes=C, num_train=60, num_val=12,
                         image_size=48, seed=5)['train']


def reference(z, labels, act='Gumbel', clamp=10., keep=None):
    """Direct float64 evaluation of the formula."""
    z = z.double()
    if clamp is not None:
        z = z.clamp(-clamp, clamp)
    # log p and log(1 - p) of p = exp(-exp(-z)) or sigmoid(z)
    log_p = -torch.exp(-z) if act == 'Gumbel' else -torch.log1p(torch.exp(-z))
    log_1mp = torch.log(-torch.expm1(log_p))
    t = torch.nn.functional.one_hot(labels, C + 1)[:, :C].double()
    loss = -(t * log_p + (1 - t) * log_1mp)
    if keep is not None:
        loss = loss * (1 - (1 - keep.double()) * (1 - t))
    return loss.sum() / len(labels)


def logits_and_labels(n=64, seed=0, scale=6.):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, C, generator=gen) * scale
    labels = torch.randint(0, C + 1, (n, ), generator=gen)
    return z, labels


@pytest.mark.parametrize('act', ['Gumbel', 'Sigmoid'])
@pytest.mark.parametrize('clamp', [10., None])
def test_matches_float64_formula(act, clamp):
    z, labels = logits_and_labels(scale=4. if clamp is None else 8.)
    loss = APADropLoss(C, act_cfg=dict(type=act), tail_thr=0.,
                       logit_clamp=clamp)
    torch.testing.assert_close(
        loss(z, labels).double(), reference(z, labels, act, clamp),
        rtol=1e-5, atol=1e-6)


def test_gumbel_clamp_gives_constant_loss_and_no_gradient():
    loss = APADropLoss(C, tail_thr=0.)
    z = torch.full((1, C), 12.0, requires_grad=True)
    value = loss(z, torch.tensor([C]))  # all negatives, saturated
    value.backward()
    assert z.grad.abs().sum() == 0
    torch.testing.assert_close(
        value, reference(torch.full((1, C), 12.0), torch.tensor([C])).float())


def test_learnable_apa_special_cases():
    z, labels = logits_and_labels(scale=3.)
    sigmoid = APADropLoss(C, act_cfg=dict(type='SigmoidClassScore'),
                          tail_thr=0.)
    as_sigmoid = APADropLoss(C, act_cfg=dict(
        type='APAClassScore', lambda_init=1., kappa_init=1.), tail_thr=0.)
    torch.testing.assert_close(as_sigmoid(z, labels), sigmoid(z, labels))
    # λ→0 is the Gumbel where λ·exp(−z) << 1
    z = torch.rand(64, C, generator=torch.Generator().manual_seed(0)) * 13 - 3
    gumbel = APADropLoss(C, tail_thr=0.)
    near_gumbel = APADropLoss(C, act_cfg=dict(
        type='APAClassScore', lambda_init=1e-4, kappa_init=1.), tail_thr=0.)
    torch.testing.assert_close(near_gumbel(z, labels), gumbel(z, labels),
                               rtol=2e-3, atol=1e-4)


@pytest.mark.parametrize('lam', [1e-4, 1e-2, 1.0, 5.0])
@pytest.mark.parametrize('kappa', [-2.0, 0.5, 3.0])
def test_apa_loss_is_finite_in_log_space(lam, kappa):
    loss = APADropLoss(C, act_cfg=dict(type='APAClassScore', num_parameters=C,
                                       lambda_init=lam, kappa_init=kappa),
                       tail_thr=0., logit_clamp=None)
    z = torch.tensor([-1e4, -300., -30., -1., 0., 1., 30., 300., 1e4])
    z = z.repeat(2 * C, 1)[:, :C].clone().requires_grad_()
    labels = torch.cat([torch.arange(C), torch.full((C, ), C)])
    value = loss(z, labels)
    value.backward()
    assert torch.isfinite(value)
    for grad in (z.grad, loss.act.lambda_param.grad, loss.act.kappa_param.grad):
        assert torch.isfinite(grad).all()
    # the classes of logits ±1 carry a gradient to their λ and κ
    moderate = [3, 5]
    assert loss.act.kappa_param.grad[moderate].all()
    assert loss.act.lambda_param.grad[moderate].all()
    # against a float64 evaluation of the formula on moderate logits
    small = torch.randn(32, C, dtype=torch.float64)
    lam_t = torch.tensor(lam, dtype=torch.float64).clamp(min=1e-4)
    log_p = -torch.log1p(lam_t * torch.exp(-kappa * small)) / lam_t
    lab = torch.randint(0, C + 1, (32, ))
    t = torch.nn.functional.one_hot(lab, C + 1)[:, :C].double()
    direct = -(t * log_p + (1 - t) * torch.log(-torch.expm1(log_p)))
    direct = direct.sum() / 32
    torch.testing.assert_close(loss(small.float(), lab).double(), direct,
                               rtol=1e-4, atol=1e-5)


def test_tail_classes_follow_the_threshold(ann_file):
    stats = load_class_frequency(ann_file)
    for thr in (0.05, 0.2, 0.5):
        loss = APADropLoss(C, ann_file=ann_file, tail_thr=thr)
        expected = torch.from_numpy(stats.frequency < thr)
        assert torch.equal(loss.tail_classes, expected)
    assert 'tail_classes' not in loss.state_dict()


def test_foreground_rois_drop_tail_negatives_exactly(ann_file):
    loss = APADropLoss(C, ann_file=ann_file, tail_thr=0.2)
    tail = loss.tail_classes
    assert 0 < tail.sum() < C
    z, _ = logits_and_labels(n=40, seed=1)
    labels = torch.arange(40) % C  # foreground only, tail classes included
    keep = (~tail).expand(40, C).float()
    torch.testing.assert_close(loss(z, labels).double(),
                               reference(z, labels, keep=keep))


def test_background_keeps_tail_negatives_with_the_tail_share(ann_file):
    loss = APADropLoss(C, ann_file=ann_file, tail_thr=0.2)
    tail = loss.tail_classes
    tail_label = int(torch.nonzero(tail)[0])
    head_label = int(torch.nonzero(~tail)[0])
    labels = torch.tensor([tail_label] * 1 + [head_label] * 3 + [C] * 20000)
    torch.manual_seed(0)
    weights = loss._keep_mask(labels).float()
    bg = weights[4:]
    assert (bg[:, ~tail] == 1).all()  # frequent classes never dropped
    assert abs(bg[:, tail].mean().item() - 0.25) < 0.01  # tail share 1/4
    no_fg = loss._keep_mask(torch.full((50, ), C)).float()
    assert (no_fg == 1).all()


def test_dropping_is_seeded_by_the_global_generator(ann_file):
    loss = APADropLoss(C, ann_file=ann_file, tail_thr=0.2)
    z, labels = logits_and_labels(n=200, seed=3)
    torch.manual_seed(1)
    first = loss(z, labels)
    torch.manual_seed(1)
    assert torch.equal(first, loss(z, labels))


def test_weight_avg_factor_and_reduction():
    loss = APADropLoss(C, tail_thr=0.)
    z, labels = logits_and_labels(n=10)
    per_roi = loss(z, labels, reduction_override='none')
    assert per_roi.shape == (10, )
    torch.testing.assert_close(loss(z, labels, reduction_override='sum'),
                               per_roi.sum())
    torch.testing.assert_close(loss(z, labels), per_roi.mean())
    torch.testing.assert_close(loss(z, labels, avg_factor=4.),
                               per_roi.sum() / 4)
    weight = torch.tensor([1., 0.] * 5)
    torch.testing.assert_close(
        loss(z, labels, weight, reduction_override='sum'),
        per_roi[::2].sum())


@pytest.mark.parametrize('name', ['APADropLoss', 'CrossEntropyLoss'])
def test_reductions_follow_mmdets_contract(name):
    """Side by side with mmdet's CrossEntropyLoss: an unknown
    reduction_override fails an assertion, 'sum' with an avg_factor is a
    ValueError, and avg_factor divides the 'mean'."""
    if name == 'APADropLoss':
        loss = APADropLoss(C, tail_thr=0.)
        z, labels = logits_and_labels(n=10)
    else:
        loss = MODELS.build(dict(type='CrossEntropyLoss'))
        z, labels = logits_and_labels(n=10)
        z = torch.cat([z, torch.zeros(10, 1)], dim=1)
    with pytest.raises(AssertionError):
        loss(z, labels, reduction_override='avg')
    with pytest.raises(ValueError, match='avg_factor can not be used with '
                       'reduction="sum"'):
        loss(z, labels, avg_factor=4., reduction_override='sum')
    per_roi = loss(z, labels, reduction_override='none')
    torch.testing.assert_close(loss(z, labels, avg_factor=4.),
                               per_roi.sum() / 4)


def test_activation_and_accuracy_protocol():
    loss = APADropLoss(C, tail_thr=0.)
    assert loss.custom_cls_channels and loss.custom_activation
    assert loss.get_cls_channels(C) == C
    z, labels = logits_and_labels(n=12)
    scores = loss.get_activation(z)
    assert scores.shape == (12, C + 1)
    assert (scores[:, -1] == 0).all()
    torch.testing.assert_close(scores[:, :C], torch.exp(-torch.exp(-z)))
    labels[:3] = C
    acc = loss.get_accuracy(z, labels)['acc_classes']
    pos = labels < C
    expected = (z[pos].argmax(1) == labels[pos]).float().mean() * 100
    torch.testing.assert_close(acc.squeeze(), expected)


def test_bad_arguments_name_the_values(ann_file, tmp_path):
    with pytest.raises(ValueError, match=r'num_classes=5 disagrees with .*'
                       r'lvis_v1_train\.json, which has 9 categories'):
        APADropLoss(5, ann_file=ann_file)
    missing = APADropLoss(C, ann_file=str(tmp_path / 'nope.json'))
    with pytest.raises(FileNotFoundError, match='nope.json not found'):
        missing(*logits_and_labels())  # builds; fails when it trains
    corrupt = tmp_path / 'corrupt.json'
    corrupt.write_text('{"categories": [')
    with pytest.raises(ValueError, match='corrupt.json is not valid JSON'):
        APADropLoss(C, ann_file=str(corrupt))
    with pytest.raises(ValueError, match="'Softmax' is not one of"):
        APADropLoss(C, act_cfg=dict(type='Softmax'))
    with pytest.raises(ValueError, match='head has num_classes=4'):
        APADropLoss(C, tail_thr=0.).get_cls_channels(4)
    with pytest.raises(RuntimeError, match='needs ann_file'):
        APADropLoss(C)(*logits_and_labels())


def make_head(loss_cls):
    return MODELS.build(
        dict(
            type='Shared2FCBBoxHead',
            in_channels=8,
            fc_out_channels=16,
            roi_feat_size=7,
            num_classes=C,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=loss_cls,
            init_cfg=dict(type='Constant', val=0.001, bias=-2,
                          override=dict(name='fc_cls'))))


@pytest.mark.parametrize('act_cfg', [
    dict(type='GumbelClassScore'), dict(type='SigmoidClassScore'),
    dict(type='APAClassScore', num_parameters=C)
])
def test_through_shared2fc_bbox_head(ann_file, act_cfg):
    head = make_head(dict(type='APADropLoss', num_classes=C,
                          ann_file=ann_file, act_cfg=act_cfg))
    head.init_weights()
    assert head.fc_cls.out_features == C
    assert (head.fc_cls.weight == 0.001).all() and (head.fc_cls.bias == -2).all()
    feats = torch.randn(6, 8, 7, 7)
    cls_score, bbox_pred = head(feats)
    rois = torch.tensor([[0, 0, 0, 20, 20.]] * 6)
    labels = torch.tensor([0, 1, 2, C, C, C])
    losses = head.loss(cls_score, bbox_pred, rois, labels, torch.ones(6),
                       torch.zeros(6, 4), torch.ones(6, 4))
    assert {'loss_cls', 'acc_classes', 'loss_bbox'} <= set(losses)
    losses['loss_cls'].backward()
    if act_cfg['type'] == 'APAClassScore':
        assert head.loss_cls.act.lambda_param.grad.abs().sum() > 0
    test_cfg = ConfigDict(score_thr=1e-4, nms=dict(type='nms', iou_threshold=.3),
                          max_per_img=300)
    metas = [dict(img_shape=(32, 32), scale_factor=(1., 1.))]
    for num_rois in (6, 0):
        results = head.predict_by_feat(
            rois=(rois[:num_rois], ), cls_scores=(cls_score[:num_rois], ),
            bbox_preds=(bbox_pred[:num_rois], ), batch_img_metas=metas,
            rcnn_test_cfg=test_cfg, rescale=False)
        assert len(results[0].scores) <= num_rois * C
        assert (results[0].labels < C).all()
