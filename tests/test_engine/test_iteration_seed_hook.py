# Copyright (c) apa_mmdet contributors.
import random
from types import SimpleNamespace

import numpy as np
import torch
from mmengine.registry import HOOKS

import apa_mmdet.engine  # noqa: F401  (registers the hook)


def draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(())))


def fake_runner(iteration, seed=7, diff_rank_seed=False):
    return SimpleNamespace(
        seed=seed, iter=iteration,
        cfg=dict(randomness=dict(seed=seed, diff_rank_seed=diff_rank_seed)))


def test_draws_depend_on_the_iteration_not_the_history():
    hook = HOOKS.build(dict(type='IterationSeedHook'))
    hook.before_train_iter(fake_runner(5), batch_idx=5)
    first = draws()
    draws()  # e.g. a validation in between
    hook.before_train_iter(fake_runner(6), batch_idx=6)
    sixth = draws()
    hook.before_train_iter(fake_runner(5), batch_idx=5)
    assert draws() == first
    assert sixth != first
    hook.before_train_epoch(fake_runner(5))
    assert draws() not in (first, sixth)
    hook.before_train_iter(fake_runner(5, seed=8), batch_idx=5)
    assert draws() != first
