# Copyright (c) apa_mmdet contributors.
"""The recorders on the CPU-sized LVIS detector: every activation call is
seen (fused SE-block ends as x·gate + identity) and the classifier's
per-group statistics equal a direct computation on the same RoIs."""
import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from apa_mmdet.analysis import (ClassifierRecorder, SiteInputRecorder,
                                assign_roi_labels, dataset_ground_truth,
                                frequency_groups)
from apa_mmdet.datasets.synthetic import generate_lvis
from tests.helpers.configs import (CONFIG_ROOT, build_initialised,
                                   config_on_data)

CONFIG = CONFIG_ROOT / 'synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'


@pytest.fixture(scope='module')
def detector_and_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('lvis')
    generate_lvis(str(root), num_train=16, num_val=12, image_size=96)
    cfg = config_on_data(CONFIG, root)
    model = build_initialised(cfg)
    model.eval()
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    dataloader = Runner.build_dataloader(cfg.test_dataloader)
    return model, dataloader


def test_assign_roi_labels():
    gt = torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]])
    rois = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                         [0., 0., 10., 4.], [19., 20., 30., 30.],
                         [50., 50., 60., 60.]])
    labels = assign_roi_labels(rois, gt, torch.tensor([3, 7]))
    assert labels.tolist() == [3, 3, -1, 7, -1]
    assert assign_roi_labels(rois, gt[:0], torch.tensor([], dtype=torch.long)
                             ).tolist() == [-1] * 5


def test_site_recorder_sees_every_call_and_the_block_ends_sum(
        detector_and_data):
    model, dataloader = detector_and_data
    data = next(iter(dataloader))
    block = model.backbone.layer2[1]
    direct = []

    def capture(module, args):  # the block end's inputs
        direct.append([t.clone() for t in args])

    handle = block.end.register_forward_pre_hook(capture)
    with SiteInputRecorder(model) as sites, torch.no_grad():
        model.test_step(data)
        model.test_step(data)
    handle.remove()
    with torch.no_grad():  # z = x·gate + identity, what unirect3 acts on
        direct = [(x * block.se.gate(x)[..., None, None] + identity).double()
                  for x, identity in direct]
    assert len(sites.sites) == 65  # stem + 16 blocks x (3 AGLU + SE gate)
    assert set(sites.calls.values()) == {2}
    assert sites.acts['backbone.layer1.0.se.uniact'] == 'apa'
    z = torch.cat([d.reshape(-1) for d in direct]).numpy()
    got = sites.sites['backbone.layer2.1.unirect3'].moments
    assert got.count == z.size
    assert got.mean == pytest.approx(z.mean(), rel=1e-5)
    assert got.std == pytest.approx(z.std(), rel=1e-5)
    with torch.no_grad():
        model.test_step(data)
    assert set(sites.calls.values()) == {2}  # hooks removed


def test_classifier_stats_equal_a_direct_computation(detector_and_data):
    model, dataloader = detector_and_data
    dataset = dataloader.dataset
    groups = frequency_groups(dataset.ann_file)
    assert set(groups) == {'r', 'c', 'f'}
    ground_truth = dataset_ground_truth(dataset)
    roi_head = model.roi_head
    seen = []
    handles = [
        roi_head.bbox_roi_extractor.register_forward_hook(
            lambda m, args, out: seen.append([args[1]])),
        roi_head.bbox_head.register_forward_hook(
            lambda m, args, out: seen[-1].append(out[0]))
    ]
    positives = {g: [] for g in 'rcf'}
    negatives = {g: [] for g in 'rcf'}
    with ClassifierRecorder(roi_head, groups, ground_truth) as recorder, \
            torch.no_grad():
        for data in dataloader:
            outputs = model.test_step(data)
            recorder.add_batch(outputs)
            (rois, cls_score), = [s for s in seen if len(s) == 2]
            seen.clear()
            for index, sample in enumerate(outputs):
                mine = (rois[:, 0] == index).numpy()
                boxes = rois[mine, 1:].numpy() / np.tile(
                    sample.metainfo['scale_factor'], 2)
                gt_boxes, gt_labels = ground_truth[sample.metainfo['img_id']]
                labels = []
                for box in boxes:
                    iou = [box_iou(box, g) for g in gt_boxes.numpy()]
                    best = int(np.argmax(iou)) if iou else -1
                    labels.append(int(gt_labels[best]) if iou and
                                  iou[best] >= 0.5 else -1)
                logits = cls_score[torch.from_numpy(mine)].numpy()
                for i, label in enumerate(labels):
                    for c, group in enumerate(groups):
                        (positives if c == label else negatives)[group].append(
                            logits[i, c])
    for handle in handles:
        handle.remove()
    assert recorder.stats.groups == ['r', 'c', 'f']
    assert sum(len(v) for v in positives.values()) > 0
    for group in 'rcf':
        for positive, values in ((True, positives[group]),
                                 (False, negatives[group])):
            got = recorder.stats.stats[(group, 'logit', positive)].moments
            assert got.count == len(values)
            if values:
                assert got.mean == pytest.approx(np.mean(values), rel=1e-5)
                scores = np.exp(-np.exp(-np.maximum(values, -80.)))  # Gumbel
                score_mean = recorder.stats.stats[(group, 'score',
                                                   positive)].moments.mean
                assert score_mean == pytest.approx(scores.mean(), rel=1e-4)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0., min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0., min(a[3], b[3]) - max(a[1], b[1]))
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) -
             w * h)
    return w * h / union


@pytest.mark.parametrize('loss_cls,expected', [
    (dict(type='APADropLoss', num_classes=3, ann_file=None),
     lambda z, loss: torch.exp(-torch.exp(-z[:, :3]))),
    (dict(type='APADropLoss', num_classes=3, ann_file=None,
          act_cfg=dict(type='SigmoidClassScore')),
     lambda z, loss: z[:, :3].sigmoid()),
    (dict(type='APADropLoss', num_classes=3, ann_file=None,
          act_cfg=dict(type='APAClassScore', num_parameters=3)),
     lambda z, loss: (loss.act.lambda_param * torch.exp(
         -loss.act.kappa_param * z[:, :3]) + 1)**(-1 / loss.act.lambda_param)),
    (dict(type='CrossEntropyLoss', use_sigmoid=False),
     lambda z, loss: z.softmax(-1)[:, :3]),
], ids=['gumbel', 'sigmoid', 'apa', 'softmax'])
def test_scores_are_the_heads_own(loss_cls, expected):
    """The recorder scores RoIs as the head does at inference, whichever
    head: the loss's activation, or the softmax over C + 1 logits."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    roi_head = MODELS.build(dict(
        type='StandardRoIHead',
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=4, featmap_strides=[4]),
        bbox_head=dict(type='Shared2FCBBoxHead', in_channels=4,
                       fc_out_channels=16, num_classes=3,
                       loss_cls=loss_cls)))
    recorder = ClassifierRecorder(roi_head, ['r', 'c', 'f'], {})
    z = torch.randn(5, roi_head.bbox_head.fc_cls.out_features) * 3
    with torch.no_grad():
        torch.testing.assert_close(
            recorder.scores(z), expected(z, roi_head.bbox_head.loss_cls))
    recorder.remove()
