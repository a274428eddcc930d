# Copyright (c) apa_mmdet contributors.
"""Runs of one experiment compared: each variant's mean ± sd over seeds,
paired per-seed differences against a reference variant, and a bootstrap
interval over a frequency group's categories.

A run is the record ``tools/analysis_tools/compare_heads.py`` keeps (JSON):
``seed``, ``metrics`` (``{iou_type: {'AP': .., 'APr': .., ...}}``, not
rounded), ``category_ap`` (``{iou_type: {category id: AP}}``) and
``category_frequency`` (``{category id: 'r' | 'c' | 'f'}``).
"""
import itertools
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

IOU_TYPES = ('bbox', 'segm')
METRICS = ('AP', 'APr', 'APc', 'APf')


def variant_labels(stems: Sequence[str]) -> List[str]:
    """Each config name without the ``_``-separated parts that every one
    shares: ``a_sigmoid-cls_b``, ``a_b`` -> ``sigmoid-cls``, ``base``."""
    parts = [stem.split('_') for stem in stems]
    shared = set.intersection(*map(set, parts)) if len(parts) > 1 else set(
        parts[0])
    return ['_'.join(p for p in part if p not in shared) or 'base'
            for part in parts]


def metric_keys(runs: Sequence[dict]) -> List[Tuple[str, str]]:
    """(iou_type, metric) pairs that every run has, in table order."""
    return [(iou, m) for iou in IOU_TYPES for m in METRICS
            if all(m in run['metrics'].get(iou, {}) for run in runs)]


def summarise(runs: Sequence[dict]) -> Dict[Tuple[str, str], dict]:
    """Per (iou_type, metric): mean, sample sd (0 for one run) and the
    values, in the runs' order."""
    summary = {}
    for iou, metric in metric_keys(runs):
        values = [run['metrics'][iou][metric] for run in runs]
        summary[iou, metric] = dict(
            mean=statistics.fmean(values),
            std=statistics.stdev(values) if len(values) > 1 else 0.,
            values=values)
    return summary


def contrast(terms: Sequence[Tuple[int, Sequence[dict]]], iou_type: str,
             metric: str) -> Tuple[Dict[int, float], np.ndarray]:
    """A signed sum of variants, Σ w · ``metric``(variant) over ``terms``
    ((w, runs) pairs, e.g. (+1, variant), (-1, reference)), on the seeds
    that every variant has: ({seed: value}, (K,) the same sum per category
    of ``metric``'s group (AP: all) averaged over those seeds). Categories
    without an AP in some run (no ground truth) are left out; the mean of
    the (K,) values is the mean over the seeds of the metric's sum."""
    by_seed = [{run['seed']: run for run in runs} for _, runs in terms]
    seeds = sorted(set.intersection(*(set(runs) for runs in by_seed)))
    weights = [weight for weight, _ in terms]
    per_seed = {seed: sum(w * runs[seed]['metrics'][iou_type][metric]
                          for w, runs in zip(weights, by_seed))
                for seed in seeds}
    if not seeds:
        return per_seed, np.zeros(0)
    group = metric[-1] if metric in ('APr', 'APc', 'APf') else None
    frequency = by_seed[0][seeds[0]]['category_frequency']
    ids = [cat for cat, g in frequency.items() if group in (None, g)]
    values = np.array([[sum(w * runs[seed]['category_ap'][iou_type][cat]
                            for w, runs in zip(weights, by_seed))
                        for cat in ids] for seed in seeds], dtype=float)
    return per_seed, values[:, ~np.isnan(values).any(0)].mean(0)


