# Copyright (c) apa_mmdet contributors.
"""Train each of several configs on one data set (the variants of one
experiment, e.g. the LVIS ablation configs or the long-tail benchmark's
deltas) with the same seeds, evaluate, and compare them: mean ± sd over
seeds, and each against the first config: paired per-seed differences and
a bootstrap interval over the rare categories.

Usage::

    python tools/analysis_tools/compare_heads.py CONFIG [CONFIG ...]
        [--seeds 0 1] [--results DIR] [--work-dir DIR] [--data DATA_ROOT]
        [--data-seed S] [--data-variation hard] [--rerun | --kept-only]
        [--plot PNG] [--apa-plot PNG] [--grid R0,R1 C0,C1]
        [--cfg-options KEY=VALUE ...]
    python tools/analysis_tools/compare_heads.py --update-doc FILE.md
    python tools/analysis_tools/compare_heads.py --check-doc FILE.md

Each run trains in this process with mmengine's Runner and its config's
test loop evaluates it (an LVIS-format evaluator: ``FastLVISMetric``, whose
unrounded numbers are kept). Its record, ``DIR/<config>_data<D>_seed<S>.json``
(config, seed, data seed ``D``, commit, wall time, threads, metrics per
IoU type and frequency group, per-category AP, each category's group, and
for a learnable APA classifier its λ, κ per class at the end and per group
over training), is what every table is computed from; a comparison cut
short resumes from the records (``--rerun`` trains again, ``--kept-only``
trains nothing). ``--data-seed S`` sets ``LT_DATA_SEED`` and
``--data-variation hard`` ``LT_VARIATION``, with which the long-tail
configs pick their generated set (records of the hard variant are named
``…_data<D>-hard_seed<S>.json``). Four configs of a 2 × 2 experiment, in
the order R0C0 R0C1 R1C0 R1C1, with ``--grid R0,R1 C0,C1`` (the two
factors' level names) add the 2 × 2 tables: each factor's effect at each
level of the other and their interaction, paired per seed.

A Markdown file's blocks ``<!-- compare_heads ARGS -->`` … ``<!-- /compare_heads
-->`` hold the tables of ``ARGS`` (the arguments above) from the kept
records: ``--update-doc`` writes them (and the plots the blocks name),
``--check-doc`` fails where a block differs from its records.
"""
import argparse
import copy
import gc
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import Config, DictAction

from apa_mmdet.analysis.comparison import (differences_table,
                                           factorial_table, summary_table,
                                           variant_labels)
from apa_mmdet.analysis.comparison_plots import plot, plot_apa_history
from apa_mmdet.datasets.synthetic_long_tail import VARIATIONS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BLOCK = re.compile(r'(<!-- compare_heads (?P<args>[^\n]*?) -->\n)(?P<body>'
                   r'.*?)(<!-- /compare_heads -->)', re.S)


def config_stem(config: str) -> str:
    return osp.splitext(osp.basename(config))[0]


def load_config(config: str, cfg_options: Optional[dict]) -> Config:
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def data_variation(cfg: Config) -> str:
    """The long-tail set's variation ('none' for other configs)."""
    return cfg.get('data_variation') or 'none'


def record_path(results: str, config: str, cfg: Config, seed: int) -> str:
    """<config>_data<D>[-<variation>]_seed<S>.json in ``results``."""
    variation = data_variation(cfg)
    data = f'{cfg.get("data_seed", 0)}' + (
        '' if variation == 'none' else f'-{variation}')
    return osp.join(results,
                    f'{config_stem(config)}_data{data}_seed{seed}.json')


def run_config(cfg: Config, seed: int, work_dir: str) -> Config:
    """``cfg`` for one run: ``seed``, its own work dir, one evaluation (by
    the test loop after training)."""
    cfg = copy.deepcopy(cfg)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)  # + the Runner's time
    if cfg.get('visualizer'):  # a new one: its backends write to work_dir
        cfg.visualizer.name = cfg.experiment_name
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    return cfg


