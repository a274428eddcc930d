# Copyright (c) apa_mmdet contributors.
"""Test-time score calibration: each calibrator's bias is its formula on
the annotation file's statistics, the head's scores are the published
forms (NorCal's closed form on a softmax head, FRACAL's product on the
Gumbel), predictions use them, and what does not fit fails by name."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.config import ConfigDict

import apa_mmdet.models  # noqa: F401  (registers the heads)
from apa_mmdet.models.roi_heads.score_calibration import INDEPENDENT, SOFTMAX

# class 1: four quadrants of image 1 (D = 2); class 2: along a row of
# images 1-2 (D = 1); class 3: two objects (fewer than 4: D = 1)
BOXES = {1: [(1, [10, 10, 20, 20]), (1, [60, 10, 20, 20]),
             (1, [10, 60, 20, 20]), (1, [60, 60, 20, 20])],
         2: [(1, [0, 0, 10, 10]), (2, [30, 0, 10, 10]),
             (2, [60, 0, 10, 10]), (2, [90, 0, 10, 10]),
             (2, [45, 0, 10, 10])],
         3: [(3, [5, 5, 5, 5]), (3, [50, 50, 5, 5])]}
IMAGES = np.array([1, 2, 1])          # images with each class
OBJECTS = np.array([4, 5, 2])
DIMENSION = np.array([2., 1., 1.])
NUM_IMAGES = 3


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('APA_MMDET_CACHE', str(tmp_path / 'cache'))


@pytest.fixture
def ann_file(tmp_path):
    path = tmp_path / 'train.json'
    anns = [dict(id=i, image_id=image, category_id=c, bbox=box)
            for i, (c, image, box) in enumerate(
                (c, image, box) for c in BOXES for image, box in BOXES[c])]
    path.write_text(json.dumps(dict(
        images=[dict(id=i, width=100, height=100) for i in (1, 2, 3)],
        categories=[dict(id=c) for c in BOXES], annotations=anns)))
    return str(path)


def head(calibration=None, loss=None, num_classes=3):
    cfg = dict(type='CalibratedShared2FCBBoxHead', in_channels=4,
               fc_out_channels=8, roi_feat_size=2, num_classes=num_classes,
               calibration=calibration)
    if loss:
        cfg['loss_cls'] = loss
    return MODELS.build(cfg)


def gumbel_loss(ann_file):
    return dict(type='APADropLoss', num_classes=3, ann_file=ann_file,
                act_cfg=dict(type='GumbelClassScore'), tail_thr=0.)


def test_biases_are_the_formulas(ann_file):
    C = 3
    expected = {
        ('LogitAdjustment', 'objects'): -np.log(C * OBJECTS / OBJECTS.sum()),
        ('LogitAdjustment', 'images'): -0.5 * np.log(C * IMAGES /
                                                     IMAGES.sum()),
        ('NorCal', None): -0.7 * np.log(IMAGES)}
    options = {('LogitAdjustment', 'images'): dict(prior='images', tau=0.5),
               ('NorCal', None): dict(gamma=0.7)}
    for (kind, prior), bias in expected.items():
        cfg = dict(type=kind, ann_file=ann_file,
                   **options.get((kind, prior), {}))
        np.testing.assert_allclose(
            head(cfg).calibration.bias.double().numpy(), bias, rtol=1e-6)
    # FRACAL, base-10 frequency term and D^2
    share = IMAGES / NUM_IMAGES
    w = -np.log10(C * share)
    softmax = head(dict(type='FRACAL', ann_file=ann_file)).calibration
    np.testing.assert_allclose(softmax.bias.double().numpy(),
                               w - 2 * np.log(DIMENSION), rtol=1e-6)
    spread = DIMENSION**2
    f = -np.log10(C * spread / spread.sum())
    gumbel = head(dict(type='FRACAL', ann_file=ann_file),
                  gumbel_loss(ann_file)).calibration
    np.testing.assert_allclose(gumbel.bias.double().numpy(),
                               -np.log1p(np.exp(-(w + f))), rtol=1e-6)


def test_score_forms_of_the_heads(ann_file):
    from apa_mmdet.models.roi_heads.score_calibration import score_form
    assert score_form(head()) == SOFTMAX
    assert score_form(head(loss=gumbel_loss(ann_file))) == INDEPENDENT
    seesaw = head(loss=dict(type='SeesawLoss', num_classes=3))
    assert score_form(seesaw) == SOFTMAX


def test_norcal_on_a_softmax_head_is_its_closed_form(ann_file):
    """p_c = e^{z_c} n_c^{-γ} / (e^{z_bg} + Σ_k e^{z_k} n_k^{-γ})."""
    calibrated = head(dict(type='NorCal', ann_file=ann_file, gamma=0.6))
    z = torch.randn(7, 4, dtype=torch.float64)
    scores = F.softmax(calibrated.calibration(z), dim=1)
    weighted = torch.cat([z[:, :3].exp() * torch.tensor(IMAGES)**-0.6,
                          z[:, 3:].exp()], dim=1)
    torch.testing.assert_close(
        scores, weighted / weighted.sum(1, keepdim=True))


def test_fracal_on_a_softmax_head_divides_by_d_and_renormalises(ann_file):
    calibrated = head(dict(type='FRACAL', ann_file=ann_file,
                           spatial_exponent=1.5))
    z = torch.randn(5, 4, dtype=torch.float64)
    w = torch.tensor(np.append(-np.log10(3 * IMAGES / NUM_IMAGES), 0.))
    divided = F.softmax(z + w, 1) / torch.tensor(
        np.append(DIMENSION**1.5, 1.))
    torch.testing.assert_close(F.softmax(calibrated.calibration(z), 1),
                               divided / divided.sum(1, keepdim=True))


def test_fracal_on_the_gumbel_is_the_official_product(ann_file):
    """act(z + b) = act(z) · act(z + w + f) for the Gumbel CDF."""
    calibrated = head(dict(type='FRACAL', ann_file=ann_file),
                      gumbel_loss(ann_file))
    z = torch.randn(6, 3, dtype=torch.float64)
    spread = DIMENSION**2
    shift = torch.tensor(-np.log10(3 * IMAGES / NUM_IMAGES) -
                         np.log10(3 * spread / spread.sum()))
    gumbel = calibrated.loss_cls.get_activation
    torch.testing.assert_close(
        gumbel(calibrated.calibration(z)),
        gumbel(z) * gumbel(z + shift), rtol=1e-5, atol=1e-9)  # float32 b


@pytest.mark.parametrize('loss', [None, 'gumbel'])
def test_predictions_use_the_calibrated_scores(ann_file, loss):
    loss = gumbel_loss(ann_file) if loss else None
    calibration = dict(type='LogitAdjustment', ann_file=ann_file)
    calibrated, plain = head(calibration, loss), head(None, loss)
    plain.load_state_dict(calibrated.state_dict())
    assert 'calibration.bias' not in calibrated.state_dict()
    rois = torch.tensor([[0., 5, 5, 40, 40], [0., 50, 50, 90, 95],
                         [0., 10, 60, 30, 90]])
    channels = 3 if loss else 4
    z = torch.randn(3, channels) * 3
    deltas = torch.zeros(3, 12)
    test_cfg = ConfigDict(score_thr=0., nms=dict(type='nms',
                                                 iou_threshold=0.5),
                          max_per_img=100)
    metas = [dict(img_shape=(100, 100), scale_factor=(1., 1.))]

    def predict(model, logits):
        return model.predict_by_feat((rois, ), (logits, ), (deltas, ),
                                     metas, rcnn_test_cfg=test_cfg)[0]

    ours = predict(calibrated, z)
    by_hand = predict(plain, calibrated.calibration(z))
    torch.testing.assert_close(ours.scores, by_hand.scores)
    assert torch.equal(ours.labels, by_hand.labels)
    assert not torch.allclose(ours.scores, predict(plain, z).scores)


def test_what_does_not_fit_is_named(tmp_path, ann_file):
    with pytest.raises(ValueError, match=r'train\.json has 3 categories but '
                       r'the box head has num_classes=5'):
        head(dict(type='NorCal', ann_file=ann_file, gamma=1.), num_classes=5)
    no_sizes = tmp_path / 'no_sizes.json'
    data = json.loads(open(ann_file).read())
    data['images'] = [dict(id=i) for i in (1, 2, 3)]
    no_sizes.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r'FRACAL needs where the objects '
                       r'lie, but .*no_sizes\.json: image 1 has no width'):
        head(dict(type='FRACAL', ann_file=str(no_sizes)))
    with pytest.raises(ValueError, match='NorCal gamma must be >= 0'):
        head(dict(type='NorCal', ann_file=ann_file, gamma=-1))
    with pytest.raises(ValueError, match="prior must be 'objects' or "
                       "'images', got 'boxes'"):
        head(dict(type='LogitAdjustment', ann_file=ann_file, prior='boxes'))
    with pytest.raises(TypeError, match='ReLU is not a ScoreCalibrator'):
        head(dict(type='ReLU'))


def test_a_file_made_after_the_build_is_read_at_the_first_prediction(
        tmp_path, ann_file):
    later = tmp_path / 'later.json'
    calibrated = head(dict(type='NorCal', ann_file=str(later), gamma=1.))
    assert not calibrated.calibration.fitted
    later.write_text(open(ann_file).read())
    rois = torch.tensor([[0., 5, 5, 40, 40]])
    calibrated.predict_by_feat(
        (rois, ), (torch.zeros(1, 4), ), (torch.zeros(1, 12), ),
        [dict(img_shape=(100, 100), scale_factor=(1., 1.))],
        rcnn_test_cfg=ConfigDict(score_thr=0., max_per_img=10,
                                 nms=dict(type='nms', iou_threshold=0.5)))
    np.testing.assert_allclose(calibrated.calibration.bias.numpy(),
                               -np.log(IMAGES), rtol=1e-6)
    assert math.isclose(calibrated.calibration.gamma, 1.)


@pytest.mark.parametrize('num_samples', [2, 0])
@pytest.mark.parametrize('with_nms', [True, False])
def test_mmdets_predict_cases_give_mmdets_results(num_samples, with_nms):
    """mmdet's own ``predict_by_feat`` cases for ``Shared2FCBBoxHead``
    (tests/test_models/test_roi_heads/test_bbox_heads/test_bbox_head.py:
    with and without NMS, with no RoI), run on the calibratable head
    without a calibrator: mmdet's results, to the bit."""
    from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
    num_classes = 6
    ours = head(num_classes=num_classes)
    theirs = Shared2FCBBoxHead(in_channels=4, fc_out_channels=8,
                               roi_feat_size=2, num_classes=num_classes)
    theirs.load_state_dict(ours.state_dict())
    torch.manual_seed(num_samples)
    inputs = dict(
        rois=(torch.rand(num_samples, 5), ),
        cls_scores=(torch.rand(num_samples, num_classes + 1), ),
        bbox_preds=(torch.rand(num_samples, 4 * num_classes), ),
        batch_img_metas=[dict(img_shape=(128, 128, 3), scale_factor=1)],
        rcnn_test_cfg=ConfigDict(score_thr=0., max_per_img=100,
                                 nms=dict(type='nms', iou_threshold=0.5))
        if with_nms else None)
    expected = theirs.predict_by_feat(**inputs)[0]
    result = ours.predict_by_feat(**inputs)[0]
    assert set(result.keys()) == set(expected.keys())
    for key in expected.keys():
        assert torch.equal(result[key], expected[key]), key
    if with_nms:
        assert len(result) <= num_samples * num_classes
        assert result.bboxes.shape[1] == 4 and result.labels.dim() == 1
    else:
        assert result.scores.shape == inputs['cls_scores'][0].shape
