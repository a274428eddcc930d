# Copyright (c) apa_mmdet contributors.
"""A tiny APA Mask R-CNN per classification-head variant: loss and predict."""
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.testing import demo_mm_inputs
from mmengine.config import ConfigDict

from apa_mmdet.datasets.synthetic import generate_lvis
from tests.helpers.configs import get_config

TINY = 'synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'
# sites in the residual branches, whose gradients a zero-initialised bn3
# (mmdet's zero_init_residual) makes exactly zero at the first step
RESIDUAL_BRANCH = ('unirect1.', 'unirect2.', 'se.')
HEADS = {
    'gumbel': {},
    'sigmoid': dict(loss_cls=dict(act_cfg=dict(type='SigmoidClassScore'))),
    'apa': dict(loss_cls=dict(act_cfg=dict(type='APAClassScore',
                                                num_parameters=12))),
    'softmax-ce': dict(loss_cls=dict(
        _delete_=True, type='CrossEntropyLoss', use_sigmoid=False)),
    'seesaw': dict(
        cls_predictor_cfg=dict(type='NormedLinear', tempearture=20),
        loss_cls=dict(_delete_=True, type='SeesawLoss', num_classes=12)),
}


@pytest.fixture(scope='module')
def train_ann(tmp_path_factory):
    root = tmp_path_factory.mktemp('lvis')
    return generate_lvis(str(root), num_train=40, num_val=12,
                         image_size=64)['train']


def build_detector(train_ann, head):
    cfg = get_config(TINY)
    cfg.merge_from_dict(dict(model=dict(roi_head=dict(bbox_head=HEADS[head]))))
    loss_cls = cfg.model.roi_head.bbox_head.loss_cls
    if loss_cls.type == 'APADropLoss':
        loss_cls.ann_file = train_ann
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(cfg.model))
    model.init_weights()
    return model


def inputs(model, training):
    packed = demo_mm_inputs(
        2, [[3, 96, 96], [3, 80, 112]], num_items=[3, 2], num_classes=12,
        with_mask=True)
    return model.data_preprocessor(packed, training)


def total_loss(losses):
    total = 0
    for name, value in losses.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            assert torch.isfinite(v).all(), name
            if 'loss' in name:
                total = total + v.sum()
    return total


@pytest.mark.parametrize('head', sorted(HEADS))
def test_loss_backward_reaches_every_apa_parameter(train_ann, head):
    model = build_detector(train_ann, head)
    model.train()
    total_loss(model(**inputs(model, True), mode='loss')).backward()
    for name, param in model.named_parameters():
        if name.endswith(('lambda_param', 'kappa_param')):
            assert param.grad is not None, name
            assert torch.isfinite(param.grad).all(), name
            # it flows, not only exists; inside the residual branches (after
            # bn3, zero-initialised) it is exactly zero at the first step
            if not any(part in name for part in RESIDUAL_BRANCH):
                assert param.grad.any(), name
    assert model.roi_head.mask_head.conv_logits.tempearture.grad.any()


@pytest.mark.parametrize('head', ['gumbel', 'apa'])
def test_predict_returns_masks(train_ann, head):
    model = build_detector(train_ann, head)
    model.eval()
    with torch.no_grad():
        results = model(**inputs(model, False), mode='predict')
    assert len(results) == 2
    for sample in results:
        assert isinstance(sample, DetDataSample)
        pred = sample.pred_instances
        assert tuple(pred.masks.shape[1:]) == tuple(sample.ori_shape)
        assert (pred.labels < 12).all() and (pred.scores <= 1).all()


def test_bfloat16_autocast_training_step_is_finite(train_ann):
    model = build_detector(train_ann, 'gumbel')
    model.train()
    data = inputs(model, True)
    neck_dtypes = []
    model.neck.register_forward_hook(
        lambda module, args, outs: neck_dtypes.extend(o.dtype for o in outs))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        total = total_loss(model(**data, mode='loss'))
    assert set(neck_dtypes) == {torch.bfloat16}  # autocast was in effect
    assert torch.isfinite(total)
    total.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        if name.endswith(('lambda_param', 'kappa_param')) and not any(
                part in name for part in RESIDUAL_BRANCH):
            assert param.grad.any(), name


def test_bfloat16_autocast_predict(train_ann):
    model = build_detector(train_ann, 'gumbel')
    model.eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        results = model(**inputs(model, False), mode='predict')
    for sample in results:
        assert sample.pred_instances.bboxes.dtype == torch.float32
        assert torch.isfinite(sample.pred_instances.scores).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_amp_fp16_training_step_on_cuda(train_ann):
    """The ``--amp`` recipe: AmpOptimWrapper (fp16, dynamic loss scale)."""
    from mmengine.optim import AmpOptimWrapper
    model = build_detector(train_ann, 'gumbel').to('cuda')
    model.train()
    wrapper = AmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
        loss_scale='dynamic', dtype='float16')
    for _ in range(2):
        with wrapper.optim_context(model):
            total = total_loss(model(**inputs(model, True), mode='loss'))
        assert torch.isfinite(total)
        wrapper.update_params(total)
    for name, param in model.named_parameters():
        assert torch.isfinite(param).all(), name