def bootstrap_interval(values: np.ndarray, samples: int = 10000,
                       level: float = 0.95,
                       seed: int = 0) -> Tuple[float, float]:
    """Percentile interval of the mean of ``values`` resampled with
    replacement ``samples`` times (a fixed generator: the same interval
    each time)."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values),
                                (samples, len(values)))].mean(1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _cell(cell: dict, runs: int) -> str:
    return (f'{cell["mean"]:.3f} ± {cell["std"]:.3f}' if runs > 1 else
            f'{cell["mean"]:.3f}')


def summary_table(runs_by_variant: Dict[str, List[dict]],
                  seeds: Sequence[int]) -> str:
    """Markdown: per variant each metric's mean ± sd over its seeds; a
    variant short of ``seeds`` says how many it has."""
    keys = metric_keys([r for runs in runs_by_variant.values()
                        for r in runs])
    lines = ['| variant | ' + ' | '.join(f'{i} {m}' for i, m in keys) + ' |',
             '|' + '---|' * (len(keys) + 1)]
    for variant, runs in runs_by_variant.items():
        summary = summarise(runs)
        name = variant if len(runs) == len(seeds) else (
            f'{variant} ({len(runs)} of {len(seeds)} seeds)')
        lines.append(f'| {name} | ' + ' | '.join(
            _cell(summary[key], len(runs)) for key in keys) + ' |')
    return '\n'.join(lines) + '\n'


def differences_table(runs_by_variant: Dict[str, List[dict]],
                      metric: str = 'APr', samples: int = 10000) -> str:
    """Markdown: each variant against the first, on ``metric`` (AP, APr,
    APc or APf) per IoU type: the difference per paired seed, their mean,
    and the 95 % bootstrap interval of that mean over the metric's
    categories (all, or the frequency group's), resampled."""
    (reference_name, reference), *others = runs_by_variant.items()
    iou_types = [i for i, m in metric_keys(
        [r for runs in runs_by_variant.values() for r in runs]) if
        m == metric]
    header = ['variant − ' + reference_name]
    for iou in iou_types:
        header += [f'Δ {iou} {metric} per seed',
                   f'Δ {iou} {metric} [95 % interval]']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, runs in others:
        cells = [name]
        for iou in iou_types:
            per_seed, diffs = contrast([(1, runs), (-1, reference)], iou,
                                       metric)
            if not per_seed:
                break
            cells.append(', '.join(f'{d:+.3f} (seed {seed})'
                                   for seed, d in per_seed.items()))
            cells.append(_interval_cell(diffs, samples))
        else:
            lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def _interval_cell(values: np.ndarray, samples: int) -> str:
    low, high = bootstrap_interval(values, samples)
    return f'{values.mean():+.3f} [{low:+.3f}, {high:+.3f}]'


def factorial_table(runs_by_cell: Dict[Tuple[str, str], List[dict]],
                    rows: Sequence[str], columns: Sequence[str],
                    metric: str = 'APr', samples: int = 10000) -> str:
    """Markdown, one table per IoU type: a 2 × 2 experiment on ``metric``.
    ``runs_by_cell[row, column]`` are the runs of each combination of the
    two levels of ``rows`` (r0, r1) and ``columns`` (c0, c1). Cells: mean
    ± sd over seeds; margins: each factor's effect at each level of the
    other (second level − first); corner: their interaction
    (r1c1 − r1c0) − (r0c1 − r0c0). Effects are paired per seed and given
    as their mean, 95 % bootstrap interval over the group's categories and
    per-seed values."""
    (r0, r1), (c0, c1) = rows, columns
    runs = [r for cell in runs_by_cell.values() for r in cell]
    lines = []
    for iou in [i for i, m in metric_keys(runs) if m == metric]:

        def effect(*terms):
            per_seed, values = contrast(
                [(w, runs_by_cell[cell]) for w, cell in terms], iou, metric)
            return (_interval_cell(values, samples) + ' (' + ', '.join(
                f'{v:+.3f}' for v in per_seed.values()) + ')')

        lines += [f'| {iou} {metric} | {c0} | {c1} | {c1} − {c0} |',
                  '|---|---|---|---|']
        for row in rows:
            cells = [summarise(runs_by_cell[row, c])[iou, metric]
                     for c in columns]
            lines.append(f'| {row} | ' + ' | '.join(
                _cell(c, len(c['values'])) for c in cells) + ' | ' +
                effect((1, (row, c1)), (-1, (row, c0))) + ' |')
        lines.append(f'| {r1} − {r0} | ' + ' | '.join(
            effect((1, (r1, c)), (-1, (r0, c))) for c in columns) + ' | ' +
            effect((1, (r1, c1)), (-1, (r1, c0)), (-1, (r0, c1)),
                   (1, (r0, c0))) + ' |\n')
    return '\n'.join(lines)


def report(runs: Dict[str, List[dict]], seeds: List[int],
           grid: Optional[tuple] = None) -> str:
    """The summary table and, with two variants or more, the differences
    against the first on APr and AP, or with ``grid`` (rows, columns) and
    runs of all four variants (in the configs' order, row by row) the 2 × 2
    tables on APr and AP."""
    text = summary_table(runs, seeds)
    factorial = bool(grid) and len(runs) == 4
    if factorial:
        rows, columns = grid
        cells = dict(zip(itertools.product(rows, columns), runs.values()))
    for metric in ('APr', 'AP') if len(runs) > 1 else ():
        text += '\n' + (factorial_table(cells, rows, columns, metric)
                        if factorial else differences_table(runs, metric))
    spread = ('mean ± sample standard deviation over seeds '
              f'{", ".join(map(str, seeds))}' if len(seeds) > 1 else
              f'seed {seeds[0]}')
    if len(runs) == 1:
        return text + f'\n{spread}.\n'
    if factorial:
        return text + (
            f'\n{spread}; effects: the second level − the first, paired on '
            'the same seed and data: their mean, its 95 % bootstrap interval '
            "over the group's categories (10,000 resamples) and, in "
            "parentheses, each seed's; interaction (corner): the columns' "
            'effect in the second row − in the first.\n')
    return text + (
        f'\n{spread}; Δ: variant − {next(iter(runs))} on the same seed and '
        'data, per seed, then their mean and its 95 % bootstrap interval '
        "over the group's categories (10,000 resamples).\n")
