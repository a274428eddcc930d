# Copyright (c) apa_mmdet contributors.
"""The main job on a fresh machine: LVIS-format evaluation on generated data.

Generates a small long-tailed LVIS v1-format data set (if missing), turns its
validation objects into detections with a share of wrong labels, evaluates
them with mmdet's ``LVISMetric`` (bbox and segm, through the fixed lvis-api)
and prints AP, APr, APc and APf. Training the SE-R50-APA Mask R-CNN on the
same data joins this job once the detector configs exist.

Usage: ``python tools/run_demo.py [--data-root data/synthetic_lvis]``
"""
import argparse
import os.path as osp

from mmdet.evaluation import LVISMetric
from mmengine.logging import MMLogger

from apa_mmdet.datasets import generate_lvis
from apa_mmdet.testing import ground_truth_predictions


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic_lvis')
    parser.add_argument('--corrupt-labels', type=float, default=0.3,
                        help='share of detections given a wrong class')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    MMLogger.get_instance('apa_mmdet', log_level='WARNING')

    val_file = osp.join(args.data_root, 'annotations', 'lvis_v1_val.json')
    if not osp.isfile(val_file):
        print(f'generating the synthetic LVIS v1 set in {args.data_root}')
        generate_lvis(args.data_root, seed=args.seed)
    samples = ground_truth_predictions(val_file, args.corrupt_labels,
                                       args.seed)
    metric = LVISMetric(ann_file=val_file, metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=None)
    metric.process({}, samples)
    results = metric.evaluate(size=len(samples))

    print(f'\nLVIS evaluation of {len(samples)} images, '
          f'{args.corrupt_labels:.0%} of labels corrupted')
    print(f'{"":6}' + ''.join(f'{k:>8}' for k in ('AP', 'APr', 'APc', 'APf')))
    for iou_type in ('bbox', 'segm'):
        print(f'{iou_type:6}' + ''.join(
            f'{results[f"lvis/{iou_type}_{k}"]:8.3f}'
            for k in ('AP', 'APr', 'APc', 'APf')))


if __name__ == '__main__':
    main()
