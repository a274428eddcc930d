# Copyright (c) apa_mmdet contributors.
"""Seed the random generators from the iteration index: exact ``--resume``."""
import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Re-seed Python, NumPy and torch (every device) before each training
    iteration and epoch from ``(seed, rank, iteration)``.

    mmengine resumes weights, optimizer, schedulers and data order, but only
    re-seeds the generators, so RoI sampling and dropout after ``--resume``
    draw other numbers than the uninterrupted run. With this hook the
    numbers drawn in an iteration depend on its index alone, not on the
    history (a validation in between, a restart), so a resumed run repeats
    the uninterrupted one exactly on a deterministic device. Augmentations
    run in data workers that mmengine seeds itself: exact when the
    iteration-based loop replays the data (with ``num_workers > 0``) or
    when epoch-based workers are not persistent. The rank enters the seed
    only with ``randomness=dict(diff_rank_seed=True)``, as in mmengine.
    """

    priority = 'LOWEST'

    def _reseed(self, runner, event: int) -> None:
        diff_rank = (runner.cfg.get('randomness') or {}).get('diff_rank_seed')
        rank = get_rank() if diff_rank else 0
        seed_sequence = np.random.SeedSequence(
            [runner.seed or 0, rank, runner.iter, event])
        seed = int(seed_sequence.generate_state(1)[0])
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def before_train_epoch(self, runner) -> None:
        self._reseed(runner, event=0)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None):
        self._reseed(runner, event=1)
