# Copyright (c) apa_mmdet contributors.
"""Small long-tailed detection data sets of synthetic images.

Every object class has its own shape and colour, so a detector can learn
them; class frequencies follow a Zipf law, so the sets are long-tailed like
LVIS. Everything is deterministic given the seed. Three layouts, as mmdet's
datasets read them:

* ``generate_lvis``: LVIS v1 (``LVISV1Dataset``), with ``frequency`` (r/c/f),
  ``image_count``, ``neg_category_ids`` and ``not_exhaustive_category_ids``.
  LVIS's absolute r/c/f thresholds (10 and 100 images) need ~100k images, so
  classes are split by training image count into the rarest 30 % (r), the
  middle 40 % (c) and the most frequent 30 % (f).
* ``generate_coco``: COCO (``CocoDataset``), boxes and polygons.
* ``generate_v3det``: V3Det (``V3DetDataset``), boxes only.

Not part of the package's API (``apa_mmdet.datasets.__all__``): it makes the
data of the demo (``tools/run_demo.py``), the tests and the benchmarks, and
a user imports it from here to try a config, an install or a head swap end
to end without downloading LVIS, COCO or V3Det.
"""
import json
import os.path as osp
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np

SHAPES = ('rectangle', 'ellipse', 'triangle', 'diamond')
COCO_URL = 'http://images.cocodataset.org/'
V3DET_LABEL_FILE = 'category_name_13204_v3det_2023_v1.txt'
_DEFAULTS = dict(num_classes=12, num_train=160, num_val=48, image_size=128,
                 zipf_exponent=1.2)


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


def _make_split(rng, root: Path, image_dir: str, num_images: int,
                class_probs: np.ndarray, size: int, first_image_id: int,
                cover_all_classes: bool) -> Dict[str, list]:
    """Render one split; returns its ``images`` and ``annotations``."""
    num_classes = len(class_probs)
    (root / image_dir).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(num_images):
        image_id = first_image_id + index
        forced = index % num_classes if (
            cover_all_classes and index < num_classes) else -1
        objects = _sample_objects(rng, class_probs, size, forced)
        file_name = f'{image_dir}/{image_id:012d}.jpg'
        cv2.imwrite(str(root / file_name),
                    _render(rng, objects, size, num_classes))
        present = sorted({o.category_id for o in objects})
        absent = [c for c in range(1, num_classes + 1) if c not in present]
        negatives = rng.choice(absent, size=min(3, len(absent)), replace=False)
        images.append(
            dict(
                id=image_id,
                width=size,
                height=size,
                file_name=file_name,
                neg_category_ids=sorted(int(c) for c in negatives),
                not_exhaustive_category_ids=[
                    c for c in present if rng.random() < 0.05
                ]))
        for obj in objects:
            annotations.append(
                _annotation(obj, len(annotations) + 1, image_id))
    return dict(images=images, annotations=annotations)


def class_names(num_classes: int = _DEFAULTS['num_classes']) -> tuple:
    """Category names of a generated set with ``num_classes`` classes, in
    id order (``metainfo=dict(classes=...)`` of its configs)."""
    return tuple(f'{SHAPES[i % len(SHAPES)]}_{i:02d}'
                 for i in range(num_classes))


def _frequency_groups(image_count: List[int]) -> List[str]:
    """'r' for the rarest 30 % of classes, 'f' for the top 30 %, else 'c'."""
    num_classes = len(image_count)
    order = np.argsort(image_count, kind='stable')
    n_rare = n_freq = round(0.3 * num_classes)
    groups = ['c'] * num_classes
    for rank, index in enumerate(order):
        if rank < n_rare:
            groups[index] = 'r'
        elif rank >= num_classes - n_freq:
            groups[index] = 'f'
    return groups


def _synthesize(root: str, image_dirs: Tuple[str, str], num_classes: int,
                num_train: int, num_val: int, image_size: int,
                zipf_exponent: float, seed: int):
    """Render both splits; returns (train, val, category names)."""
    if num_classes < 3:
        raise ValueError(f'num_classes must be >= 3 (r, c and f groups), '
                         f'got {num_classes}')
    if num_val < num_classes:
        raise ValueError(f'num_val={num_val} must be >= num_classes='
                         f'{num_classes} so every class is validated')
    rng = np.random.default_rng(seed)
    out = Path(root)
    ranks = np.arange(1, num_classes + 1, dtype=np.float64)
    splits = []
    for image_dir, count, exponent, first_id in (
        (image_dirs[0], num_train, zipf_exponent, 1),
        (image_dirs[1], num_val, zipf_exponent / 2, num_train + 1)):
        probs = ranks**-exponent
        splits.append(
            _make_split(rng, out, image_dir, count, probs / probs.sum(),
                        image_size, first_id, image_dir == image_dirs[1]))
    return splits[0], splits[1], class_names(num_classes)


