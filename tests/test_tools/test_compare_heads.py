# Copyright (c) apa_mmdet contributors.
"""tools/analysis_tools/compare_heads.py: its variants are the LVIS ablation
configs' changes; a two-iteration comparison on generated data tabulates,
plots and resumes."""
import json
import re
import runpy
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config
from PIL import Image

from apa_mmdet.datasets.synthetic import generate_lvis

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools/analysis_tools/compare_heads.py'
LVIS = ROOT / 'configs/lvis'
RECIPE = 'mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
ABLATIONS = dict(
    sigmoid='mask-rcnn_se-r50-apa_fpn_sigmoid-cls_sample1e-3_ms-2x_lvis-v1.py',
    apa='mask-rcnn_se-r50-apa_fpn_apa-cls_sample1e-3_ms-2x_lvis-v1.py',
    softmax='mask-rcnn_se-r50-apa_fpn_softmax-ce_sample1e-3_ms-2x_lvis-v1.py',
    seesaw='mask-rcnn_se-r50-apa_fpn_seesaw-loss_sample1e-3_ms-2x_lvis-v1.py',
    gumbel=RECIPE)


@pytest.fixture(scope='module')
def tool():
    return runpy.run_path(str(TOOL), run_name='compare_heads')


@pytest.mark.parametrize('head', sorted(ABLATIONS))
def test_each_head_is_its_lvis_ablation_config(tool, head):
    cfg = Config.fromfile(LVIS / RECIPE)
    tool['apply_variant'](cfg, head, 'aglu')
    expected = Config.fromfile(LVIS / ABLATIONS[head])
    assert cfg.model.to_dict() == expected.model.to_dict()


def test_relu_backbone_is_the_plain_se_ablation(tool):
    cfg = Config.fromfile(LVIS / RECIPE)
    tool['apply_variant'](cfg, 'gumbel', 'relu')
    expected = Config.fromfile(
        LVIS / 'mask-rcnn_se-r50_fpn_sample1e-3_ms-2x_lvis-v1.py').model
    expected.backbone.init_cfg = cfg.model.backbone.init_cfg  # weights
    assert cfg.model.to_dict() == expected.to_dict()


def test_two_iteration_comparison_tabulates_plots_and_resumes(tmp_path):
    data = tmp_path / 'data'
    generate_lvis(str(data), num_train=8, num_val=12, image_size=96)
    out = tmp_path / 'out'
    loader = ('dataloader.num_workers=0', 'dataloader.persistent_workers=False')
    command = [
        sys.executable, str(TOOL), '--data', str(data), '--heads', 'gumbel',
        'sigmoid', '--seeds', '0', '1', '--work-dir', str(out),
        '--cfg-options', 'train_cfg.max_epochs=1',
        'train_dataloader.dataset.oversample_thr=0',
        *[f'{split}_{option}' for split in ('train', 'test')
          for option in loader]]
    result = subprocess.run(command, capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    # 8 images in batches of 4: 2 iterations each
    assert len(re.findall(r'Epoch\(train\) +\[1\]\[2/2\]', result.stdout)) == 4
    summary = json.loads((out / 'compare_heads.json').read_text())['runs']
    assert list(summary) == ['gumbel', 'sigmoid']
    for head in summary:
        runs = [json.loads((out / f'aglu_{head}_seed{seed}' /
                            'metrics.json').read_text()) for seed in (0, 1)]
        assert set(runs[0]) == {f'{t}_{m}' for t in ('bbox', 'segm')
                                for m in ('AP', 'APr', 'APc', 'APf')}
        cell = summary[head]['segm_APf']
        values = [run['segm_APf'] for run in runs]
        assert cell['values'] == values
        assert cell['mean'] == pytest.approx(statistics.fmean(values))
        assert cell['std'] == pytest.approx(statistics.stdev(values))
        assert (f'| {head} | {summary[head]["bbox_AP"]["mean"]:.3f} ± '
                f'{summary[head]["bbox_AP"]["std"]:.3f} |') in result.stdout
    assert 'over seeds 0, 1' in (out / 'compare_heads.md').read_text()
    with Image.open(out / 'compare_heads.png') as image:
        image.load()
        assert min(image.size) >= 400
    again = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count(': kept ') == 4
    assert 'Epoch(train)' not in again.stdout
    # a comparison cut short: a third seed never run is tabulated as such
    partial = subprocess.run(
        [*command[:command.index('--seeds') + 1], '0', '1', '2',
         *command[command.index('--work-dir'):], '--kept-only'],
        capture_output=True, text=True, cwd=ROOT)
    assert partial.returncode == 0, partial.stderr[-3000:]
    assert partial.stdout.count(': not run yet') == 2
    assert '| gumbel (2 of 3 seeds) |' in partial.stdout
    assert 'partial: mean ± sample standard deviation' in partial.stdout
