# Copyright (c) apa_mmdet contributors.
"""The pictures of a comparison's records (see :mod:`.comparison`): each
variant's metrics with their spread, and a learnable APA classifier's λ, κ
over training."""
from typing import Dict, List

from .comparison import METRICS, metric_keys, summarise
from .figures import saved_figure


def plot(runs: Dict[str, List[dict]], path: str) -> None:
    """Per IoU type and metric: each variant's mean ± sd (error bar) and
    every seed (dots), side by side; the axis spans the values, not 0–1."""
    import numpy as np
    keys = metric_keys([r for rs in runs.values() for r in rs])
    iou_types = list(dict.fromkeys(iou for iou, _ in keys))
    width = 0.8 / len(runs)
    offsets = (np.arange(len(runs)) - (len(runs) - 1) / 2) * width
    spread = ('mean ± sd (bars), each seed (dots)'
              if any(len(rs) > 1 for rs in runs.values()) else 'one seed')
    with saved_figure(path, 1, len(iou_types),
                      figsize=(6.5 * len(iou_types), 4.8),
                      squeeze=False) as (fig, axes):
        for axis, iou in zip(axes[0], iou_types):
            for offset, (variant, variant_runs) in zip(offsets, runs.items()):
                summary = summarise(variant_runs)
                x = np.arange(len(METRICS)) + offset
                cells = [summary[iou, m] for m in METRICS]
                axis.errorbar(x, [c['mean'] for c in cells],
                              yerr=[c['std'] for c in cells], fmt='o',
                              markersize=6, capsize=4, label=variant)
                for xi, cell in zip(x, cells):
                    axis.plot([xi] * len(cell['values']), cell['values'],
                              'k.', markersize=3)
            axis.set_xticks(np.arange(len(METRICS)))
            axis.set_xticklabels(METRICS)
            axis.set_xlim(-0.5, len(METRICS) - 0.5)
            axis.set_title(f'{iou}: {spread}')
            axis.grid(axis='y', alpha=0.3)
        axes[0][-1].legend(loc='center left', bbox_to_anchor=(1.0, 0.5),
                           fontsize=8)


def plot_apa_history(runs: Dict[str, List[dict]], path: str) -> bool:
    """The learnable APA classifiers' λ and κ over training: per frequency
    group the median (line) and quartiles (band) of the classes' values,
    one colour per group, a line style per run; beside them, where the
    records have them, the rate λ and κ learn at and how many classes' λ is
    at or below the floor. False if no run has a history."""
    histories = [(f'{variant} seed {run["seed"]}',
                  run['apa_classifier']['history'])
                 for variant, variant_runs in runs.items()
                 for run in variant_runs
                 if run.get('apa_classifier', {}).get('history')]
    if not histories:
        return False
    colours = dict(r='tab:red', c='tab:orange', f='tab:blue')
    styles = ('-', '--', ':', '-.', (0, (5, 1)), (0, (1, 1)),
              (0, (3, 1, 1, 1, 1, 1)))
    if len(histories) > len(styles):
        raise ValueError(f'{len(histories)} runs with a learnable APA '
                         f'classifier: one plot tells {len(styles)} apart')
    rates = any('lr' in history[0] for _, history in histories)
    panels = 3 if rates else 2
    with saved_figure(path, 1, panels,
                      figsize=(6 * panels, 4.5)) as (fig, axes):
        for axis, name, symbol in zip(axes, ('lambda', 'kappa'), 'λκ'):
            for (label, history), style in zip(histories, styles):
                steps = [h['iter'] for h in history]
                for group, colour in colours.items():
                    if group not in history[0][name]:
                        continue
                    q1, median, q3 = zip(*(h[name][group] for h in history))
                    axis.plot(steps, median, linestyle=style, color=colour,
                              label=f'{label}, {group}')
                    axis.fill_between(steps, q1, q3, color=colour,
                                      alpha=0.12)
            axis.set_xlabel('iteration')
            axis.set_title(f'classifier {symbol} per class: median and '
                           'quartiles by frequency group', fontsize=9)
            axis.grid(alpha=0.3)
        axes[0].set_yscale('log')
        axes[1].legend(loc='best', fontsize=6)
        if rates:
            _plot_rates(axes[2], histories, styles, colours)
    return True


def _plot_rates(axis, histories, styles, colours) -> None:
    """The rate of λ, κ (black, left axis) and the classes at the floor
    per group (colours, right axis) of each run."""
    floor_axis = axis.twinx()
    for (label, history), style in zip(histories, styles):
        if 'lr' not in history[0]:
            continue
        steps = [h['iter'] for h in history]
        axis.plot(steps, [h['lr'] for h in history], linestyle=style,
                  color='k', label=f'{label}, rate')
        for group, colour in colours.items():
            if group in history[0].get('at_floor', {}):
                floor_axis.plot(steps, [h['at_floor'][group]
                                        for h in history], linestyle=style,
                                color=colour, alpha=0.6)
    floor_axis.set_ylim(0, max(1., floor_axis.get_ylim()[1]))
    axis.set_xlabel('iteration')
    axis.set_ylabel('learning rate of λ, κ')
    floor_axis.set_ylabel('classes with λ at or below the floor (colours)')
    axis.set_title('the rate λ, κ learn at; classes at the floor',
                   fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(loc='center right', fontsize=6)
