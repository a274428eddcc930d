# Copyright (c) apa_mmdet contributors.
"""The paper's head ablation in miniature: train one LVIS-format config with
each classification head (and backbone activation), the same seeds for
each, evaluate, and tabulate bbox/segm AP, APr, APc, APf with the spread
over seeds.

Usage: ``python tools/analysis_tools/compare_heads.py [--config CONFIG]
[--data DATA_ROOT] [--heads gumbel sigmoid apa] [--backbones aglu]
[--seeds 0 1] [--work-dir DIR]``

Heads (the LVIS ablation configs' changes, applied to any two-stage
config): ``gumbel`` (the config's own, the official Gumbel head),
``sigmoid`` (sigmoid scores, fc_cls bias -e² for the same initial score),
``apa`` (learnable APA scores, one λ, κ per class), ``softmax`` (softmax
cross-entropy) and ``seesaw`` (mmdet's Seesaw Loss with its normalised
linear classifier). Backbones: ``aglu`` (the config's) and ``relu`` (the
plain SE-ResNet: ReLU, sigmoid SE gate). Each run trains in this process
with mmengine's Runner, then evaluates with its test loop; its metrics are
kept in ``DIR/<backbone>_<head>_seed<S>/metrics.json``, so an interrupted
comparison resumes where it stopped (``--rerun`` retrains; ``--kept-only``
tabulates the runs kept so far and trains none). Writes
``compare_heads.md`` (the table), ``compare_heads.json`` and
``compare_heads.png`` to DIR (default ``work_dirs/compare_heads``).
"""
import argparse
import gc
import json
import os
import os.path as osp
import re
import statistics
import sys
from typing import Callable, Dict, List

from mmengine.config import Config, ConfigDict, DictAction

from apa_mmdet.analysis import saved_figure

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(
    ROOT, 'configs/synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py')
METRICS = ('AP', 'APr', 'APc', 'APf')
METRIC_KEY = re.compile(r'(bbox|segm)_(AP[rcf]?)$')


def _fc_cls_inits(bbox_head: ConfigDict) -> List[ConfigDict]:
    inits = bbox_head.get('init_cfg') or []
    inits = inits if isinstance(inits, list) else [inits]
    return [i for i in inits if i.get('override', {}).get('name') == 'fc_cls']


def sigmoid_head(bbox_head: ConfigDict, num_classes: int) -> None:
    """Sigmoid scores; fc_cls bias -e²: sigmoid(-e²) = Gumbel CDF(-2)."""
    bbox_head.loss_cls.act_cfg = dict(type='Sigmoid')
    for init in _fc_cls_inits(bbox_head):
        init.bias = -7.389


def apa_head(bbox_head: ConfigDict, num_classes: int) -> None:
    """Learnable APA scores, one (λ, κ) per class, from next to Gumbel."""
    bbox_head.loss_cls.act_cfg = dict(type='APA', num_parameters=num_classes,
                                      lambda_init=0.01, kappa_init=1.0)


def softmax_head(bbox_head: ConfigDict, num_classes: int) -> None:
    """Softmax cross-entropy over C + 1 logits."""
    bbox_head.loss_cls = ConfigDict(type='CrossEntropyLoss',
                                    use_sigmoid=False, loss_weight=1.0)


def seesaw_head(bbox_head: ConfigDict, num_classes: int) -> None:
    """mmdet's Seesaw Loss with its normalised linear classifier."""
    bbox_head.cls_predictor_cfg = dict(type='NormedLinear', tempearture=20)
    bbox_head.loss_cls = ConfigDict(type='SeesawLoss', p=0.8, q=2.0,
                                    num_classes=num_classes, loss_weight=1.0)
    bbox_head.init_cfg = None


HEADS: Dict[str, Callable] = dict(
    gumbel=lambda bbox_head, num_classes: None, sigmoid=sigmoid_head,
    apa=apa_head, softmax=softmax_head, seesaw=seesaw_head)


