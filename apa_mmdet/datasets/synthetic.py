# Copyright (c) apa_mmdet contributors.
"""Small long-tailed detection data sets of synthetic images.

Every object class has its own shape and colour, so a detector can learn
them; class frequencies follow a Zipf law, so the set is long-tailed like
LVIS. Everything is deterministic given the seed. ``generate_lvis`` writes
the LVIS v1 layout mmdet's ``LVISV1Dataset`` reads::

    root/annotations/lvis_v1_{train,val}.json
    root/train2017/*.jpg   root/val2017/*.jpg   (found through ``coco_url``)

LVIS fields are filled as in the real files: ``frequency`` (r/c/f) and
``image_count``/``instance_count`` from the training split (in both files),
``neg_category_ids`` and ``not_exhaustive_category_ids`` per image. Since
LVIS's absolute r/c/f thresholds (10 and 100 images) need ~100k images, the
classes are split by training image count into the rarest 30 % (r), the
middle 40 % (c) and the most frequent 30 % (f).
"""
import json
import os.path as osp
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

SHAPES = ('rectangle', 'ellipse', 'triangle', 'diamond')
COCO_URL = 'http://images.cocodataset.org/'


@dataclass
class _Object:
    category_id: int
    polygon: np.ndarray  # (K, 2) float, image coordinates


def _class_colour(index: int, num_classes: int) -> tuple:
    """Well separated BGR colour of a class (hue wheel, two brightnesses)."""
    hue = int(180 * index / num_classes)
    value = 255 if index % 2 == 0 else 170
    hsv = np.uint8([[[hue, 220, value]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _polygon(shape: str, cx: float, cy: float, w: float, h: float):
    if shape == 'rectangle':
        pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    elif shape == 'triangle':
        pts = [(0, -1), (1, 1), (-1, 1)]
    elif shape == 'diamond':
        pts = [(0, -1), (1, 0), (0, 1), (-1, 0)]
    else:
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        pts = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    pts = np.asarray(pts, dtype=np.float64)
    return np.stack([cx + pts[:, 0] * w / 2, cy + pts[:, 1] * h / 2], 1)


def _sample_objects(rng: np.random.Generator, class_probs: np.ndarray,
                    size: int, first_class: int = -1) -> List[_Object]:
    """1-3 non-overlapping objects; ``first_class`` >= 0 forces the first."""
    objects, boxes = [], []
    count = int(rng.integers(1, 4))
    for _ in range(count * 10):
        if len(objects) == count:
            break
        category = first_class if (first_class >= 0 and not objects) else \
            int(rng.choice(len(class_probs), p=class_probs))
        w, h = rng.uniform(0.22, 0.45, size=2) * size
        cx, cy = rng.uniform(w / 2 + 2, size - w / 2 - 2), rng.uniform(
            h / 2 + 2, size - h / 2 - 2)
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3]
               and b[1] < box[3] for b in boxes):
            continue
        boxes.append(box)
        shape = SHAPES[category % len(SHAPES)]
        objects.append(
            _Object(category + 1, _polygon(shape, cx, cy, w, h)))
    return objects


def _render(rng: np.random.Generator, objects: List[_Object], size: int,
            num_classes: int) -> np.ndarray:
    image = rng.normal(110, 25, size=(size, size, 3)).clip(0, 255)
    image = image.astype(np.uint8)
    for obj in objects:
        colour = _class_colour(obj.category_id - 1, num_classes)
        cv2.fillPoly(image, [np.round(obj.polygon).astype(np.int32)], colour)
    return image


def _annotation(obj: _Object, ann_id: int, image_id: int) -> dict:
    xs, ys = obj.polygon[:, 0], obj.polygon[:, 1]
    x0, y0 = float(xs.min()), float(ys.min())
    # shoelace area of the polygon
    area = 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=obj.category_id,
        segmentation=[np.round(obj.polygon, 2).reshape(-1).tolist()],
        area=round(float(area), 2),
        bbox=[
            round(x0, 2),
            round(y0, 2),
            round(float(xs.max()) - x0, 2),
            round(float(ys.max()) - y0, 2)
        ])


