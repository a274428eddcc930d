# Copyright (c) apa_mmdet contributors.
"""LVIS's numbers from accumulated precision and recall: the summary (AP,
APr, ...) and each category's AP, by lvis-api's rules; and the short table
of them that the demo prints."""
from typing import Dict, Sequence

import numpy as np


def summarize(precision: np.ndarray, recall: np.ndarray,
              iou_thrs: np.ndarray, area_labels: Sequence[str],
              frequencies: np.ndarray) -> Dict[str, float]:
    """LVIS's summary numbers from accumulated precision (T, R, K, A) and
    recall (T, K, A) at one ``maxDets``, by faster-coco-eval's (and
    lvis-api's) rule: the mean over the entries > -1, else -1.

    Args:
        precision, recall: Accumulated, K categories in ``frequencies``'
            order.
        iou_thrs: The T IoU thresholds.
        area_labels: The A area-range labels ('all' first).
        frequencies: Each category's LVIS group, 'r', 'c' or 'f'.

    Returns:
        dict: faster-coco-eval's ``stats_as_dict`` labels of ``KEYS``.
    """
    def mean(values):
        values = values[values > -1]
        return float(np.mean(values)) if values.size else -1.

    def iou(value):
        return np.flatnonzero(np.isclose(iou_thrs, value))

    area = {label: i for i, label in enumerate(area_labels)}
    stats = {'AP_all': mean(precision[..., area['all']]),
             'AP_50': mean(precision[iou(.5)][..., area['all']]),
             'AP_75': mean(precision[iou(.75)][..., area['all']]),
             'AR_all': mean(recall[..., area['all']])}
    for label in ('small', 'medium', 'large'):
        stats[f'AP_{label}'] = mean(precision[..., area[label]])
        stats[f'AR_{label}'] = mean(recall[..., area[label]])
    for group in ('r', 'c', 'f'):
        stats[f'AP{group}'] = mean(
            precision[:, :, frequencies == group, area['all']])
    return stats


def category_ap(precision: np.ndarray) -> np.ndarray:
    """(K,) AP of each category from precision (T, R, K, A) over all areas:
    the mean of its entries > -1, NaN for a category without ground truth.
    The mean of a group's values is that group's AP (APr, APc, APf)."""
    values = precision[..., 0].reshape(-1, precision.shape[2])
    valid = values > -1
    with np.errstate(invalid='ignore'):
        return np.where(valid, values, 0).sum(0) / valid.sum(0)


GROUP_KEYS = ('AP', 'APr', 'APc', 'APf')


def group_table(metrics: Dict[str, Dict[str, float]]) -> str:
    """AP, APr, APc and APf per IoU type (``{'bbox': {'AP': 0.6, ...},
    'segm': {...}}``) as the fixed-width table ``tools/run_demo.py``
    prints and the README shows."""
    lines = [f'{"":6}' + ''.join(f'{k:>8}' for k in GROUP_KEYS)]
    for iou_type in ('bbox', 'segm'):
        lines.append(f'{iou_type:6}' + ''.join(
            f'{metrics.get(iou_type, {}).get(k, float("nan")):8.3f}'
            for k in GROUP_KEYS))
    return '\n'.join(lines) + '\n'
