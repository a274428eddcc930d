# Copyright (c) apa_mmdet contributors.
"""What a trained detector's activations see: the input distribution of
every APA/AGLU site, and the RoI classifier's logits and scores of positive
and negative RoIs per LVIS frequency group (rare / common / frequent).

Usage: ``python tools/analysis_tools/activation_stats.py CONFIG CHECKPOINT
[--data DATA_ROOT] [--images 100] [--out-dir DIR]``

Runs the model in inference over the first N images of the config's test
set (``--data`` sets ``DATA_ROOT``, which every data path of this project's
configs follows), with forward hooks on every activation site (every call,
fused SE-block ends included: there the input is x·gate + identity) and on
the RoI classifier. A RoI is a positive of the class of the ground truth it
overlaps with IoU ≥ 0.5, and a negative of every other class. Prints one
table per site (mean, std, skewness, excess kurtosis) and one per frequency
group; writes ``site_input_moments.png``, ``site_input_histograms.png``,
``classifier_scores.png`` and ``activation_stats.json`` to DIR (default
``work_dirs/activation_stats``).
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import sys

import torch
from mmengine.config import DictAction

from apa_mmdet.analysis import (ClassifierRecorder, Histogram,
                                SiteInputRecorder, dataset_ground_truth,
                                frequency_groups, saved_figure)

STAGE_COLOURS = 'tab10'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--data', metavar='DATA_ROOT',
                        help="the data set's root (sets DATA_ROOT; default: "
                        "the config's)")
    parser.add_argument('--images', type=int, default=100,
                        help='images of the test set to run (default 100)')
    parser.add_argument('--device',
                        default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--out-dir', default='work_dirs/activation_stats')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={}, metavar='KEY=VALUE',
                        help='override config settings, as in tools/test.py')
    return parser.parse_args(argv)


def stage_of(site: str, act: str) -> str:
    """Histogram group of a site: backbone stage (stem, layer1..4) or the
    module holding it, and its function (AGLU, or APA for gates/scores)."""
    parts = site.split('.')
    if parts[0] == 'backbone':
        where = parts[1] if parts[1].startswith('layer') else 'stem'
    else:
        where = '.'.join(parts[:2])
    return f'{where} {act.upper()}'


def run_model(args):
    """Build, load and run the model over the images; returns the two
    recorders with their statistics."""
    from mmdet.apis import init_detector
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.runner import Runner
    from mmengine.utils import ProgressBar
    MMLogger.get_instance('activation_stats', log_level='WARNING')
    if args.data:
        os.environ['DATA_ROOT'] = osp.join(args.data, '')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    cfg.test_dataloader.dataset.indices = args.images
    model = init_detector(cfg, args.checkpoint, device=args.device)
    dataloader = Runner.build_dataloader(cfg.test_dataloader)
    dataset = dataloader.dataset
    classifier = None
    if hasattr(model, 'roi_head'):
        classifier = ClassifierRecorder(model.roi_head,
                                        frequency_groups(dataset.ann_file),
                                        dataset_ground_truth(dataset))
    sites = SiteInputRecorder(model)
    progress = ProgressBar(len(dataset), file=sys.stderr)
    with torch.no_grad():
        for data in dataloader:
            outputs = model.test_step(data)
            if classifier is not None:
                classifier.add_batch(outputs)
            for _ in outputs:
                progress.update()
    sys.stderr.write('\n')
    sites.remove()
    if classifier is not None:
        classifier.remove()
    return sites, classifier


def plot_moments(sites, path: str) -> None:
    names = list(sites.sites)
    with saved_figure(path, 4, 1, figsize=(max(8, len(names) * 0.16), 9),
                      sharex=True) as (fig, axes):
        for axis, key, label in zip(
                axes, ('mean', 'std', 'skewness', 'kurtosis'),
            ('mean', 'std', 'skewness', 'excess kurtosis')):
            for act, marker in (('aglu', 'o'), ('apa', 's')):
                chosen = [n for n in names if sites.acts[n] == act]
                axis.plot([names.index(n) for n in chosen], [
                    sites.sites[n].moments.as_dict()[key] for n in chosen
                ], marker, markersize=4, label=f'{act.upper()} sites')
            axis.axhline(0, color='k', linewidth=0.5)
            axis.set_ylabel(label)
            axis.grid(alpha=0.3)
        axes[0].legend(loc='best', fontsize=8)
        axes[0].set_title('input z of every activation site')
        step = max(1, len(names) // 24)
        axes[-1].set_xticks(list(range(len(names)))[::step])
        axes[-1].set_xticklabels(names[::step], rotation=90, fontsize=6)


def plot_histograms(sites, path: str) -> None:
    stages = {}
    for name, stats in sites.sites.items():
        stage = stage_of(name, sites.acts[name])
        histogram = stages.setdefault(stage, Histogram(
            (stats.histogram.low, stats.histogram.high),
            len(stats.histogram.counts)))
        histogram += stats.histogram
    with saved_figure(path, 1, 2, figsize=(13, 5)) as (fig, axes):
        from matplotlib import colormaps
        colours = colormaps[STAGE_COLOURS]
        for axis, act in zip(axes, ('AGLU', 'APA')):
            chosen = [s for s in stages if s.endswith(act)]
            for i, stage in enumerate(chosen):
                histogram = stages[stage]
                density = histogram.counts / max(histogram.counts.sum(), 1)
                axis.stairs(density.numpy(), histogram.edges.numpy(),
                            label=stage, color=colours(i % 10))
            axis.set_yscale('log')
            axis.set_xlabel('input z (clipped to the range at its ends)')
            axis.set_ylabel('fraction of values')
            axis.set_title(f'{act} sites, per stage')
            axis.grid(alpha=0.3)
            if chosen:
                axis.legend(loc='upper right', fontsize=7)


def plot_classifier(stats, title: str, path: str) -> None:
    groups = stats.groups
    with saved_figure(path, 2, len(groups), figsize=(4.5 * len(groups), 7),
                      squeeze=False) as (fig, axes):
        for column, group in enumerate(groups):
            for row, kind in enumerate(stats.KINDS):
                axis = axes[row][column]
                for positive, colour, label in (
                        (True, 'tab:green', 'positive'),
                        (False, 'tab:red', 'negative')):
                    values = stats.stats[(group, kind, positive)]
                    counts = values.histogram.counts
                    axis.stairs((counts / max(counts.sum(), 1)).numpy(),
                                values.histogram.edges.numpy(), color=colour,
                                label=f'{label} ({values.moments.count})')
                axis.set_yscale('log')
                axis.set_title(f'{kind}s, group {group}', fontsize=9)
                axis.set_xlabel(kind)
                axis.grid(alpha=0.3)
                axis.legend(loc='upper center', fontsize=7)
        fig.suptitle(title)


def head_name(head) -> str:
    """The classifier: its loss's class-score module (GumbelClassScore,
    SigmoidClassScore, APAClassScore), else the loss."""
    loss = head.loss_cls
    act = getattr(loss, 'act', None)
    return type(act if isinstance(act, torch.nn.Module) else loss).__name__


def write_report(sites, classifier, out_dir: str) -> dict:
    report = dict(sites={
        name: dict(act=sites.acts[name], calls=sites.calls[name],
                   **stats.moments.as_dict())
        for name, stats in sites.sites.items()
    })
    width = max([len(n) for n in sites.sites] + [4])
    sys.stdout.write(f'{"site":{width}}  act  {"calls":>5}  {"mean":>8}'
                     f'{"std":>8}{"skew":>8}{"kurt":>8}\n')
    for name, row in report['sites'].items():
        sys.stdout.write(
            f'{name:{width}}  {row["act"]:4} {row["calls"]:5d}  '
            f'{row["mean"]:8.3f}{row["std"]:8.3f}{row["skewness"]:8.3f}'
            f'{row["kurtosis"]:8.3f}\n')
    if classifier is not None:
        stats = classifier.stats
        report['classifier'] = dict(head=head_name(classifier.head), groups={
            group: {f'{kind}_{"pos" if positive else "neg"}':
                    stats.stats[(group, kind, positive)].moments.as_dict()
                    for kind in stats.KINDS for positive in (True, False)}
            for group in stats.groups})
        sys.stdout.write(
            f'\nclassifier ({report["classifier"]["head"]} head), RoIs by '
            'IoU >= 0.5: positive (own class) vs negative (other classes)\n'
            f'{"group":6}{"pos":>9}{"neg":>11}{"logit pos":>11}'
            f'{"logit neg":>11}{"score pos":>11}{"score neg":>11}\n')
        for group, row in report['classifier']['groups'].items():
            sys.stdout.write(
                f'{group:6}{row["logit_pos"]["count"]:9d}'
                f'{row["logit_neg"]["count"]:11d}' + ''.join(
                    f'{row[key]["mean"]:11.4f}'
                    for key in ('logit_pos', 'logit_neg', 'score_pos',
                                'score_neg')) + '\n')
    with open(osp.join(out_dir, 'activation_stats.json'), 'w') as f:
        json.dump(report, f, indent=1)
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # stdout: the tables
        sites, classifier = run_model(args)
    os.makedirs(args.out_dir, exist_ok=True)
    write_report(sites, classifier, args.out_dir)
    if sites.sites:
        plot_moments(sites, osp.join(args.out_dir, 'site_input_moments.png'))
        plot_histograms(sites,
                        osp.join(args.out_dir, 'site_input_histograms.png'))
    if classifier is not None:
        plot_classifier(
            classifier.stats, f'{head_name(classifier.head)} head: class '
            'logits and scores of test RoIs (mean in the table)',
            osp.join(args.out_dir, 'classifier_scores.png'))
    sys.stdout.write(f'{len(sites.sites)} sites; plots and '
                     f'activation_stats.json in {args.out_dir}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
