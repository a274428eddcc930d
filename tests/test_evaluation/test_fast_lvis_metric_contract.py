# Copyright (c) apa_mmdet contributors.
"""FastLVISMetric keeps mmdet's LVISMetric contract.

mmdet's own test cases of ``LVISMetric`` (tests/test_evaluation/
test_metrics/test_lvis_metric.py, mmdet 3.3), run on both classes, and each
constructor argument side by side on generated LVIS data.
"""
import os.path as osp
import pickle

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from mmdet.evaluation.metrics import LVISMetric
from mmengine.fileio import dump, load

from apa_mmdet.datasets.synthetic import generate_lvis
from apa_mmdet.evaluation import FastLVISMetric
from apa_mmdet.testing.predictions import ground_truth_predictions

CLASSES = [LVISMetric, FastLVISMetric]
BOTH = pytest.mark.parametrize('metric_cls', CLASSES,
                               ids=['LVISMetric', 'FastLVISMetric'])


@pytest.fixture
def fake_json(tmp_path):
    """mmdet's dummy LVIS file: one image, four objects of two classes."""
    dummy_mask = np.zeros((10, 10), order='F', dtype=np.uint8)
    dummy_mask[:5, :5] = 1
    rle_mask = mask_util.encode(dummy_mask)
    rle_mask['counts'] = rle_mask['counts'].decode('utf-8')
    image = dict(id=0, width=640, height=640, neg_category_ids=[],
                 not_exhaustive_category_ids=[],
                 coco_url='http://images.cocodataset.org/val2017/0.jpg')
    boxes = [([50, 60, 20, 20], 1, 400), ([100, 120, 30, 30], 1, 900),
             ([150, 160, 40, 40], 2, 1600), ([250, 260, 100, 100], 1, 10000)]
    annotations = [dict(id=i + 1, image_id=0, category_id=c, area=a, bbox=b,
                        segmentation=rle_mask)
                   for i, (b, c, a) in enumerate(boxes)]
    categories = [
        dict(id=1, name='aerosol_can', frequency='c', image_count=64),
        dict(id=2, name='air_conditioner', frequency='f', image_count=364)]
    path = str(tmp_path / 'fake_data.json')
    dump(dict(images=[image], annotations=annotations,
              categories=categories), path)
    return path


def dummy_pred():
    dummy_mask = np.zeros((4, 10, 10), dtype=np.uint8)
    dummy_mask[:, :5, :5] = 1
    return dict(
        bboxes=torch.tensor([[50, 60, 70, 80], [100, 120, 130, 150],
                             [150, 160, 190, 200], [250, 260, 350, 360]]),
        scores=torch.tensor([1.0, 0.98, 0.96, 0.95], dtype=torch.float64),
        labels=torch.tensor([0, 0, 1, 0]),
        masks=torch.from_numpy(dummy_mask))


def run(metric, pred=None, size=1):
    metric.dataset_meta = dict(classes=['aerosol_can', 'air_conditioner'])
    metric.process({}, [dict(pred_instances=pred or dummy_pred(), img_id=0,
                             ori_shape=(640, 640))])
    return metric.evaluate(size=size)


PERFECT = {f'lvis/bbox_{k}': 1.0 for k in ('AP', 'AP50', 'AP75', 'APs',
                                          'APm', 'APl', 'APc', 'APf')}
PERFECT['lvis/bbox_APr'] = -1.0


@BOTH
def test_init(metric_cls, fake_json):
    with pytest.raises(KeyError, match='metric should be one of'):
        metric_cls(ann_file=fake_json, metric='unknown')


