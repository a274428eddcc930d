# Copyright (c) apa_mmdet contributors.
"""Detections made from ground truth, to exercise evaluation without a model."""
import json
from typing import Iterator, List

import numpy as np
import pycocotools.mask as mask_utils
import torch


def ground_truth_predictions(ann_file: str,
                             corrupt_labels: float = 0.0,
                             seed: int = 0) -> List[dict]:
    """:func:`iter_ground_truth_predictions` as a list."""
    return list(iter_ground_truth_predictions(ann_file, corrupt_labels,
                                              seed))


def iter_ground_truth_predictions(ann_file: str,
                                  corrupt_labels: float = 0.0,
                                  seed: int = 0) -> Iterator[dict]:
    """Turn an LVIS/COCO-format file's objects into mmdet predictions,
    one image at a time (at LVIS's image sizes a whole set's masks would
    not fit in memory).

    Args:
        ann_file (str): LVIS or COCO-format annotation JSON.
        corrupt_labels (float): Share of objects given the next class's label
            instead of their own. Defaults to 0.
        seed (int): Seed of the corruption. Defaults to 0.

    Yields:
        dict: One data sample per image, as mmdet's metrics'
        ``process`` takes them: ``img_id``, ``ori_shape`` and
        ``pred_instances`` with ``bboxes`` (K, 4) xyxy, ``scores`` (K,),
        ``labels`` (K,) (contiguous, in the file's category order, as
        mmdet's LVIS and COCO data sets number them) and boolean
        ``masks`` (K, H, W).
    """
    rng = np.random.default_rng(seed)
    with open(ann_file) as f:
        data = json.load(f)
    label_of = {c['id']: i for i, c in enumerate(data['categories'])}
    by_image = {image['id']: [] for image in data['images']}
    for ann in data['annotations']:
        by_image[ann['image_id']].append(ann)
    for image in data['images']:
        anns = by_image[image['id']]
        h, w = image['height'], image['width']
        labels = np.array([label_of[a['category_id']] for a in anns], int)
        wrong = rng.random(len(anns)) < corrupt_labels
        labels[wrong] = (labels[wrong] + 1) % len(label_of)
        boxes = np.array([a['bbox'] for a in anns], np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        masks = np.zeros((len(anns), h, w), dtype=bool)
        for i, ann in enumerate(anns):
            rle = mask_utils.merge(
                mask_utils.frPyObjects(ann['segmentation'], h, w))
            masks[i] = mask_utils.decode(rle).astype(bool)
        yield dict(
            img_id=image['id'],
            ori_shape=(h, w),
            pred_instances=dict(
                bboxes=torch.from_numpy(boxes),
                scores=torch.linspace(0.9, 0.5, len(anns)),
                labels=torch.from_numpy(labels),
                masks=torch.from_numpy(masks)))
