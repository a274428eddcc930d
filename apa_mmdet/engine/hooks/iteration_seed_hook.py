# Copyright (c) apa_mmdet contributors.
"""Seed the random generators from the iteration index: exact ``--resume``."""
import numpy as np
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner.utils import set_random_seed


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Re-seed Python, NumPy and torch (every device) before each training
    iteration and epoch from ``(seed, iteration)``, with mmengine's
    ``set_random_seed`` (which adds the rank under
    ``randomness=dict(diff_rank_seed=True)``).

    mmengine resumes weights, optimizer, schedulers and data order, but only
    re-seeds the generators, so RoI sampling and dropout after ``--resume``
    draw other numbers than the uninterrupted run. With this hook the
    numbers drawn in an iteration depend on its index alone, not on the
    history (a validation in between, a restart), so a resumed run repeats
    the uninterrupted one exactly on a deterministic device. Augmentations
    run in data workers that mmengine seeds when they start: exact when the
    iteration-based loop replays the data (with ``num_workers > 0``) or
    when epoch-based workers are not persistent (the LVIS and COCO recipes
    set ``persistent_workers=False``: persistent workers carry their
    generators from one epoch to the next, a resumed run's do not).
    """

    priority = 'LOWEST'

    def _reseed(self, runner, event: int) -> None:
        randomness = runner.cfg.get('randomness') or {}
        seed_sequence = np.random.SeedSequence(
            [runner.seed or 0, runner.iter, event])
        # 31 bits: room for the rank that set_random_seed may add
        seed = int(seed_sequence.generate_state(1)[0] >> 1)
        set_random_seed(
            seed, diff_rank_seed=randomness.get('diff_rank_seed', False))

    def before_train_epoch(self, runner) -> None:
        self._reseed(runner, event=0)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None):
        self._reseed(runner, event=1)