def _commit() -> str:
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT,
                              capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain',
                                '--untracked-files=no'], cwd=ROOT,
                               capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'
    return head + ('+uncommitted' if dirty.strip() else '')


def _classifier_apa(model):
    """The bbox head's learnable APA classifier activation (per class), or
    None."""
    from mmengine.model import is_model_wrapper

    from apa_mmdet.models.layers import APA
    model = model.module if is_model_wrapper(model) else model
    for module in model.roi_head.modules():
        if isinstance(module, APA) and module.num_parameters > 1:
            return module
    return None


def apa_quartiles(apa, groups: List[str]) -> dict:
    """Per frequency group, the quartiles of the classes' λ (as used,
    floored) and κ: ``{'lambda': {'r': [q1, median, q3], ...}, 'kappa':
    ...}``."""
    import numpy as np
    lam, kappa = apa_values(apa)
    groups = np.array(groups)
    return {name: {g: np.percentile(values[groups == g], [25, 50, 75]).tolist()
                   for g in 'rcf' if (groups == g).any()}
            for name, values in (('lambda', lam), ('kappa', kappa))}


def apa_values(apa):
    """(λ as used, κ) of each class, as float64 arrays."""
    from apa_mmdet.ops import LAMBDA_MIN
    return (apa.lambda_param.detach().clamp(min=LAMBDA_MIN).double().numpy(),
            apa.kappa_param.detach().double().numpy())


def train_and_test(cfg: Config, apa_interval: int) -> dict:
    """Train ``cfg`` in this process, evaluate it; the record's results:
    unrounded metrics, per-category AP, each category's group and, for a
    learnable APA classifier, its λ, κ (per class at the end, per group
    every ``apa_interval`` iterations)."""
    from mmengine.hooks import Hook
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from apa_mmdet.analysis import frequency_groups
    groups = frequency_groups(cfg.test_evaluator.ann_file)
    history = []

    class APAHistory(Hook):
        priority = 'LOW'

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            apa = _classifier_apa(runner.model)
            if apa is not None and self.every_n_train_iters(
                    runner, apa_interval):
                history.append(dict(iter=runner.iter + 1,
                                    **apa_quartiles(apa, groups)))

    runner = (RUNNERS.build(cfg) if 'runner_type' in cfg else
              Runner.from_cfg(cfg))
    runner.register_hook(APAHistory())
    runner.train()
    runner.test()
    evaluator = runner.test_evaluator.metrics[0]
    if not getattr(evaluator, 'unrounded', None):
        raise RuntimeError(
            'compare_heads needs an evaluator that keeps its unrounded LVIS '
            f'results (FastLVISMetric); the test loop has '
            f'{type(evaluator).__name__}')
    unrounded = evaluator.unrounded
    results = dict(
        metrics={iou: result['stats'] for iou, result in unrounded.items()},
        category_ap={iou: {str(c): ap for c, ap in
                           result['category_ap'].items()}
                     for iou, result in unrounded.items()},
        category_frequency={
            str(c): group for c, group in
            next(iter(unrounded.values()))['category_frequency'].items()})
    apa = _classifier_apa(runner.model)
    if apa is not None:
        lam, kappa = apa_values(apa)
        results['apa_classifier'] = dict(
            lambda_=lam.tolist(), kappa=kappa.tolist(), history=history)
    del runner
    gc.collect()
    return results


def kept_runs(args) -> Dict[str, List[dict]]:
    """Per variant label, the records of ``args.seeds`` kept so far."""
    labels = variant_labels([config_stem(c) for c in args.configs])
    runs = {}
    for label, config in zip(labels, args.configs):
        cfg = load_config(config, args.cfg_options)
        runs[label] = []
        for seed in args.seeds:
            path = record_path(args.results, config, cfg, seed)
            if osp.isfile(path):
                with open(path) as f:
                    runs[label].append(json.load(f))
    return {label: r for label, r in runs.items() if r}


