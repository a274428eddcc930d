# Copyright (c) apa_mmdet contributors.
"""FastLVISMetric reports what mmdet's LVISMetric (lvis-api) reports, to
the last digit, and keeps it unrounded."""
from pathlib import Path

import lvis
import numpy as np
import pytest
import torch
from mmdet.evaluation import LVISMetric
from mmdet.evaluation.metrics import lvis_metric
from mmdet.registry import METRICS

from apa_mmdet.datasets.synthetic import generate_lvis
from apa_mmdet.evaluation import FastLVISMetric
from apa_mmdet.testing.predictions import ground_truth_predictions


@pytest.fixture(scope='module')
def lvis_val(tmp_path_factory):
    root = tmp_path_factory.mktemp('lvis')
    return generate_lvis(str(root), num_classes=9, num_train=40, num_val=30,
                         image_size=96, seed=7)['val']


def noisy_predictions(ann_file, seed, extra=0, relabel=0.):
    """Jittered boxes and masks, random scores, duplicates and, for a
    ``relabel`` share of them, random labels (categories that are positive,
    negative, not exhaustive or not evaluated on the image)."""
    rng = np.random.default_rng(seed)
    samples = ground_truth_predictions(ann_file, 0.3, seed)
    for sample in samples:
        pred = sample['pred_instances']
        n = len(pred['scores']) + extra
        index = torch.from_numpy(rng.integers(0, len(pred['scores']), n))
        index[:len(pred['scores'])] = torch.arange(len(pred['scores']))
        pred['bboxes'] = pred['bboxes'][index] + torch.from_numpy(
            rng.normal(0, 3, (n, 4)).astype(np.float32))
        pred['masks'] = torch.roll(pred['masks'][index],
                                   int(rng.integers(-3, 4)), dims=2)
        pred['labels'] = torch.where(
            torch.from_numpy(rng.random(n) < relabel),
            torch.from_numpy(rng.integers(0, 9, n)), pred['labels'][index])
        pred['scores'] = torch.from_numpy(rng.random(n).astype(np.float32))
    return samples


def evaluate(metric, samples, num_classes=9):
    metric.dataset_meta = dict(classes=tuple(range(num_classes)))
    metric.process({}, samples)
    return metric.evaluate(size=len(samples))


class RecordingLVISEval(lvis.LVISEval):
    """lvis-api's evaluator, keeping its results before mmdet rounds them
    (per IoU type, in evaluation order)."""
    unrounded = []

    def summarize(self):
        super().summarize()
        type(self).unrounded.append((self.params.iou_type,
                                     dict(self.results)))


def metrics_of_both_equal(ann_file, samples, monkeypatch, num_classes=9):
    """FastLVISMetric's metrics, checked equal to LVISMetric's as both
    report them (rounded to 3 decimals) and before rounding (1e-9)."""
    RecordingLVISEval.unrounded = []
    monkeypatch.setattr(lvis_metric, 'LVISEval', RecordingLVISEval)
    reference = evaluate(LVISMetric(ann_file=ann_file,
                                    metric=['bbox', 'segm']), samples,
                         num_classes)
    metric = FastLVISMetric(ann_file=ann_file, metric=['bbox', 'segm'])
    fast = evaluate(metric, samples, num_classes)
    assert set(fast) == set(reference)
    for key, value in reference.items():
        assert fast[key] == value, (key, fast[key], value)
    assert [i for i, _ in RecordingLVISEval.unrounded] == ['bbox', 'segm']
    for iou_type, results in RecordingLVISEval.unrounded:
        stats = metric.unrounded[iou_type]['stats']
        assert set(stats) == set(results)
        for key, value in results.items():
            assert stats[key] == pytest.approx(value, abs=1e-9), key
    return fast, metric.unrounded


@pytest.mark.parametrize('seed,extra,relabel', [(0, 0, 0.), (1, 5, 0.),
                                                (2, 320, 0.), (3, 40, 0.7)])
