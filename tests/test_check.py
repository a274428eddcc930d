# Copyright (c) apa_mmdet contributors.
"""python -m apa_mmdet.check (tools/check_install.py) on this machine."""
import subprocess
import sys
from pathlib import Path

from apa_mmdet.datasets.synthetic import generate_lvis

ROOT = Path(__file__).resolve().parents[1]
R50_LVIS = ROOT / 'configs/lvis/mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
TINY_LVIS = ROOT / 'configs/synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'


def check(*args, cwd=ROOT):
    result = subprocess.run(
        [sys.executable, str(ROOT / 'tools/check_install.py'), *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout + result.stderr[-3000:]


def status(output, what):
    """The status word of the first line that reports ``what``."""
    line = next(line for line in output.splitlines()
                if line[8:].startswith(what))
    return line.split()[0]


def test_the_install_checks_out_on_cpu():
    code, out = check()
    assert code == 0, out
    for package in ('torch', 'mmcv', 'mmengine', 'mmdet', 'apa_mmdet'):
        assert f'\n  {package} ' in out
    assert status(out, 'mmcv nms') == status(out, 'mmcv RoIAlign') == 'ok'
    # mmcv has no CPU CARAFE kernel; apa_mmdet's carafe layer runs there
    assert status(out, 'mmcv CARAFE') == 'ok'
    assert status(out, 'APA/AGLU') == 'ok'
    assert 'float32 on the cpu implementation' in out
    assert status(out, 'CPU-sized APA Mask R-CNN training step') == 'ok'
    assert '\neverything checked works\n' in out


def test_the_r50_recipe_without_its_files_fails_and_says_why():
    """The official R50 LVIS recipe's CARAFE runs on the CPU too; its data
    and ImageNet weights are absent here."""
    code, out = check('--config', R50_LVIS)
    assert code == 1
    assert status(out, 'builds its model') == 'ok'
    assert status(out, 'needs mmcv CARAFE') == 'ok'
    assert status(out, 'needs mmcv nms') == 'ok'
    assert 'data/lvis_v1/annotations/lvis_v1_train.json is missing' in out
    assert 'se-r50-apa_in1k_aglu2apa.pth is missing' in out
    summary = next(line for line in out.splitlines() if 'problem(s)' in line)
    assert 'needs mmcv CARAFE' not in summary


def test_a_config_with_its_data_checks_out(tmp_path):
    generate_lvis(str(tmp_path / 'data/synthetic_lvis'), num_train=16,
                  num_val=12, image_size=64)
    code, out = check('--config', TINY_LVIS, cwd=tmp_path)
    assert code == 0, out
    assert status(out, 'training step of its model') == 'ok'
    # one line per file, naming everything that reads it
    assert status(out, 'train annotations, model.roi_head.bbox_head.'
                  'loss_cls class frequencies') == 'ok'
    assert status(out, 'val annotations, test annotations, val_evaluator, '
                  'test_evaluator') == 'ok'