def relu_backbone(backbone: ConfigDict) -> None:
    """The plain SE-ResNet: ReLU everywhere, ReLU/sigmoid SE gate."""
    backbone.act_cfg = dict(type='ReLU', inplace=True)
    backbone.se_cfg = ConfigDict(ratio=16, act_cfg=(dict(type='ReLU'),
                                                    dict(type='Sigmoid')))


BACKBONES: Dict[str, Callable] = dict(aglu=lambda backbone: None,
                                      relu=relu_backbone)


def apply_variant(cfg: Config, head: str, backbone: str) -> None:
    """Switch ``cfg``'s model to a head and backbone of the ablation."""
    bbox_heads = cfg.model.roi_head.bbox_head
    for bbox_head in bbox_heads if isinstance(bbox_heads,
                                              list) else [bbox_heads]:
        HEADS[head](bbox_head, bbox_head.num_classes)
    BACKBONES[backbone](cfg.model.backbone)


def run_config(args, head: str, backbone: str, seed: int,
               work_dir: str) -> Config:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    apply_variant(cfg, head, backbone)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)  # + the Runner's time
    if cfg.get('visualizer'):  # a new one: its backends write to work_dir
        cfg.visualizer.name = cfg.experiment_name
    # one evaluation, by the test loop after training
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    return cfg