def test_equal_to_lvis_api(lvis_val, seed, extra, relabel, monkeypatch):
    samples = noisy_predictions(lvis_val, seed, extra, relabel)
    fast, unrounded = metrics_of_both_equal(lvis_val, samples, monkeypatch)
    assert 0 < fast['lvis/segm_APr'] < 1
    # the groups' APs are the means of their categories' APs
    for result in unrounded.values():
        ap = result['category_ap']
        for group in 'rcf':
            values = [v for c, v in ap.items()
                      if result['category_frequency'][c] == group
                      and not np.isnan(v)]
            assert np.mean(values) == pytest.approx(
                result['stats'][f'AP{group}'], abs=1e-12)


def test_only_unevaluated_categories_equal_to_lvis_api(lvis_val,
                                                      monkeypatch):
    """Every detection is of a category LVIS ignores on its image."""
    import json
    with open(lvis_val) as f:
        dataset = json.load(f)
    evaluated = {image['id']: set(image['neg_category_ids'])
                 for image in dataset['images']}
    for ann in dataset['annotations']:
        evaluated[ann['image_id']].add(ann['category_id'])
    cat_ids = [c['id'] for c in dataset['categories']]
    samples = noisy_predictions(lvis_val, seed=4, extra=3)
    for sample in samples:
        ignored = [label for label, cat_id in enumerate(cat_ids)
                   if cat_id not in evaluated[sample['img_id']]]
        pred = sample['pred_instances']
        if not ignored:  # every category is evaluated here: no detection
            pred.update({key: value[:0] for key, value in pred.items()})
        pred['labels'] = torch.tensor(ignored[:1] * len(pred['labels']),
                                      dtype=torch.long)
    metrics_of_both_equal(lvis_val, samples, monkeypatch)


@pytest.mark.parametrize('rounds', ['categories', 'empty', 'pairs'])
def test_hundreds_of_categories_in_shuffled_sparse_ids(tmp_path, monkeypatch,
                                                      rounds):
    """More categories than one round evaluates, ids sparse and out of file
    order, negative and not-exhaustive ids remapped with them, in rounds of
    CATEGORIES_PER_ROUND categories, with a round whose categories have no
    detection (``empty``), or in rounds bound by (image, category) pairs
    with categories evaluated nowhere, rounds of them alone included
    (``pairs``): the rounds put together give lvis-api's numbers."""
    import json

    from faster_coco_eval import COCOeval_faster

    from apa_mmdet.evaluation.metrics import fast_lvis_metric
    per_round = fast_lvis_metric.CATEGORIES_PER_ROUND
    num_classes = 2 * per_round + 44
    val = generate_lvis(str(tmp_path / 'set'), num_classes=num_classes,
                        num_train=num_classes, num_val=num_classes,
                        image_size=48,
                        seed=11)['val']
    data = json.loads(Path(val).read_text())
    rng = np.random.default_rng(5)
    new_id = dict(zip((c['id'] for c in data['categories']),
                      (int(i) for i in rng.permutation(
                          np.arange(num_classes) * 7 + 1000))))
    data['categories'] = [dict(c, id=new_id[c['id']])
                          for c in rng.permutation(data['categories'])]
    for ann in data['annotations']:
        ann['category_id'] = new_id[ann['category_id']]
    for image in data['images']:
        for key in ('neg_category_ids', 'not_exhaustive_category_ids'):
            image[key] = [new_id[c] for c in image[key]]
    assert any(image['neg_category_ids'] for image in data['images'])
    assert any(image['not_exhaustive_category_ids']
               for image in data['images'])
    nowhere = set(sorted(new_id.values())[10:20])
    if rounds == 'pairs':  # ten categories in a row evaluated nowhere
        data['annotations'] = [ann for ann in data['annotations']
                               if ann['category_id'] not in nowhere]
        for image in data['images']:
            for key in ('neg_category_ids', 'not_exhaustive_category_ids'):
                image[key] = [c for c in image[key] if c not in nowhere]
    shuffled = tmp_path / 'shuffled.json'
    shuffled.write_text(json.dumps(data))
    samples = ground_truth_predictions(str(shuffled), 0.3, seed=2)
    if rounds == 'empty':  # no detection of the second round's categories
        file_order = [c['id'] for c in data['categories']]
        second = sorted(new_id.values())[per_round:2 * per_round]
        dropped = torch.tensor([file_order.index(c) for c in second])
        for sample in samples:
            pred = sample['pred_instances']
            kept = ~torch.isin(pred['labels'], dropped)
            pred.update({key: value[kept] for key, value in pred.items()})
    if rounds == 'pairs':
        monkeypatch.setattr(fast_lvis_metric, 'CATEGORIES_PER_ROUND', 4)
        monkeypatch.setattr(fast_lvis_metric, 'PAIRS_PER_ROUND', 60)
    made = []
    category_rounds = fast_lvis_metric.category_rounds

    def recorded(*args):
        for round_ids, image_ids in category_rounds(*args):
            made.append((round_ids.tolist(), image_ids))
            yield round_ids, image_ids

    monkeypatch.setattr(fast_lvis_metric, 'category_rounds', recorded)
    scored = []  # (categories, images) each evaluator was given
    evaluate_round = COCOeval_faster.evaluate

    def recorded_evaluate(evaluator):
        scored.append((len(evaluator.params.catIds),
                       len(evaluator.params.imgIds)))
        return evaluate_round(evaluator)

    monkeypatch.setattr(COCOeval_faster, 'evaluate', recorded_evaluate)
    _, unrounded = metrics_of_both_equal(str(shuffled), samples, monkeypatch,
                                         num_classes)
    evaluated = unrounded['bbox']['category_ap']
    assert sorted(evaluated) == sorted(new_id.values())
    assert sum(not np.isnan(ap) for ap in evaluated.values()) > per_round
    assert [c for ids, _ in made for c in ids] == 2 * sorted(new_id.values())
    if rounds == 'pairs':
        assert all(np.isnan(evaluated[c]) for c in nowhere)
        assert any(len(image_ids) == 0 for _, image_ids in made)
        assert all(len(ids) == 1 or len(ids) * len(image_ids) <= 60
                   for ids, image_ids in made)
        assert all(categories == 1 or categories * images <= 60
                   for categories, images in scored)
        assert len(made) > 2 * num_classes / 4
    else:
        assert len(made) == 2 * 3
    assert len(scored) == len(made)


