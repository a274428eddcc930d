# Copyright (c) apa_mmdet contributors.
"""How long-tailed a training set is: images per class, sorted, with
LVIS's frequency groups and the official thresholds as image counts; and
where each class's objects lie (the box-counting dimension of their
centres, which FRACAL's calibration uses), per group.

Usage: ``python tools/analysis_tools/class_frequency.py ANN_FILE [--config
CONFIG | --tail-thr 0.0011 --oversample-thr 1e-3] [--out-dir DIR]``

ANN_FILE is an LVIS, COCO or V3Det-format training annotation file (read
through ``apa_mmdet.datasets.load_class_frequency``, cached). Groups are
LVIS's definitions by training images (rare 1-10, common 11-100, frequent
more): the same as the ``frequency`` field of LVIS's own files. Prints the
group sizes and which classes ``APADropLoss(tail_thr)`` treats as tail and
RFS (``oversample_thr``) oversamples, the official values or a config's;
writes ``class_frequency.png``, ``fractal_dimension.png`` (each class's
dimension against its training images, by group) and
``class_statistics.json`` (per class: id, group, images, objects,
dimension) to DIR (default ``work_dirs/class_frequency``).
"""
import json
import argparse
import os
import os.path as osp
import sys

import numpy as np

from apa_mmdet.analysis import saved_figure
from apa_mmdet.datasets import load_class_frequency

GROUPS = (('r', 'rare (1-10 images)', 10), ('c', 'common (11-100)', 100),
          ('f', 'frequent (> 100)', np.inf))


def groups_of(image_count: np.ndarray) -> np.ndarray:
    """LVIS frequency group ('r', 'c', 'f') of each class."""
    return np.where(image_count <= 10, 'r',
                    np.where(image_count <= 100, 'c', 'f'))


def config_thresholds(config: str) -> tuple:
    """(tail_thr, oversample_thr) of a config: its APADropLoss's and its
    ClassBalancedDataset's; the official values where it has none."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    heads = cfg.model.roi_head.bbox_head
    loss = (heads[0] if isinstance(heads, list) else heads).loss_cls
    dataset = cfg.train_dataloader.dataset
    return (loss.get('tail_thr', 0.0011) if loss.type == 'APADropLoss' else
            0.0011, dataset.get('oversample_thr', 1e-3))


def plot(image_count: np.ndarray, num_images: int, tail_thr: float,
         oversample_thr: float, title: str, path: str) -> None:
    order = np.argsort(-image_count, kind='stable')
    counts = image_count[order]
    groups = groups_of(counts)
    with saved_figure(path, figsize=(10, 4.5)) as (fig, axis):
        for (group, label, _), colour in zip(GROUPS, ('tab:red', 'tab:orange',
                                                      'tab:blue')):
            chosen = np.flatnonzero(groups == group)
            axis.bar(chosen, counts[chosen], width=1.0, color=colour,
                     label=f'{label}: {len(chosen)} classes')
        for threshold, style, label in (
                (tail_thr, '--', 'APADropLoss tail below'),
                (oversample_thr, ':', 'RFS oversamples below')):
            axis.axhline(threshold * num_images, color='k', linestyle=style,
                         label=f'{label} {threshold:g} of {num_images} images '
                         f'({threshold * num_images:.0f})')
        axis.set_yscale('log')
        axis.set_xlabel('class, by training images')
        axis.set_ylabel('training images with the class')
        axis.set_title(title)
        axis.legend(loc='lower left', fontsize=8)
        axis.grid(axis='y', alpha=0.3)


def plot_dimensions(stats, path: str) -> None:
    """Each class's box-counting dimension against its training images,
    coloured by group, with each group's median."""
    groups = groups_of(stats.image_count)
    with saved_figure(path, figsize=(8, 4.5)) as (fig, axis):
        for (group, label, _), colour in zip(GROUPS, ('tab:red', 'tab:orange',
                                                      'tab:blue')):
            chosen = groups == group
            if not chosen.any():
                continue
            median = float(np.median(stats.fractal_dimension[chosen]))
            axis.scatter(stats.image_count[chosen],
                         stats.fractal_dimension[chosen], s=8, alpha=0.6,
                         color=colour,
                         label=f'{label}: median {median:.2f}')
        axis.set_xscale('log')
        axis.set_xlabel('training images with the class')
        axis.set_ylabel('box-counting dimension of the centres')
        axis.set_title('where classes lie: 1 = along a line (or under 4 '
                       'objects), 2 = over the whole image', fontsize=9)
        axis.legend(loc='lower right', fontsize=8)
        axis.grid(alpha=0.3)


def statistics_table(stats) -> list:
    """Per class (label order): id, group, images, objects, dimension."""
    groups = groups_of(stats.image_count)
    dimension = (stats.fractal_dimension if stats.fractal_dimension
                 is not None else [None] * stats.num_classes)
    return [dict(id=cat_id, group=str(group), images=int(images),
                 objects=int(objects),
                 fractal_dimension=None if dim is None else float(dim))
            for cat_id, group, images, objects, dim in zip(
                stats.cat_ids, groups, stats.image_count,
                stats.instance_count, dimension)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('ann_file')
    parser.add_argument('--out-dir', default='work_dirs/class_frequency')
    parser.add_argument('--tail-thr', type=float, default=0.0011,
                        help="APADropLoss's tail_thr (default: official)")
    parser.add_argument('--oversample-thr', type=float, default=1e-3,
                        help='RFS threshold (default: official)')
    parser.add_argument('--config', help="take both thresholds from this "
                        "config's loss and training set")
    args = parser.parse_args(argv)
    if args.config:
        args.tail_thr, args.oversample_thr = config_thresholds(args.config)
    try:
        stats = load_class_frequency(args.ann_file)
    except (FileNotFoundError, ValueError) as err:
        sys.stderr.write(f'class_frequency: {err}\n')
        return 1
    groups = groups_of(stats.image_count)
    tail = stats.frequency < args.tail_thr
    oversampled = stats.frequency < args.oversample_thr
    sys.stdout.write(
        f'{stats.num_classes} classes, {stats.num_images} annotated '
        'training images\n' + ''.join(
            f'{label}: {int((groups == group).sum())}\n'
            for group, label, _ in GROUPS) +
        f'APADropLoss tail (frequency < {args.tail_thr:g}): '
        f'{int(tail.sum())} classes\n'
        f'RFS oversampled (frequency < {args.oversample_thr:g}): '
        f'{int(oversampled.sum())} classes\n')
    os.makedirs(args.out_dir, exist_ok=True)
    path = osp.join(args.out_dir, 'class_frequency.png')
    plot(stats.image_count, stats.num_images, args.tail_thr,
         args.oversample_thr, osp.basename(args.ann_file), path)
    sys.stdout.write(f'plot: {path}\n')
    table = osp.join(args.out_dir, 'class_statistics.json')
    with open(table, 'w') as f:
        json.dump(dict(ann_file=args.ann_file, num_images=stats.num_images,
                       classes=statistics_table(stats)), f, indent=1)
    sys.stdout.write(f'per-class statistics: {table}\n')
    if stats.fractal_dimension is None:
        sys.stdout.write(f'no box-counting dimensions: {stats.missing}\n')
        return 0
    for group, label, _ in GROUPS:
        chosen = groups == group
        if chosen.any():
            sys.stdout.write(
                f'box-counting dimension, {label}: median '
                f'{np.median(stats.fractal_dimension[chosen]):.2f}\n')
    path = osp.join(args.out_dir, 'fractal_dimension.png')
    plot_dimensions(stats, path)
    sys.stdout.write(f'plot: {path}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
