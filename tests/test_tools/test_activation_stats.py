# Copyright (c) apa_mmdet contributors.
"""tools/analysis_tools/activation_stats.py on a generated LVIS set and a
checkpoint of the CPU-sized detector."""
import json
import subprocess
import sys
from pathlib import Path

import torch
from PIL import Image

from apa_mmdet.datasets.synthetic import generate_lvis
from tests.helpers.configs import build_initialised, config_on_data

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools/analysis_tools/activation_stats.py'
CONFIG = ROOT / 'configs/synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'


def test_tables_report_and_pictures(tmp_path):
    data = tmp_path / 'data'
    generate_lvis(str(data), num_train=16, num_val=12, image_size=96)
    model = build_initialised(config_on_data(CONFIG, data))
    checkpoint = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    out = tmp_path / 'out'
    result = subprocess.run(
        [sys.executable, str(TOOL), str(CONFIG), str(checkpoint), '--data',
         str(data), '--images', '6', '--out-dir', str(out), '--cfg-options',
         'test_dataloader.num_workers=0',
         'test_dataloader.persistent_workers=False'],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / 'activation_stats.json').read_text())
    assert len(report['sites']) == 65
    # 6 images in batches of 4: two calls of every site
    assert {site['calls'] for site in report['sites'].values()} == {2}
    assert report['classifier']['head'] == 'GumbelClassScore'
    groups = report['classifier']['groups']
    assert list(groups) == ['r', 'c', 'f']
    rows = result.stdout.splitlines()
    site = rows[1].split()
    assert site[0] == 'backbone.relu' and site[1:3] == ['aglu', '2']
    assert float(site[3]) == round(report['sites']['backbone.relu']['mean'],
                                   3)
    group_rows = {r.split()[0]: r.split()[1:] for r in rows
                  if r[:2] in ('r ', 'c ', 'f ')}
    for group, row in groups.items():
        assert int(group_rows[group][1]) == row['logit_neg']['count'] > 0
    for name in ('site_input_moments.png', 'site_input_histograms.png',
                 'classifier_scores.png'):
        with Image.open(out / name) as image:
            image.load()
            assert min(image.size) >= 400, (name, image.size)
    assert '%' in result.stderr or '/6' in result.stderr  # progress bar