def report(runs: Dict[str, List[dict]], seeds: List[int],
           grid: Optional[tuple] = None) -> str:
    """The summary table and, with two variants or more, the differences
    against the first on APr and AP, or with ``grid`` (rows, columns) and
    runs of all four variants (in the configs' order, row by row) the 2 × 2
    tables on APr and AP."""
    text = summary_table(runs, seeds)
    factorial = bool(grid) and len(runs) == 4
    for metric in ('APr', 'AP') if len(runs) > 1 else ():
        if factorial:
            rows, columns = grid
            cells = dict(zip([(r, c) for r in rows for c in columns],
                             runs.values()))
            text += '\n' + factorial_table(cells, rows, columns, metric)
        else:
            text += '\n' + differences_table(runs, metric)
    spread = ('mean ± sample standard deviation over seeds '
              f'{", ".join(map(str, seeds))}' if len(seeds) > 1 else
              f'seed {seeds[0]}')
    if len(runs) == 1:
        return text + f'\n{spread}.\n'
    if factorial:
        return text + (
            f'\n{spread}; effects: the second level − the first on the same '
            'seed and data, their mean, its 95 % bootstrap interval over the '
            "group's categories (10,000 resamples) and (per seed); "
            'interaction: the columns\' effect in the second row − in the '
            'first.\n')
    return text + (
        f'\n{spread}; Δ: variant − {next(iter(runs))} on the same seed and '
        'data, per seed, then their mean and its 95 % bootstrap interval '
        "over the group's categories (10,000 resamples).\n")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='*', metavar='CONFIG',
                        help='the variants; the first is the reference')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    parser.add_argument('--work-dir', default='work_dirs/compare_heads',
                        help="the runs' work dirs (checkpoints, logs)")
    parser.add_argument('--results',
                        help='where the records are kept (default: the '
                        'work dir)')
    parser.add_argument('--data', metavar='DATA_ROOT',
                        help="the data set's root (sets DATA_ROOT)")
    parser.add_argument('--data-seed', type=int,
                        help='the generated set of the long-tail configs '
                        '(sets LT_DATA_SEED)')
    parser.add_argument('--data-variation', choices=VARIATIONS,
                        help="the long-tail set's variation (sets "
                        'LT_VARIATION)')
    runs = parser.add_mutually_exclusive_group()
    runs.add_argument('--rerun', action='store_true',
                      help='train again runs that have records')
    runs.add_argument('--kept-only', action='store_true',
                      help='train nothing: report the records kept so far')
    parser.add_argument('--plot', metavar='PNG',
                        help='the plot (default: compare_heads.png in the '
                        'work dir)')
    parser.add_argument('--apa-plot', metavar='PNG',
                        help="the learnable APA classifiers' λ, κ over "
                        'training (runs that have them)')
    parser.add_argument('--apa-log-interval', type=int, default=100,
                        help="iterations between two records of a learnable "
                        "APA classifier's λ, κ")
    parser.add_argument('--grid', nargs=2, metavar=('R0,R1', 'C0,C1'),
                        help='the four CONFIGs are a 2 × 2 experiment, row '
                        'by row: the two levels of each factor')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        metavar='KEY=VALUE',
                        help='override settings of every run')
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument('--update-doc', metavar='FILE',
                      help="write the tables of FILE's compare_heads blocks "
                      'from the records')
    docs.add_argument('--check-doc', metavar='FILE',
                      help="fail where FILE's compare_heads blocks differ "
                      'from the records')
    args = parser.parse_args(argv)
    if not args.configs and not (args.update_doc or args.check_doc):
        parser.error('give the CONFIGs to compare (or --update-doc / '
                     '--check-doc FILE)')
    if args.grid:
        args.grid = tuple(tuple(levels.split(',')) for levels in args.grid)
        if len(args.configs) != 4 or any(len(levels) != 2
                                         for levels in args.grid):
            parser.error('--grid R0,R1 C0,C1 takes two levels per factor '
                         f'and four CONFIGs, got {args.grid} and '
                         f'{len(args.configs)} CONFIGs')
    args.results = args.results or args.work_dir
    args.plot = args.plot or osp.join(args.work_dir, 'compare_heads.png')
    return args