def test_without_ann_file_it_is_lvis_metric(lvis_val):
    """ann_file=None (ground truth from the data samples): the same path
    as LVISMetric's, to the same end: mmdet writes the samples' ground
    truth in COCO format, without the LVIS fields lvis-api needs."""
    import json
    data = json.loads(Path(lvis_val).read_text())
    label_of = {c['id']: i for i, c in enumerate(data['categories'])}
    samples = noisy_predictions(lvis_val, seed=6)
    for sample in samples:
        sample['instances'] = [
            dict(bbox=[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
                       a['bbox'][1] + a['bbox'][3]],
                 bbox_label=label_of[a['category_id']], ignore_flag=0,
                 mask=a['segmentation'])
            for a in data['annotations'] if a['image_id'] == sample['img_id']]
    outcomes = []
    for metric_cls in (LVISMetric, FastLVISMetric):
        try:
            outcomes.append(evaluate(metric_cls(metric=['bbox', 'segm']),
                                     samples))
        except Exception as error:  # mmdet's own path decides
            outcomes.append((type(error), str(error)))
    assert outcomes[0] == outcomes[1]


def test_registered_and_validated(lvis_val):
    metric = METRICS.build(dict(type='FastLVISMetric', ann_file=lvis_val,
                                metric='bbox'))
    assert metric.metrics == ['bbox'] and isinstance(metric, LVISMetric)
    with pytest.raises(KeyError, match='metric should be one of'):
        FastLVISMetric(ann_file=lvis_val, metric=['bbox', 'unknown'])


@pytest.mark.parametrize('enabled', [True, False])
def test_garbage_collector_state_is_restored(enabled):
    import gc

    from apa_mmdet.evaluation.metrics.fast_lvis_metric import \
        cyclic_gc_paused
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError, match='inside'):
            with cyclic_gc_paused():
                assert not gc.isenabled()
                raise RuntimeError('inside')
        assert gc.isenabled() == enabled
    finally:
        gc.enable()