def train_and_test(cfg: Config) -> Dict[str, float]:
    """Train ``cfg`` in this process, evaluate it; the LVIS AP metrics."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    runner = (RUNNERS.build(cfg) if 'runner_type' in cfg else
              Runner.from_cfg(cfg))
    runner.train()
    metrics = runner.test()
    del runner
    gc.collect()
    found = {f'{m[1]}_{m[2]}': float(value) for key, value in metrics.items()
             if (m := METRIC_KEY.search(key))}
    if not found:
        raise RuntimeError(f'the test loop reported no LVIS AP metrics '
                           f'({sorted(metrics)}): compare_heads needs an '
                           'LVIS-format evaluator')
    return found


def summarise(results: Dict[str, List[Dict[str, float]]]) -> Dict[str, dict]:
    """Per variant and metric: mean, sample std over seeds, the values."""
    summary = {}
    for variant, runs in results.items():
        summary[variant] = {}
        for key in runs[0]:
            values = [run[key] for run in runs]
            summary[variant][key] = dict(
                mean=statistics.fmean(values),
                std=statistics.stdev(values) if len(values) > 1 else 0.,
                values=values)
    return summary


def table(summary: Dict[str, dict], seeds: List[int]) -> str:
    iou_types = [t for t in ('bbox', 'segm')
                 if any(f'{t}_AP' in row for row in summary.values())]
    header = ['variant'] + [f'{t} {m}' for t in iou_types for m in METRICS]
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    complete = True
    for variant, row in summary.items():
        runs = len(next(iter(row.values()))['values'])
        complete &= runs == len(seeds)
        cells = [variant if runs == len(seeds) else
                 f'{variant} ({runs} of {len(seeds)} seeds)']
        for key in (f'{t}_{m}' for t in iou_types for m in METRICS):
            cell = row.get(key)
            cells.append('–' if cell is None else (
                f'{cell["mean"]:.3f} ± {cell["std"]:.3f}'
                if runs > 1 else f'{cell["mean"]:.3f}'))
        lines.append('| ' + ' | '.join(cells) + ' |')
    spread = ('mean ± sample standard deviation over seeds '
              f'{", ".join(map(str, seeds))}' if len(seeds) > 1 else
              f'seed {seeds[0]}')
    if not complete:
        spread = f'partial: {spread}, over the runs each variant has'
    return '\n'.join(lines) + f'\n\n{spread}\n'


def plot(summary: Dict[str, dict], path: str) -> None:
    """Per IoU type and metric: each variant's mean ± sd (error bar) and
    every seed (dots), side by side; the axis spans the values, not 0–1."""
    import numpy as np
    iou_types = [t for t in ('bbox', 'segm')
                 if any(f'{t}_AP' in row for row in summary.values())]
    variants = list(summary)
    width = 0.8 / len(variants)
    offsets = (np.arange(len(variants)) - (len(variants) - 1) / 2) * width
    with saved_figure(path, 1, len(iou_types),
                      figsize=(6.5 * len(iou_types), 4.8),
                      squeeze=False) as (fig, axes):
        for axis, iou_type in zip(axes[0], iou_types):
            for offset, variant in zip(offsets, variants):
                x = np.arange(len(METRICS)) + offset
                cells = [summary[variant][f'{iou_type}_{m}'] for m in METRICS]
                axis.errorbar(x, [c['mean'] for c in cells],
                              yerr=[c['std'] for c in cells], fmt='o',
                              markersize=6, capsize=4, label=variant)
                for xi, cell in zip(x, cells):
                    axis.plot([xi] * len(cell['values']), cell['values'],
                              'k.', markersize=3)
            axis.set_xticks(np.arange(len(METRICS)))
            axis.set_xticklabels(METRICS)
            axis.set_xlim(-0.5, len(METRICS) - 0.5)
            axis.set_title(f'{iou_type}: mean ± sd (bars), each seed (dots)')
            axis.grid(axis='y', alpha=0.3)
        axes[0][-1].legend(loc='center left', bbox_to_anchor=(1.0, 0.5),
                           fontsize=8)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--data', metavar='DATA_ROOT',
                        help="the data set's root (sets DATA_ROOT)")
    parser.add_argument('--heads', nargs='+', choices=list(HEADS),
                        default=['gumbel', 'sigmoid', 'apa'])
    parser.add_argument('--backbones', nargs='+', choices=list(BACKBONES),
                        default=['aglu'])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    parser.add_argument('--work-dir', default='work_dirs/compare_heads')
    parser.add_argument('--rerun', action='store_true',
                        help='train again runs that have metrics already')
    parser.add_argument('--kept-only', action='store_true',
                        help='train nothing: tabulate the runs kept so far')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        metavar='KEY=VALUE',
                        help='override settings of every run')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.data:
        os.environ['DATA_ROOT'] = osp.join(args.data, '')
    # seed by seed, so that a comparison cut short has every variant
    runs = [(backbone, head, seed) for seed in args.seeds
            for backbone in args.backbones for head in args.heads]
    results: Dict[str, List[Dict[str, float]]] = {}
    for index, (backbone, head, seed) in enumerate(runs, 1):
        name = f'{backbone}_{head}_seed{seed}'
        work_dir = osp.join(args.work_dir, name)
        saved = osp.join(work_dir, 'metrics.json')
        if osp.isfile(saved) and not args.rerun:
            with open(saved) as f:
                metrics = json.load(f)
            sys.stdout.write(f'[{index}/{len(runs)}] {name}: kept {saved}\n')
        elif args.kept_only:
            sys.stdout.write(f'[{index}/{len(runs)}] {name}: not run yet\n')
            continue
        else:
            sys.stdout.write(f'[{index}/{len(runs)}] {name}: training\n')
            sys.stdout.flush()
            metrics = train_and_test(run_config(args, head, backbone, seed,
                                                work_dir))
            with open(saved, 'w') as f:
                json.dump(metrics, f, indent=1)
        results.setdefault(f'{head} head, {backbone} backbone'
                           if len(args.backbones) > 1 else head,
                           []).append(metrics)
    if not results:
        sys.stderr.write(f'compare_heads: no kept runs in {args.work_dir}\n')
        return 1
    summary = summarise(results)
    text = table(summary, args.seeds)
    with open(osp.join(args.work_dir, 'compare_heads.md'), 'w') as f:
        f.write(f'{osp.relpath(args.config, ROOT)}\n\n{text}')
    with open(osp.join(args.work_dir, 'compare_heads.json'), 'w') as f:
        json.dump(dict(config=args.config, seeds=args.seeds, runs=summary),
                  f, indent=1)
    plot(summary, osp.join(args.work_dir, 'compare_heads.png'))
    sys.stdout.write(f'\n{text}tables and plot in {args.work_dir}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