def _set_environment(args) -> None:
    if args.data:
        os.environ['DATA_ROOT'] = osp.join(args.data, '')
    if args.data_seed is not None:
        os.environ['LT_DATA_SEED'] = str(args.data_seed)
    if args.data_variation is not None:
        os.environ['LT_VARIATION'] = args.data_variation


def compare(args) -> int:
    _set_environment(args)
    os.makedirs(args.results, exist_ok=True)
    # the code this process runs: the tree's when it started
    commit = _commit()
    # seed by seed, so that a comparison cut short has every variant
    plan = [(seed, config) for seed in args.seeds for config in args.configs]
    for index, (seed, config) in enumerate(plan, 1):
        cfg = load_config(config, args.cfg_options)
        path = record_path(args.results, config, cfg, seed)
        name = osp.splitext(osp.basename(path))[0]
        step = f'[{index}/{len(plan)}] {name}'
        if osp.isfile(path) and not args.rerun:
            sys.stdout.write(f'{step}: kept {path}\n')
            continue
        if args.kept_only:
            sys.stdout.write(f'{step}: not run yet\n')
            continue
        sys.stdout.write(f'{step}: training\n')
        sys.stdout.flush()
        import torch
        start = time.time()
        results = train_and_test(
            run_config(cfg, seed, osp.join(args.work_dir, name)),
            args.apa_log_interval)
        record = dict(
            config=osp.relpath(osp.abspath(config), ROOT), seed=seed,
            data_seed=cfg.get('data_seed', 0),
            data_variation=data_variation(cfg), commit=commit,
            wall_time_s=round(time.time() - start, 1),
            threads=torch.get_num_threads(), **results)
        with open(path, 'w') as f:
            json.dump(record, f, indent=1)
    runs = kept_runs(args)
    if not runs:
        sys.stderr.write(f'compare_heads: no records in {args.results}\n')
        return 1
    text = report(runs, args.seeds, args.grid)
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'compare_heads.md'), 'w') as f:
        f.write(text)
    plot(runs, args.plot)
    if args.apa_plot:
        plot_apa_history(runs, args.apa_plot)
    sys.stdout.write(f'\n{text}\ntables in {args.work_dir}, plot '
                     f'{args.plot}\n')
    return 0


def block_report(arguments: str, write_plot: bool) -> str:
    """The tables of one doc block's ``ARGS`` (their records only)."""
    args = parse_args(shlex.split(arguments) + ['--kept-only'])
    _set_environment(args)
    runs = kept_runs(args)
    if not runs:
        raise FileNotFoundError(f'no records in {args.results} for '
                                f'compare_heads {arguments}')
    if write_plot and '--plot' in arguments:
        plot(runs, args.plot)
    if write_plot and args.apa_plot:
        plot_apa_history(runs, args.apa_plot)
    return report(runs, args.seeds, args.grid)


def update_doc(path: str, check: bool) -> int:
    with open(path) as f:
        text = f.read()
    blocks = list(BLOCK.finditer(text))
    if not blocks:
        sys.stderr.write(f'compare_heads: {path} has no '
                         '"<!-- compare_heads ARGS -->" block\n')
        return 1
    environment = dict(os.environ)
    stale, pieces, last = [], [], 0
    for block in blocks:
        body = block_report(block['args'], write_plot=not check)
        os.environ.clear()
        os.environ.update(environment)
        if body != block['body']:
            stale.append(block['args'])
        pieces += [text[last:block.start('body')], body]
        last = block.end('body')
    if check:
        for arguments in stale:
            sys.stderr.write(f'{path}: the block "compare_heads {arguments}"'
                             ' differs from its records (--update-doc)\n')
        return 1 if stale else 0
    with open(path, 'w') as f:
        f.write(''.join(pieces) + text[last:])
    sys.stdout.write(f'{path}: {len(blocks)} blocks written, '
                     f'{len(stale)} changed\n')
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.update_doc or args.check_doc:
        return update_doc(args.update_doc or args.check_doc,
                          check=bool(args.check_doc))
    return compare(args)


if __name__ == '__main__':
    sys.exit(main())