@BOTH
def test_evaluate(metric_cls, fake_json, tmp_path):
    metric = metric_cls(ann_file=fake_json, classwise=False,
                        outfile_prefix=f'{tmp_path}/test')
    assert run(metric) == PERFECT
    assert osp.isfile(tmp_path / 'test.bbox.json')
    metric = metric_cls(ann_file=fake_json, metric=['bbox', 'segm'],
                        classwise=False, outfile_prefix=f'{tmp_path}/test')
    target = dict(PERFECT, **{k.replace('bbox', 'segm'): v
                              for k, v in PERFECT.items()})
    assert run(metric) == target
    assert osp.isfile(tmp_path / 'test.segm.json')
    with pytest.raises(KeyError, match="metric should be one of 'bbox', "
                       "'segm', 'proposal', 'proposal_fast', but got "
                       'invalid.'):
        metric_cls(ann_file=fake_json, metric=['invalid'])
    metric = metric_cls(ann_file=fake_json, metric_items=['APm'])
    assert run(metric) == {'lvis/bbox_APm': 1.0}


@BOTH
def test_classwise_evaluate(metric_cls, fake_json):
    metric = metric_cls(ann_file=fake_json, metric='bbox', classwise=True)
    assert run(metric) == dict(PERFECT, **{
        'lvis/aerosol_can_precision': 1.0,
        'lvis/air_conditioner_precision': 1.0})


@BOTH
def test_manually_set_iou_thrs(metric_cls, fake_json):
    metric = metric_cls(ann_file=fake_json, metric='bbox',
                        iou_thrs=[0.3, 0.6])
    assert metric.iou_thrs == [0.3, 0.6]


@BOTH
def test_fast_eval_recall(metric_cls, fake_json):
    metric = metric_cls(ann_file=fake_json, metric='proposal_fast')
    assert run(metric) == {'lvis/AR@100': 1.0, 'lvis/AR@300': 1.0,
                           'lvis/AR@1000': 1.0}
    metric = metric_cls(ann_file=fake_json, metric='proposal_fast',
                        proposal_nums=(2, 4))
    assert run(metric) == {'lvis/AR@2': 0.5, 'lvis/AR@4': 1.0}


@BOTH
def test_evaluate_proposal(metric_cls, fake_json):
    metric = metric_cls(ann_file=fake_json, metric='proposal')
    assert run(metric) == {'lvis/AR@300': 1.0, 'lvis/ARs@300': 1.0,
                           'lvis/ARm@300': 1.0, 'lvis/ARl@300': 1.0}


@BOTH
@pytest.mark.parametrize('metric_names', ['bbox', ['bbox', 'segm']])
def test_empty_results(metric_cls, metric_names, fake_json):
    """Float labels, as mmdet's test builds them: an empty result."""
    metric = metric_cls(ann_file=fake_json, metric=metric_names)
    empty = dict(bboxes=torch.zeros((0, 4)), labels=torch.tensor([]),
                 scores=torch.tensor([]),
                 masks=torch.zeros((0, 10, 10), dtype=torch.uint8))
    assert run(metric, empty) == {}


@BOTH
def test_format_only(metric_cls, fake_json, tmp_path):
    with pytest.raises(AssertionError):
        metric_cls(ann_file=fake_json, classwise=False, format_only=True,
                   outfile_prefix=None)
    metric = metric_cls(ann_file=fake_json, metric='bbox', classwise=False,
                        format_only=True, outfile_prefix=f'{tmp_path}/test')
    assert run(metric) == {}
    assert osp.exists(f'{tmp_path}/test.bbox.json')


def test_backend_args_of_a_merged_config_are_accepted(fake_json):
    """A child config's ``dict(type='FastLVISMetric')`` merges into the
    base's LVISMetric dict, which carries ``backend_args``."""
    from mmdet.registry import METRICS
    metric = METRICS.build(dict(type='FastLVISMetric', ann_file=fake_json,
                                metric=['bbox', 'segm'], backend_args=None))
    assert run(metric)['lvis/segm_AP'] == 1.0


# ---------------------------------------------------------------------------
# every argument side by side on generated LVIS data


@pytest.fixture(scope='module')
def lvis_val(tmp_path_factory):
    root = tmp_path_factory.mktemp('lvis')
    return generate_lvis(str(root), num_classes=9, num_train=40, num_val=24,
                         image_size=96, seed=11)['val']


