# Copyright (c) apa_mmdet contributors.
"""Runs of one experiment compared: each variant's mean ± sd over seeds,
paired per-seed differences against a reference variant, and a bootstrap
interval over a frequency group's categories.

A run is the record ``tools/analysis_tools/compare_heads.py`` keeps (JSON):
``seed``, ``metrics`` (``{iou_type: {'AP': .., 'APr': .., ...}}``, not
rounded), ``category_ap`` (``{iou_type: {category id: AP}}``) and
``category_frequency`` (``{category id: 'r' | 'c' | 'f'}``).
"""
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


def paired_seeds(reference: Sequence[dict],
                 variant: Sequence[dict]) -> List[Tuple[dict, dict]]:
    """(reference run, variant run) of each seed both have, by seed."""
    by_seed = {run['seed']: run for run in reference}
    return [(by_seed[run['seed']], run)
            for run in sorted(variant, key=lambda r: r['seed'])
            if run['seed'] in by_seed]


def group_differences(pairs: Sequence[Tuple[dict, dict]], iou_type: str,
                      group: Optional[str]) -> np.ndarray:
    """(K,) per category of ``group`` ('r', 'c', 'f'; None: all):
    AP(variant) - AP(reference), each the mean over the paired seeds;
    categories that lack an AP in any run (no ground truth) are left out.
    Their mean is the mean over the seeds of the group's AP difference."""
    frequency = pairs[0][0]['category_frequency']
    ids = [cat for cat, g in frequency.items() if group in (None, g)]
    diffs = np.array([[run['category_ap'][iou_type][cat] -
                       ref['category_ap'][iou_type][cat] for cat in ids]
                      for ref, run in pairs], dtype=float)
    return diffs[:, ~np.isnan(diffs).any(0)].mean(0)


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
    group = metric[-1] if metric in ('APr', 'APc', 'APf') else None
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
        pairs = paired_seeds(reference, runs)
        if not pairs:
            continue
        cells = [name]
        for iou in iou_types:
            per_seed = [run['metrics'][iou][metric] -
                        ref['metrics'][iou][metric] for ref, run in pairs]
            cells.append(', '.join(f'{d:+.3f} (seed {run["seed"]})'
                                   for d, (_, run) in zip(per_seed, pairs)))
            diffs = group_differences(pairs, iou, group)
            low, high = bootstrap_interval(diffs, samples)
            cells.append(f'{diffs.mean():+.3f} [{low:+.3f}, {high:+.3f}]')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'
