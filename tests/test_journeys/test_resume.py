# Copyright (c) apa_mmdet contributors.
"""Journey: a user's own epoch-based training run, interrupted, then
``tools/train.py --resume`` with the recipe's own data loading (two workers
and the recipe's ``persistent_workers``, random flips in the workers):
the resumed epoch repeats the uninterrupted one, loss for loss and weight
for weight."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from mmengine.config import Config

from apa_mmdet.datasets.synthetic import generate_lvis
from apa_mmdet.utils import safe_load
from tests.helpers.configs import CONFIG_ROOT

ROOT = CONFIG_ROOT.parent
TINY = CONFIG_ROOT / 'synthetic' / 'mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'
OPTIONS = ['train_cfg.max_epochs=2', 'default_hooks.checkpoint.interval=1',
           'default_hooks.logger.interval=1', 'log_processor.window_size=1',
           'train_dataloader.batch_size=2', 'randomness.deterministic=True']


def train(work_dir, data_root, *extra):
    env = dict(os.environ, DATA_ROOT=str(data_root))
    run = subprocess.run(
        [sys.executable, 'tools/train.py', str(TINY), '--work-dir',
         str(work_dir), '--cfg-options', *OPTIONS, *extra],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout + run.stderr


def logged_losses(work_dir):
    scalars = next(Path(work_dir).glob('*/vis_data/scalars.json'))
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    return {r['iter']: {k: v for k, v in r.items() if k.startswith('loss')}
            for r in records if 'loss' in r}


def test_resumed_epoch_repeats_the_uninterrupted_one(tmp_path):
    loader = Config.fromfile(TINY).train_dataloader
    assert loader.num_workers > 0  # the recipe's settings, unchanged
    data_root = tmp_path / 'data'
    generate_lvis(str(data_root), num_train=12, num_val=12, image_size=64)
    full, resumed = tmp_path / 'full', tmp_path / 'resumed'
    train(full, data_root)
    resumed.mkdir()
    shutil.copy(full / 'epoch_1.pth', resumed / 'epoch_1.pth')
    log = train(resumed, data_root, '--resume',
                str(resumed / 'epoch_1.pth'))
    assert 'resumed epoch: 1' in log

    full_losses, resumed_losses = logged_losses(full), logged_losses(resumed)
    second_epoch = sorted(resumed_losses)
    assert second_epoch and second_epoch[0] > min(full_losses)
    for iteration in second_epoch:
        assert resumed_losses[iteration] == full_losses[iteration], iteration
    final = [safe_load(str(d / 'epoch_2.pth'))['state_dict']
             for d in (full, resumed)]
    assert final[0].keys() == final[1].keys()
    for key in final[0]:
        assert torch.equal(final[0][key], final[1][key]), key