def noisy_samples(ann_file, seed=0, mask_scores=False):
    rng = np.random.default_rng(seed)
    samples = ground_truth_predictions(ann_file, 0.3, seed)
    for sample in samples:
        pred = sample['pred_instances']
        n = len(pred['scores'])
        pred['bboxes'] = pred['bboxes'] + torch.from_numpy(
            rng.normal(0, 4, (n, 4)).astype(np.float32))
        pred['scores'] = torch.from_numpy(rng.random(n).astype(np.float32))
        if mask_scores:
            pred['mask_scores'] = torch.from_numpy(
                rng.random(n).astype(np.float32))
    return samples


def evaluate_both(ann_file, samples, **kwargs):
    results = []
    for metric_cls in CLASSES:
        metric = metric_cls(ann_file=ann_file, **kwargs)
        metric.dataset_meta = dict(classes=tuple(map(str, range(9))))
        metric.process({}, samples)
        results.append(metric.evaluate(size=len(samples)))
    return results


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(metric=['segm', 'bbox']),
    dict(metric=['bbox', 'segm'], classwise=True),
    dict(metric='segm', metric_items=['APr', 'AR@300', 'ARs@300', 'AP50']),
    dict(metric=['bbox', 'proposal', 'segm']),
    dict(metric='bbox', iou_thrs=[0.5, 0.7]),
], ids=['default', 'segm-first', 'classwise', 'metric-items', 'proposal',
        'iou-thrs'])
def test_same_results_for_each_argument(lvis_val, kwargs):
    reference, fast = evaluate_both(lvis_val, noisy_samples(lvis_val),
                                    **kwargs)
    assert list(fast) == list(reference)  # same keys, same order
    for key, value in reference.items():
        assert abs(fast[key] - value) <= 1e-6, (key, fast[key], value)


def test_mask_scores_score_the_masks_as_mmdet_does(lvis_val):
    samples = noisy_samples(lvis_val, seed=2, mask_scores=True)
    reference, fast = evaluate_both(lvis_val, samples,
                                    metric=['bbox', 'segm'])
    assert fast == reference


@pytest.mark.parametrize('format_only', [False, True])
def test_result_files_equal_lvis_metrics(lvis_val, tmp_path, format_only):
    samples = noisy_samples(lvis_val, seed=3)
    for metric_cls in CLASSES:
        metric = metric_cls(ann_file=lvis_val, metric=['bbox', 'segm'],
                            format_only=format_only,
                            outfile_prefix=str(tmp_path / metric_cls.__name__))
        metric.dataset_meta = dict(classes=tuple(map(str, range(9))))
        metric.process({}, samples)
        metric.evaluate(size=len(samples))
    for iou_type in ('bbox', 'segm'):
        assert load(str(tmp_path / f'FastLVISMetric.{iou_type}.json')) == \
            load(str(tmp_path / f'LVISMetric.{iou_type}.json'))


def test_what_rank_0_gathers_is_compact(lvis_val):
    """Per image a few arrays and one bytes buffer of RLEs, no object per
    detection: with LVIS's 300 detections per image, the pickle rank 0
    receives is smaller than LVISMetric's."""
    samples = noisy_samples(lvis_val, seed=4)[:4]
    for sample in samples:
        pred = sample['pred_instances']
        repeat = torch.arange(300) % len(pred['scores'])
        pred.update({k: v[repeat] for k, v in pred.items()})
    sizes = {}
    for metric_cls in CLASSES:
        metric = metric_cls(ann_file=lvis_val, metric=['bbox', 'segm'])
        metric.process({}, samples)
        sizes[metric_cls] = len(pickle.dumps(metric.results))
        if metric_cls is FastLVISMetric:
            result = metric.results[0]
            assert {type(v).__name__ for k, v in result.items()
                    if k != 'img_id'} == {'ndarray', 'PackedRLEs'}
    assert sizes[FastLVISMetric] < sizes[LVISMetric]
