# Copyright (c) apa_mmdet contributors.
"""mmdet's LVISMetric works end to end on NumPy 2 (the fixed lvis-api)."""
import pytest
from mmdet.evaluation import LVISMetric

from apa_mmdet.datasets.synthetic import generate_lvis
from apa_mmdet.testing.predictions import ground_truth_predictions


@pytest.fixture(scope='module')
def lvis_val(tmp_path_factory):
    root = tmp_path_factory.mktemp('lvis')
    paths = generate_lvis(str(root), num_classes=9, num_train=40, num_val=18,
                          image_size=96, seed=3)
    return paths['val']


def evaluate(ann_file, samples):
    metric = LVISMetric(ann_file=ann_file, metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=tuple(str(i) for i in range(9)))
    metric.process({}, samples)
    return metric.evaluate(size=len(samples))


def test_lvis_metric_reports_ap_and_apr(lvis_val):
    results = evaluate(lvis_val, ground_truth_predictions(lvis_val))
    for iou_type in ('bbox', 'segm'):
        for key in ('AP', 'APr', 'APc', 'APf'):
            # perfect boxes; rasterised masks match their polygons closely
            assert results[f'lvis/{iou_type}_{key}'] > 0.95, (iou_type, key)


def test_lvis_metric_drops_with_wrong_labels(lvis_val):
    perfect = evaluate(lvis_val, ground_truth_predictions(lvis_val))
    noisy = evaluate(lvis_val, ground_truth_predictions(lvis_val, corrupt_labels=0.4))
    assert 0 <= noisy['lvis/segm_AP'] < perfect['lvis/segm_AP'] - 0.1
    assert -1 < noisy['lvis/segm_APr'] < 1


def test_installed_lvis_api_is_the_fixed_build():
    from importlib.metadata import distribution
    dist = distribution('lvis')
    requires = ' '.join(dist.requires or [])
    assert 'opencv-python-headless' in requires
    assert 'opencv-python ' not in requires + ' '
    import lvis.eval
    source = open(lvis.eval.__file__).read()
    assert 'np.float)' not in source
