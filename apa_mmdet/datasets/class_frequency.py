# Copyright (c) apa_mmdet contributors.
"""Per-class statistics of a training annotation file: image frequencies,
object counts and where the objects lie (the box-counting dimension of
their centres, :mod:`.fractal_dimension`).

frequency[c] = (images that contain class c) / (images with annotations),
the recipe of the official APA code (its LVIS v1 table divides by the 99,388
distinct image ids of ``lvis_v1_train.json``'s annotations). LVIS files carry
``image_count`` per category; for COCO and V3Det files the images are
counted. Classes are indexed in the order of the file's ``categories``, which
is how mmdet's LVIS, COCO and V3Det datasets assign labels. Object counts
and dimensions are counted from the annotations; the dimensions need each
annotation's ``bbox`` and its image's ``width`` and ``height``.

Parsing the 1 GB LVIS train file takes tens of seconds, so the result is
cached (a few KB) under ``${APA_MMDET_CACHE:-~/.cache/apa_mmdet}/class_frequency``,
keyed by the file's path, size and modification time.
"""
import hashlib
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .fractal_dimension import box_counting_dimension

# the cached statistics' layout: a new one invalidates the old caches
CACHE_VERSION = 2


@dataclass(frozen=True)
class ClassFrequency:
    """Class statistics of an annotation file, in label order.

    Attributes:
        ann_file (str): The file they were read from.
        cat_ids (list[int]): Category id of each label.
        image_count (np.ndarray): (C,) images that contain each class.
        num_images (int): Images with at least one annotation.
        instance_count (np.ndarray): (C,) annotated objects of each class.
        fractal_dimension (np.ndarray, optional): (C,) box-counting
            dimension of each class's box centres; None where the file
            lacks boxes or image sizes (``missing`` says which).
        missing (str): Why ``fractal_dimension`` is None, else ''.
    """
    ann_file: str
    cat_ids: List[int]
    image_count: np.ndarray
    num_images: int
    instance_count: np.ndarray
    fractal_dimension: Optional[np.ndarray]
    missing: str = ''

    @property
    def frequency(self) -> np.ndarray:
        """(C,) image_count / num_images."""
        return self.image_count / max(self.num_images, 1)

    @property
    def num_classes(self) -> int:
        return len(self.cat_ids)


def _cache_path(ann_file: str) -> str:
    stat = os.stat(ann_file)
    key = (f'{osp.realpath(ann_file)}:{stat.st_size}:{stat.st_mtime_ns}:'
           f'v{CACHE_VERSION}')
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
    label_of = {cat_id: label for label, cat_id in enumerate(cat_ids)}
    image_sets = {cat_id: set() for cat_id in cat_ids}
    images = set()
    labels = []
    for ann in data['annotations']:
        images.add(ann['image_id'])
        if ann['category_id'] in image_sets:
            image_sets[ann['category_id']].add(ann['image_id'])
            labels.append(label_of[ann['category_id']])
    if all('image_count' in c for c in categories):  # LVIS
        image_count = [int(c['image_count']) for c in categories]
    else:
        image_count = [len(image_sets[cat_id]) for cat_id in cat_ids]
    centres, missing = _normalised_centres(data, label_of)
    return dict(
        cat_ids=cat_ids, image_count=image_count, num_images=len(images),
        instance_count=np.bincount(labels, minlength=len(cat_ids)).tolist(),
        fractal_dimension=None if centres is None else
        box_counting_dimension(centres, np.array(labels, dtype=np.int64),
                               len(cat_ids)).tolist(),
        missing=missing)


def _normalised_centres(data: dict, label_of: dict) -> tuple:
    """((N, 2) box centres of the annotations of known categories, divided
    by their image's width and height, or None; why None, else '')."""
    sizes = {image.get('id'): (image.get('width'), image.get('height'))
             for image in data.get('images') or ()}
    centres = []
    for ann in data['annotations']:
        if ann['category_id'] not in label_of:
            continue
        width, height = sizes.get(ann['image_id'], (None, None))
        if not width or not height:
            return None, (f"image {ann['image_id']} has no width and height "
                          'in the file')
        if len(ann.get('bbox') or ()) != 4:
            return None, f"annotation {ann.get('id')} has no bbox"
        x, y, w, h = ann['bbox']
        centres.append(((x + w / 2) / width, (y + h / 2) / height))
    return np.array(centres, dtype=np.float64).reshape(-1, 2), ''


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
        num_images=int(stats['num_images']),
        instance_count=np.asarray(stats['instance_count'], dtype=np.int64),
        fractal_dimension=None if stats['fractal_dimension'] is None else
        np.asarray(stats['fractal_dimension'], dtype=np.float64),
        missing=stats['missing'])
