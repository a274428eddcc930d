# Copyright (c) apa_mmdet contributors.
"""Per-class image frequencies of a training annotation file.

frequency[c] = (images that contain class c) / (images with annotations),
the recipe of the official APA code (its LVIS v1 table divides by the 99,388
distinct image ids of ``lvis_v1_train.json``'s annotations). LVIS files carry
``image_count`` per category; for COCO and V3Det files the images are
counted. Classes are indexed in the order of the file's ``categories``, which
is how mmdet's LVIS, COCO and V3Det datasets assign labels.

Parsing the 1 GB LVIS train file takes tens of seconds, so the result is
cached (a few KB) under ``${APA_MMDET_CACHE:-~/.cache/apa_mmdet}/class_frequency``,
keyed by the file's path, size and modification time.
"""
import hashlib
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import List

import numpy as np


@dataclass(frozen=True)
class ClassFrequency:
    """Class statistics of an annotation file, in label order.

    Attributes:
        ann_file (str): The file they were read from.
        cat_ids (list[int]): Category id of each label.
        image_count (np.ndarray): (C,) images that contain each class.
        num_images (int): Images with at least one annotation.
    """
    ann_file: str
    cat_ids: List[int]
    image_count: np.ndarray
    num_images: int

    @property
    def frequency(self) -> np.ndarray:
        """(C,) image_count / num_images."""
        return self.image_count / max(self.num_images, 1)

    @property
    def num_classes(self) -> int:
        return len(self.cat_ids)


def _cache_path(ann_file: str) -> str:
    stat = os.stat(ann_file)
    key = f'{osp.realpath(ann_file)}:{stat.st_size}:{stat.st_mtime_ns}'
    root = os.environ.get('APA_MMDET_CACHE',
                          osp.join(osp.expanduser('~'), '.cache', 'apa_mmdet'))
    name = hashlib.sha256(key.encode()).hexdigest()[:32] + '.json'
    return osp.join(root, 'class_frequency', name)


def _parse(ann_file: str) -> dict:
    if osp.getsize(ann_file) == 0:
        raise ValueError(f'annotation file {ann_file} is empty')
    try:
        with open(ann_file) as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f'annotation file {ann_file} is not valid JSON: '
                         f'{err}') from None
    if not isinstance(data, dict):
        raise ValueError(f'annotation file {ann_file} must hold a JSON '
                         f'object, not {type(data).__name__}')
    for key in ('categories', 'annotations'):
        if not isinstance(data.get(key), list):
            raise ValueError(f'annotation file {ann_file} has no '
                             f'{key!r} list')
    categories = data['categories']
    if not categories:
        raise ValueError(f'annotation file {ann_file} has no categories')
    cat_ids = [int(c['id']) for c in categories]
    image_sets = {cat_id: set() for cat_id in cat_ids}
    images = set()
    for ann in data['annotations']:
        images.add(ann['image_id'])
        if ann['category_id'] in image_sets:
            image_sets[ann['category_id']].add(ann['image_id'])
    if all('image_count' in c for c in categories):  # LVIS
        image_count = [int(c['image_count']) for c in categories]
    else:
        image_count = [len(image_sets[cat_id]) for cat_id in cat_ids]
    return dict(cat_ids=cat_ids, image_count=image_count,
                num_images=len(images))


def load_class_frequency(ann_file: str) -> ClassFrequency:
    """Read (or take from the cache) the class frequencies of ``ann_file``.

    Args:
        ann_file (str): LVIS, COCO or V3Det-format training annotations.

    Returns:
        ClassFrequency: Counts in label order.

    Raises:
        FileNotFoundError: ``ann_file`` does not exist.
        ValueError: ``ann_file`` is not valid JSON or lacks categories or
            annotations.
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file {ann_file} not found '
                                '(needed for the class frequencies)')
    cache = _cache_path(ann_file)
    try:
        with open(cache) as f:
            stats = json.load(f)
    except (OSError, ValueError):
        stats = _parse(ann_file)
        try:
            os.makedirs(osp.dirname(cache), exist_ok=True)
            partial = f'{cache}.{os.getpid()}'
            with open(partial, 'w') as f:
                json.dump(stats, f)
            os.replace(partial, cache)
        except OSError:
            pass  # a read-only cache only costs time
    return ClassFrequency(
        ann_file=ann_file,
        cat_ids=stats['cat_ids'],
        image_count=np.asarray(stats['image_count'], dtype=np.int64),
        num_images=int(stats['num_images']))