def _write(root: str, name: str, payload: dict) -> str:
    path = Path(root) / 'annotations' / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))
    return osp.join(root, 'annotations', name)


def generate_lvis(root: str, seed: int = 0, **kwargs) -> Dict[str, str]:
    """Write a small long-tailed LVIS v1-format data set under ``root``.

    Images go to ``train2017/`` and ``val2017/`` and are found through
    ``coco_url`` as in LVIS v1; ``frequency``, ``image_count`` and
    ``instance_count`` come from the training split (in both files).

    Args:
        root (str): Output folder (created).
        seed (int): Random seed; equal seeds write identical files.
        **kwargs: ``num_classes`` (>= 3, default 12), ``num_train``
            (default 160), ``num_val`` (>= num_classes; every class appears
            in validation; default 48), ``image_size`` (square side,
            default 128), ``zipf_exponent`` (class probability ∝
            rank^(−exponent) in training, half of it in validation; default
            1.2).

    Returns:
        dict: Paths of the ``train`` and ``val`` annotation files.
    """
    train, val, names = _synthesize(root, ('train2017', 'val2017'), seed=seed,
                                    **{**_DEFAULTS, **kwargs})
    image_sets = [set() for _ in names]
    instance_count = [0] * len(names)
    for ann in train['annotations']:
        image_sets[ann['category_id'] - 1].add(ann['image_id'])
        instance_count[ann['category_id'] - 1] += 1
    image_count = [len(s) for s in image_sets]
    groups = _frequency_groups(image_count)
    categories = [
        dict(id=i + 1, name=name, synset=f'{name}.n.01', synonyms=[name],
             frequency=groups[i], image_count=image_count[i],
             instance_count=instance_count[i],
             **{'def': f'a {name.split("_")[0]} of colour #{i}'})
        for i, name in enumerate(names)
    ]
    paths = {}
    for key, split in (('train', train), ('val', val)):
        for image in split['images']:
            image['coco_url'] = COCO_URL + image['file_name']
            image['file_name'] = osp.basename(image['file_name'])
        paths[key] = _write(
            root, f'lvis_v1_{key}.json',
            dict(info=dict(description=f'apa_mmdet synthetic LVIS v1, seed '
                           f'{seed}'), licenses=[], categories=categories,
                 **split))
    return paths


def _coco_style(split: dict, keep_masks: bool) -> dict:
    images = [{k: image[k] for k in ('id', 'width', 'height', 'file_name')}
              for image in split['images']]
    annotations = []
    for ann in split['annotations']:
        ann = dict(ann, iscrowd=0)
        if not keep_masks:
            ann.pop('segmentation')
        annotations.append(ann)
    return dict(images=images, annotations=annotations)


def generate_coco(root: str, seed: int = 0, **kwargs) -> Dict[str, str]:
    """Write a small long-tailed COCO-format data set under ``root``.

    ``annotations/instances_{train,val}2017.json`` with images in
    ``train2017/`` and ``val2017/`` (``data_prefix=dict(img='train2017/')``
    as in mmdet's COCO configs). Arguments as :func:`generate_lvis`.
    """
    train, val, names = _synthesize(root, ('train2017', 'val2017'), seed=seed,
                                    **{**_DEFAULTS, **kwargs})
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(names)]
    paths = {}
    for key, split in (('train', train), ('val', val)):
        payload = _coco_style(split, keep_masks=True)
        for image in payload['images']:
            image['file_name'] = osp.basename(image['file_name'])
        paths[key] = _write(root, f'instances_{key}2017.json',
                            dict(categories=categories, **payload))
    return paths


def generate_v3det(root: str, seed: int = 0, **kwargs) -> Dict[str, str]:
    """Write a small long-tailed V3Det-format (box-only) data set.

    ``annotations/v3det_2023_v1_{train,val}.json`` (COCO layout, no masks,
    images under ``images/``, ``data_prefix=dict(img='')``) and the class
    list ``annotations/category_name_13204_v3det_2023_v1.txt`` that mmdet's
    ``V3DetDataset`` reads. Arguments as :func:`generate_lvis`.
    """
    train, val, names = _synthesize(root, ('images/train', 'images/val'),
                                    seed=seed, **{**_DEFAULTS, **kwargs})
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(names)]
    (Path(root) / 'annotations').mkdir(parents=True, exist_ok=True)
    (Path(root) / 'annotations' / V3DET_LABEL_FILE).write_text(
        '\n'.join(names) + '\n')
    return {
        key: _write(root, f'v3det_2023_v1_{key}.json',
                    dict(categories=categories,
                         **_coco_style(split, keep_masks=False)))
        for key, split in (('train', train), ('val', val))
    }
