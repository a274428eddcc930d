# Copyright (c) apa_mmdet contributors.
"""mmdet's train/test CLIs on generated LVIS data, end to end."""
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from apa_mmdet.datasets import generate_lvis
from apa_mmdet.testing import CONFIG_ROOT

ROOT = CONFIG_ROOT.parent
TINY = CONFIG_ROOT / 'synthetic' / 'mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'


def write_config(path, data_root, num_classes=12):
    path.write_text(textwrap.dedent(f'''
        _base_ = '{TINY}'
        data_root = '{data_root}/'
        model = dict(roi_head=dict(
            bbox_head=dict(num_classes={num_classes}, loss_cls=dict(
                num_classes={num_classes},
                ann_file=data_root + 'annotations/lvis_v1_train.json')),
            mask_head=dict(num_classes={num_classes})))
        train_dataloader = dict(
            num_workers=0, persistent_workers=False,
            dataset=dict(dataset=dict(data_root=data_root)))
        val_dataloader = dict(
            num_workers=0, persistent_workers=False,
            dataset=dict(data_root=data_root))
        test_dataloader = val_dataloader
        val_evaluator = dict(
            ann_file=data_root + 'annotations/lvis_v1_val.json')
        test_evaluator = val_evaluator
        train_cfg = dict(max_epochs=1, val_interval=1)
        default_hooks = dict(checkpoint=dict(interval=1))
        '''))
    return path


def tool(*args):
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_lvis')
    generate_lvis(str(root), num_train=24, num_val=12, image_size=96)
    return root


def test_train_then_test_reports_lvis_metrics(data_root, tmp_path):
    config = write_config(tmp_path / 'cfg.py', data_root)
    work_dir = tmp_path / 'work'
    train = tool('tools/train.py', config, '--work-dir', work_dir)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    assert 'Epoch(train)' in train.stdout + train.stderr
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file()
    test = tool('tools/test.py', config, checkpoint, '--work-dir', work_dir)
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    metrics = dict(re.findall(r'(lvis/\w+):\s+(-?[\d.]+)',
                              test.stdout + test.stderr))
    for iou_type in ('bbox', 'segm'):
        for key in ('AP', 'APr', 'APc', 'APf'):
            assert f'lvis/{iou_type}_{key}' in metrics
    assert float(metrics['lvis/segm_APr']) >= -1


def test_class_count_mismatch_fails_with_one_clear_error(data_root, tmp_path):
    config = write_config(tmp_path / 'bad.py', data_root, num_classes=10)
    result = tool('tools/train.py', config, '--work-dir', tmp_path / 'w')
    assert result.returncode != 0
    assert re.search(
        rf'num_classes=10 disagrees with {data_root}/annotations/'
        r'lvis_v1_train\.json, which has 12 categories', result.stderr)
