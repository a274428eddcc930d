# Copyright (c) apa_mmdet contributors.
"""tools/analysis_tools/apa_params.py on an official-format checkpoint."""
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.helpers.official_se_resnet import official_state_dict

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'analysis_tools' / 'apa_params.py'


@pytest.fixture(scope='module')
def official_file(tmp_path_factory):
    """The official ImageNet layout (module. prefix, 'model' wrapper) plus
    a per-class APA score site, as a learnable-APA head has."""
    state = official_state_dict(seed=2)
    state['relu.lambda_param'] = torch.tensor([1e-6])  # below the floor
    state['loss_cls.act.lambda_param'] = torch.linspace(0.01, 0.05, 11)
    state['loss_cls.act.kappa_param'] = torch.linspace(0.5, 1.5, 11)
    path = tmp_path_factory.mktemp('apa') / 'official.pth'
    torch.save(dict(model={f'module.{k}': v for k, v in state.items()}),
               path)
    return path, state


def test_table_and_pictures(official_file, tmp_path):
    path, state = official_file
    result = subprocess.run([sys.executable, str(TOOL), str(path),
                             '--out-dir', str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split()[0]: line.split()[1:]
            for line in result.stdout.splitlines()[1:-1]}
    assert len(rows) == 65 + 1  # SE-R50: stem + 16 blocks x 4; the head
    assert list(rows)[:3] == ['relu', 'layer1.0.unirect1',
                              'layer1.0.unirect2']
    assert rows['relu'] == ['aglu', '0.0001',
                            f'{state["relu.kappa_param"].item():.4f}']
    assert rows['layer1.0.se.uniact'][0] == 'apa'
    kappa = state['layer2.1.unirect3.kappa_param'].item()
    assert rows['layer2.1.unirect3'][2] == f'{kappa:.4f}'
    assert rows['loss_cls.act'] == ['apa', '0.0300', '[0.0100,', '0.0500]',
                                    '1.0000', '[0.5000,', '1.5000]']
    summary = json.loads((tmp_path / 'apa_params.json').read_text())['sites']
    assert list(summary) == list(rows)
    assert summary['loss_cls.act'] == pytest.approx(dict(
        act='apa', lambda_min=0.01, lambda_median=0.03, lambda_max=0.05,
        kappa_min=0.5, kappa_median=1.0, kappa_max=1.5))
    assert summary['relu']['lambda_max'] == pytest.approx(1e-4)
    for name in ('lambda_kappa_over_depth.png', 'activation_curves.png'):
        with Image.open(tmp_path / name) as image:
            image.load()
            assert min(image.size) >= 400, image.size


def test_config_decides_each_sites_function():
    tool = runpy.run_path(str(TOOL), run_name='apa_params')
    acts = tool['config_acts'](str(
        ROOT / 'configs/lvis/mask-rcnn_se-r50-apa_fpn_apa-cls_sample1e-3_'
        'ms-2x_lvis-v1.py'))
    assert acts['backbone.layer1.0.unirect1'] == 'aglu'
    assert acts['layer1.0.se.uniact'] == 'apa'
    assert acts['roi_head.bbox_head.loss_cls.act'] == 'apa'


def test_a_checkpoint_without_apa_is_refused(tmp_path):
    path = tmp_path / 'plain.pth'
    torch.save(dict(state_dict=dict(weight=torch.zeros(2))), path)
    result = subprocess.run([sys.executable, str(TOOL), str(path)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1
    assert 'has no APA/AGLU parameters' in result.stderr
