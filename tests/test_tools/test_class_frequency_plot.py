# Copyright (c) apa_mmdet contributors.
"""tools/analysis_tools/class_frequency.py on a generated long-tailed set:
the groups, the tail and RFS classes as the config's thresholds make
them, and the picture."""
import collections
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from apa_mmdet.datasets.synthetic_long_tail import generate_lvis_long_tail

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools/analysis_tools/class_frequency.py'


def test_groups_thresholds_and_picture(tmp_path):
    paths = generate_lvis_long_tail(str(tmp_path / 'data'), num_classes=30,
                                    max_frequent_images=130, image_size=32,
                                    val_images_per_class=1)
    # each class's training images, counted here from the file
    data = json.loads(Path(paths['train']).read_text())
    images = collections.defaultdict(set)
    for ann in data['annotations']:
        images[ann['category_id']].add(ann['image_id'])
    annotated = len(set().union(*images.values()))
    frequency = np.array([len(images[c['id']]) / annotated
                          for c in data['categories']])
    tail, rfs = (int((frequency < thr).sum()) for thr in (0.05, 0.01))
    assert 0 < rfs < tail < 30  # both lines can tell a wrong count
    result = subprocess.run(
        [sys.executable, str(TOOL), paths['train'], '--tail-thr', '0.05',
         '--oversample-thr', '0.01', '--out-dir', str(tmp_path / 'out')],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == f'30 classes, {annotated} annotated training images'
    # LVIS v1's shares of 30 classes: 8 rare, 10 frequent, 12 common
    assert lines[1:4] == ['rare (1-10 images): 8', 'common (11-100): 12',
                          'frequent (> 100): 10']
    assert lines[4] == f'APADropLoss tail (frequency < 0.05): {tail} classes'
    assert lines[5] == f'RFS oversampled (frequency < 0.01): {rfs} classes'
    for picture in ('class_frequency.png', 'fractal_dimension.png'):
        with Image.open(tmp_path / 'out' / picture) as image:
            image.load()
            assert min(image.size) >= 400
    # the per-class table: the file's own counts, a dimension per class
    table = json.loads((tmp_path / 'out/class_statistics.json').read_text())
    objects = collections.Counter(a['category_id']
                                  for a in data['annotations'])
    assert [(c['id'], c['images'], c['objects']) for c in table['classes']] \
        == [(c['id'], len(images[c['id']]), objects[c['id']])
            for c in data['categories']]
    dims = np.array([c['fractal_dimension'] for c in table['classes']])
    assert ((dims >= 1) & (dims <= 2)).all() and (dims > 1).any()
    assert lines[8].startswith('box-counting dimension, rare (1-10 images)')


def test_thresholds_come_from_the_config():
    import runpy
    tool = runpy.run_path(str(TOOL), run_name='class_frequency')
    tail, oversample = tool['config_thresholds'](str(
        ROOT / 'configs/synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-'
        'lvis-lt.py'))
    assert round(tail * 2307, 1) == 109.3 and round(oversample * 2307) == 99
    official = tool['config_thresholds'](str(
        ROOT / 'configs/lvis/mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_'
        'lvis-v1.py'))
    assert official == (0.0011, 1e-3)
