# Copyright (c) apa_mmdet contributors.
"""mmdet's train/test CLIs on generated LVIS data, end to end."""
import os
import re
import subprocess
import sys
import textwrap

import pytest

from apa_mmdet.datasets.synthetic import generate_lvis
from tests.helpers.configs import CONFIG_ROOT

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
    # every class is in the validation split: APr is measured, not -1
    for key, value in metrics.items():
        if key.endswith(('_AP', '_APr', '_APc', '_APf')):
            assert 0 <= float(value) <= 1, (key, value)

    assert "type='FastLVISMetric'" in test.stdout + test.stderr

    # the README's line back to lvis-api, in a child: the same numbers
    lvis_api = tmp_path / 'lvis_api.py'
    lvis_api.write_text("_base_ = './cfg.py'\n" + lvis_api_line())
    test = tool('tools/test.py', lvis_api, checkpoint, '--work-dir',
                work_dir)
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    assert "type='LVISMetric'" in test.stdout + test.stderr
    assert dict(re.findall(r'(lvis/\w+):\s+(-?[\d.]+)',
                           test.stdout + test.stderr)) == metrics


def lvis_api_line():
    """README.md's one line that takes an LVIS config back to lvis-api."""
    readme = (ROOT / 'README.md').read_text()
    (line, ) = [line for line in readme.splitlines()
                if line.startswith('val_evaluator = test_evaluator')]
    return line + '\n'


def test_class_count_mismatch_fails_with_one_clear_error(data_root, tmp_path):
    config = write_config(tmp_path / 'bad.py', data_root, num_classes=10)
    result = tool('tools/train.py', config, '--work-dir', tmp_path / 'w')
    assert result.returncode != 0
    assert re.search(
        rf'num_classes=10 disagrees with {data_root}/annotations/'
        r'lvis_v1_train\.json, which has 12 categories', result.stderr)


@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh'])
def test_launchers_run_the_projects_venv_by_default(script, tmp_path):
    """Without PYTHON, the launchers use .venv/bin/python (which has the
    stack), not whichever ``python`` comes first on the PATH."""
    venv_python = ROOT / '.venv' / 'bin' / 'python'
    if not venv_python.exists():
        pytest.skip('no .venv in this checkout')
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\necho wrong python >&2; exit 3\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    env['PATH'] = f'{tmp_path}{os.pathsep}{env["PATH"]}'
    args = [str(TINY), '1'] if script == 'dist_train.sh' else [
        str(TINY), 'none.pth', '1']
    result = subprocess.run(['bash', f'tools/{script}', *args, '--help'],
                            cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'usage:' in result.stdout and 'wrong python' not in result.stderr


def test_slurm_scripts_take_mmdets_arguments():
    for script in ('slurm_train.sh', 'slurm_test.sh', 'slurm_run.sh'):
        assert subprocess.run(['bash', '-n', f'tools/{script}'],
                              cwd=ROOT).returncode == 0
    text = (ROOT / 'tools' / 'slurm_test.sh').read_text()
    assert 'PARTITION JOB_NAME CONFIG CHECKPOINT' in text