def _make_split(rng, root: Path, split: str, num_images: int,
                class_probs: np.ndarray, size: int, first_image_id: int,
                cover_all_classes: bool) -> Dict[str, list]:
    """Render one split; returns its ``images`` and ``annotations``."""
    num_classes = len(class_probs)
    (root / split).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(num_images):
        image_id = first_image_id + index
        forced = index % num_classes if (
            cover_all_classes and index < num_classes) else -1
        objects = _sample_objects(rng, class_probs, size, forced)
        file_name = f'{image_id:012d}.jpg'
        cv2.imwrite(
            str(root / split / file_name),
            _render(rng, objects, size, num_classes))
        present = sorted({o.category_id for o in objects})
        absent = [c for c in range(1, num_classes + 1) if c not in present]
        negatives = rng.choice(absent, size=min(3, len(absent)), replace=False)
        not_exhaustive = [c for c in present if rng.random() < 0.05]
        images.append(
            dict(
                id=image_id,
                width=size,
                height=size,
                file_name=file_name,
                coco_url=f'{COCO_URL}{split}/{file_name}',
                neg_category_ids=sorted(int(c) for c in negatives),
                not_exhaustive_category_ids=not_exhaustive))
        for obj in objects:
            annotations.append(
                _annotation(obj, len(annotations) + 1, image_id))
    return dict(images=images, annotations=annotations)


def _categories(num_classes: int, train: Dict[str, list]) -> List[dict]:
    image_sets = [set() for _ in range(num_classes)]
    instance_count = [0] * num_classes
    for ann in train['annotations']:
        image_sets[ann['category_id'] - 1].add(ann['image_id'])
        instance_count[ann['category_id'] - 1] += 1
    image_count = [len(s) for s in image_sets]
    order = np.argsort(image_count, kind='stable')
    n_rare, n_freq = round(0.3 * num_classes), round(0.3 * num_classes)
    frequency = ['c'] * num_classes
    for rank, index in enumerate(order):
        if rank < n_rare:
            frequency[index] = 'r'
        elif rank >= num_classes - n_freq:
            frequency[index] = 'f'
    categories = []
    for index in range(num_classes):
        shape = SHAPES[index % len(SHAPES)]
        name = f'{shape}_{index:02d}'
        categories.append(
            dict(
                id=index + 1,
                name=name,
                synset=f'{name}.n.01',
                synonyms=[name],
                **{'def': f'a {shape} of colour #{index}'},
                frequency=frequency[index],
                image_count=image_count[index],
                instance_count=instance_count[index]))
    return categories


def generate_lvis(root: str,
                  num_classes: int = 12,
                  num_train: int = 160,
                  num_val: int = 48,
                  image_size: int = 128,
                  zipf_exponent: float = 1.2,
                  seed: int = 0) -> Dict[str, str]:
    """Write a small long-tailed LVIS v1-format data set under ``root``.

    Args:
        root (str): Output folder (created).
        num_classes (int): Number of categories, >= 3. Defaults to 12.
        num_train (int): Training images. Defaults to 160.
        num_val (int): Validation images, >= ``num_classes``; every class
            appears in validation. Defaults to 48.
        image_size (int): Side of the square images. Defaults to 128.
        zipf_exponent (float): Class probability ∝ rank^(−exponent) in
            training; validation uses half the exponent. Defaults to 1.2.
        seed (int): Random seed; equal seeds write identical files.
            Defaults to 0.

    Returns:
        dict: Paths of the ``train`` and ``val`` annotation files.
    """
    if num_classes < 3:
        raise ValueError(f'num_classes must be >= 3 (r, c and f groups), '
                         f'got {num_classes}')
    if num_val < num_classes:
        raise ValueError(f'num_val={num_val} must be >= num_classes='
                         f'{num_classes} so every class is validated')
    rng = np.random.default_rng(seed)
    out = Path(root)
    ranks = np.arange(1, num_classes + 1, dtype=np.float64)
    splits = {}
    for split, count, exponent, first_id in (
        ('train2017', num_train, zipf_exponent, 1),
        ('val2017', num_val, zipf_exponent / 2, num_train + 1)):
        probs = ranks**-exponent
        splits[split] = _make_split(rng, out, split, count, probs / probs.sum(),
                                    image_size, first_id,
                                    split == 'val2017')
    categories = _categories(num_classes, splits['train2017'])
    (out / 'annotations').mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, split in (('train', 'train2017'), ('val', 'val2017')):
        path = out / 'annotations' / f'lvis_v1_{key}.json'
        payload = dict(
            info=dict(description=f'apa_mmdet synthetic LVIS v1 (seed {seed})'),
            licenses=[],
            categories=categories,
            **splits[split])
        path.write_text(json.dumps(payload))
        paths[key] = osp.join(root, 'annotations', path.name)
    return paths
