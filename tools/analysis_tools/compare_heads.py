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
        [--calibrations NAME ...] [--cfg-options KEY=VALUE ...]
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
``--calibrations LogitAdjustment NorCal FRACAL`` tests each run's last
checkpoint again with each test-time calibration of its class scores
(parameters fixed in advance, ``CALIBRATIONS``), a record each
(``…_seed<S>+<NAME>.json``), reported as variants ``<label>+<NAME>``.

A Markdown file's blocks ``<!-- compare_heads ARGS -->`` … ``<!-- /compare_heads
-->`` hold the tables of ``ARGS`` (the arguments above) from the kept
records: ``--update-doc`` writes them (and the plots the blocks name),
``--check-doc`` fails where a block differs from its records.
"""
import argparse
import json
import os
import os.path as osp
import re
import shlex
import sys
import time

from mmengine.config import DictAction

from apa_mmdet.analysis.comparison import report
from apa_mmdet.analysis.comparison_plots import plot, plot_apa_history
from apa_mmdet.analysis.comparison_runs import (CALIBRATIONS,
                                                calibrated_config,
                                                data_variation, kept_records,
                                                last_checkpoint, load_config,
                                                record_path, run_config,
                                                test_only, train_and_test)
from apa_mmdet.datasets.synthetic_long_tail import VARIATIONS
from apa_mmdet.utils import source_commit

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BLOCK = re.compile(r'(<!-- compare_heads (?P<args>[^\n]*?) -->\n)(?P<body>'
                   r'.*?)(<!-- /compare_heads -->)', re.S)


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
    parser.add_argument('--calibrations', nargs='+', default=[],
                        choices=sorted(CALIBRATIONS), metavar='NAME',
                        help='test each run again with these test-time '
                        f'calibrations ({", ".join(sorted(CALIBRATIONS))})')
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
    commit = source_commit(ROOT)
    # seed by seed, so that a comparison cut short has every variant
    plan = [(seed, config) for seed in args.seeds for config in args.configs]
    for index, (seed, config) in enumerate(plan, 1):
        cfg = load_config(config, args.cfg_options)
        path = record_path(args.results, config, cfg, seed)
        name = osp.splitext(osp.basename(path))[0]
        step = f'[{index}/{len(plan)}] {name}'
        work_dir = osp.join(args.work_dir, name)
        if osp.isfile(path) and not args.rerun:
            sys.stdout.write(f'{step}: kept {path}\n')
        elif args.kept_only:
            sys.stdout.write(f'{step}: not run yet\n')
        else:
            sys.stdout.write(f'{step}: training\n')
            sys.stdout.flush()
            _write_record(path, config, cfg, seed, commit, lambda: (
                train_and_test(run_config(cfg, seed, work_dir),
                               args.apa_log_interval)))
        for calibration in args.calibrations:
            calibrated = record_path(args.results, config, cfg, seed,
                                     calibration)
            label = f'{step}+{calibration}'
            if osp.isfile(calibrated) and not args.rerun:
                sys.stdout.write(f'{label}: kept {calibrated}\n')
                continue
            if args.kept_only:
                sys.stdout.write(f'{label}: not run yet\n')
                continue
            sys.stdout.write(f'{label}: testing\n')
            sys.stdout.flush()
            checkpoint = last_checkpoint(work_dir)
            _write_record(
                calibrated, config, cfg, seed, commit,
                lambda: test_only(calibrated_config(
                    cfg, seed, calibration, checkpoint,
                    f'{work_dir}+{calibration}')),
                calibration=CALIBRATIONS[calibration],
                checkpoint=osp.relpath(checkpoint, args.work_dir))
    runs = kept_records(args.configs, args.seeds, args.results,
                        args.cfg_options, args.calibrations)
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


def _write_record(path: str, config: str, cfg, seed: int, commit: str,
                  run, **extra) -> None:
    """Run ``run()`` (the results of a training or a test) and keep its
    record at ``path``: config, seeds, commit, wall time, threads."""
    import torch
    start = time.time()
    results = run()
    record = dict(
        config=osp.relpath(osp.abspath(config), ROOT), seed=seed,
        data_seed=cfg.get('data_seed', 0),
        data_variation=data_variation(cfg), commit=commit,
        wall_time_s=round(time.time() - start, 1),
        threads=torch.get_num_threads(), **extra, **results)
    with open(path, 'w') as f:
        json.dump(record, f, indent=1)


def block_report(arguments: str, write_plot: bool) -> str:
    """The tables of one doc block's ``ARGS`` (their records only)."""
    args = parse_args(shlex.split(arguments) + ['--kept-only'])
    _set_environment(args)
    runs = kept_records(args.configs, args.seeds, args.results,
                        args.cfg_options, args.calibrations)
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
