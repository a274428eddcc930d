# Copyright (c) apa_mmdet contributors.
"""Gather distributed evaluation results in the work directory."""
import os.path as osp

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SharedCollectDirHook(Hook):
    """Point every metric that gathers on CPU to
    ``<work_dir>/.dist_test/<run timestamp>``.

    mmengine's ``collect_results_cpu`` has each rank write its results to
    ``.dist_test/`` of the directory it was launched from unless the metric
    names a ``collect_dir``; nodes launched from different directories then
    cannot gather. The work directory is the one every node shares (it holds
    the checkpoints; give it as an absolute path, ``--work-dir``, when nodes
    start in different directories), so before each validation and test
    this hook sets the ``collect_dir`` of every metric that has none, one
    per run (the timestamp is the same on every rank), so that two jobs
    sharing a work directory do not mix their parts.
    """

    priority = 'VERY_HIGH'

    def _point(self, runner, evaluator) -> None:
        for metric in evaluator.metrics:
            if metric.collect_device == 'cpu' and metric.collect_dir is None:
                metric.collect_dir = osp.join(runner.work_dir, '.dist_test',
                                              runner.timestamp)

    def before_val(self, runner) -> None:
        self._point(runner, runner.val_loop.evaluator)

    def before_test(self, runner) -> None:
        self._point(runner, runner.test_loop.evaluator)
