# Copyright (c) apa_mmdet contributors.
"""A long-tailed LVIS v1-format set with hundreds of classes, on which the
paper's question (does the classifier's activation matter for rare
classes?) can be asked on a CPU.

Classes are shape × colour × pattern combinations (6 × 8 × 5 = 240 at
most), so a small detector can tell them apart and there are enough negative
classes per RoI for the Gumbel/sigmoid difference to exist. Frequency
groups follow LVIS's definitions and proportions: rare classes are in 1-10
training images, common ones in 11-100, frequent ones in more than 100;
28 % / 38 % / 34 % of the classes, as LVIS v1's 337 / 461 / 405. Each
class's image count is drawn first (rare uniform, common and frequent
log-uniform) and the classes are then dealt to images, several per image,
so the counts (and so the groups) are exact. The validation split shows
every class in ``val_images_per_class`` images, so APr is measured on every
rare class. Same seed, same files.

``variation='hard'`` draws the same classes per image (so the same counts
and groups) but makes objects vary within a class: scale 35-95 % of the
cell, rotation within ±20°, hue ±5 and brightness jitter, and centres
shifted into neighbouring cells, so later objects partly hide earlier ones
(annotations are the visible parts): rare classes then need features, not
only calibration.

Not part of the package's API, like :mod:`.synthetic`: the data of the
long-tail benchmark (``configs/synthetic/*synthetic-lvis-lt.py``,
``docs/long_tail_benchmark.md``) and its tests.
"""
import math
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .synthetic import COCO_URL, _annotation, _Object, _polygon, _write

SHAPES = ('rectangle', 'ellipse', 'triangle', 'diamond', 'hexagon', 'cross')
HUES = (0, 22, 45, 67, 90, 112, 135, 157)  # OpenCV hue, 0-180
PATTERNS = ('solid', 'hstripes', 'vstripes', 'checker', 'dots')
LVIS_GROUP_SHARES = dict(r=337 / 1203, f=405 / 1203)  # c: the rest
# LVIS's absolute definitions, in training images
RARE_MAX, COMMON_MAX = 10, 100
_DEFAULTS = dict(num_classes=200, max_frequent_images=250,
                 classes_per_image=(5, 8), val_images_per_class=4,
                 image_size=128, variation='none')
VARIATIONS = ('none', 'hard')
HARD_MAX_ROTATION = math.radians(20)  # more would turn squares to diamonds
HARD_HUE_JITTER = 5  # of the 22.5 between neighbouring classes' hues


def long_tail_class_names(num_classes: int) -> tuple:
    """'{shape}_{hue}_{pattern}' of each class, in id order; patterns vary
    fastest, then hues, then shapes."""
    if not 1 <= num_classes <= len(SHAPES) * len(HUES) * len(PATTERNS):
        raise ValueError(
            f'num_classes={num_classes}: between 1 and '
            f'{len(SHAPES) * len(HUES) * len(PATTERNS)} (shapes × hues × '
            'patterns)')
    names = []
    for index in range(num_classes):
        pattern = PATTERNS[index % len(PATTERNS)]
        hue = HUES[index // len(PATTERNS) % len(HUES)]
        shape = SHAPES[index // (len(PATTERNS) * len(HUES))]
        names.append(f'{shape}_h{hue:03d}_{pattern}')
    return tuple(names)


def _group_sizes(num_classes: int) -> Dict[str, int]:
    rare = round(LVIS_GROUP_SHARES['r'] * num_classes)
    frequent = round(LVIS_GROUP_SHARES['f'] * num_classes)
    return dict(r=rare, c=num_classes - rare - frequent, f=frequent)


def _image_counts(rng: np.random.Generator, num_classes: int,
                  max_frequent: int) -> np.ndarray:
    """Training images per class: groups in LVIS proportions, shuffled over
    the classes so no appearance is tied to a group."""
    sizes = _group_sizes(num_classes)

    def log_uniform(low, high, n):
        return np.round(np.exp(rng.uniform(math.log(low), math.log(high),
                                           n))).astype(int)

    counts = np.concatenate([
        rng.integers(1, RARE_MAX + 1, sizes['r']),
        log_uniform(RARE_MAX + 1, COMMON_MAX, sizes['c']),
        log_uniform(COMMON_MAX + 1, max_frequent, sizes['f'])
    ])
    return counts[rng.permutation(num_classes)]


def _deal(rng: np.random.Generator, counts: np.ndarray,
          classes_per_image: tuple) -> List[List[int]]:
    """Classes of each image: class c in exactly counts[c] distinct images;
    images hold up to ``classes_per_image[1]`` classes, mostly at least
    ``classes_per_image[0]`` (a few fewer where the counts leave room)."""
    low, high = classes_per_image
    total = int(counts.sum())
    num_images = max(math.ceil(total / ((low + high) / 2)), int(counts.max()),
                     math.ceil(total / high))
    free = rng.integers(low, high + 1, num_images)
    while free.sum() < total:  # room for every occurrence, at most high
        free[rng.choice(np.flatnonzero(free < high))] += 1
    images = [[] for _ in range(num_images)]
    for cls in np.argsort(-counts, kind='stable'):
        open_images = np.flatnonzero(free > 0)
        missing = counts[cls] - len(open_images)
        if missing > 0:  # the larger classes filled the others
            free = np.append(free, np.full(missing, high))
            images += [[] for _ in range(missing)]
            open_images = np.flatnonzero(free > 0)
        weights = free[open_images] / free[open_images].sum()
        for image in rng.choice(open_images, size=counts[cls], replace=False,
                                p=weights):
            images[image].append(int(cls))
            free[image] -= 1
    return [sorted(classes) for classes in images if classes]


def _layout(rng: np.random.Generator, classes: List[int],
            size: int, hard: bool = False) -> List[_Object]:
    """One object per class, each in its own cell of a 3 × 3 grid, shape
    from the class: 60-95 % of the cell, inside it (never overlapping); or,
    ``hard``, 35-95 %, rotated within ±20° and shifted by up to a quarter
    cell beyond it (neighbours may overlap)."""
    cell = size / 3
    low, spill = (0.35, 0.25 * cell) if hard else (0.6, 0.)
    objects = []
    for cls, slot in zip(classes, rng.permutation(9)):
        w, h = rng.uniform(low, 0.95, 2) * cell
        cx = (slot % 3 + 0.5) * cell + rng.uniform(-1, 1) * (
            (cell - w) / 2 + spill)
        cy = (slot // 3 + 0.5) * cell + rng.uniform(-1, 1) * (
            (cell - h) / 2 + spill)
        polygon = _shape_polygon(cls, cx, cy, w, h)
        if hard:
            angle = rng.uniform(-HARD_MAX_ROTATION, HARD_MAX_ROTATION)
            rotation = np.array([[math.cos(angle), -math.sin(angle)],
                                 [math.sin(angle), math.cos(angle)]])
            polygon = (polygon - (cx, cy)) @ rotation.T + (cx, cy)
        objects.append(_Object(cls + 1, polygon))
    return objects


def _shape_polygon(cls: int, cx: float, cy: float, w: float,
                   h: float) -> np.ndarray:
    shape = SHAPES[cls // (len(PATTERNS) * len(HUES))]
    if shape == 'hexagon':
        angles = np.arange(6) * np.pi / 3
        return np.stack([cx + np.cos(angles) * w / 2,
                         cy + np.sin(angles) * h / 2], 1)
    if shape == 'cross':
        a, b = 0.5, 1 / 6
        pts = [(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a),
               (-b, a), (-b, b), (-a, b), (-a, -b), (-b, -b)]
        return np.array([(cx + x * w, cy + y * h) for x, y in pts])
    return _polygon(shape, cx, cy, w, h)


def _pattern_mask(pattern: str, size: int) -> np.ndarray:
    """Where a pattern shows its darker shade (period 6 px)."""
    y, x = np.mgrid[:size, :size]
    return dict(
        solid=np.zeros((size, size), bool),
        hstripes=(y // 3) % 2 == 1,
        vstripes=(x // 3) % 2 == 1,
        checker=((x // 4) + (y // 4)) % 2 == 1,
        dots=((x % 6 - 2.5)**2 + (y % 6 - 2.5)**2) < 3)[pattern]


def _render(rng: np.random.Generator, objects: List[_Object], size: int,
            hard: bool = False) -> Tuple[np.ndarray, List[np.ndarray]]:
    """The image and each object's visible mask (later objects hide
    earlier ones); ``hard``: hue ±5 and saturation, brightness jitter."""
    image = rng.normal(110, 20, size=(size, size, 3)).clip(0, 255)
    image = image.astype(np.uint8)
    visible = []
    for obj in objects:
        cls = obj.category_id - 1
        hue, saturation, value = HUES[cls // len(PATTERNS) % len(HUES)], 230, 250
        if hard:
            hue = (hue + int(rng.integers(-HARD_HUE_JITTER,
                                          HARD_HUE_JITTER + 1))) % 180
            saturation, value = (int(v) for v in rng.integers(
                (170, 170), (256, 256)))
        bright = cv2.cvtColor(np.uint8([[[hue, saturation, value]]]),
                              cv2.COLOR_HSV2BGR)[0, 0]
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(mask, [np.round(obj.polygon).astype(np.int32)], 1)
        inside = mask.astype(bool)
        image[inside] = bright
        dark = inside & _pattern_mask(PATTERNS[cls % len(PATTERNS)], size)
        image[dark] = (bright * 0.35).astype(np.uint8)
        for earlier in visible:
            earlier &= ~inside
        visible.append(inside)
    return image, visible


def _visible_object(obj: _Object, visible: np.ndarray) -> _Object:
    """``obj`` with the outline of its largest visible part (an occluded
    object's annotation; the polygon of its drawn shape otherwise)."""
    contours, _ = cv2.findContours(visible.astype(np.uint8),
                                   cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    largest = max(contours, key=cv2.contourArea)
    if len(largest) < 3:  # a sliver: its pixels' box
        ys, xs = np.nonzero(visible)
        largest = np.array([[xs.min(), ys.min()], [xs.max(), ys.min()],
                            [xs.max(), ys.max()], [xs.min(), ys.max()]])
    return _Object(obj.category_id, largest.reshape(-1, 2).astype(float))


def _split(rng, root: Path, image_dir: str, image_classes: List[List[int]],
           size: int, first_image_id: int, num_classes: int,
           hard: bool) -> dict:
    (root / image_dir).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index, classes in enumerate(image_classes):
        image_id = first_image_id + index
        objects = _layout(rng, classes, size, hard)
        image, visible = _render(rng, objects, size, hard)
        if hard:
            objects = [_visible_object(obj, mask)
                       for obj, mask in zip(objects, visible)]
        file_name = f'{image_id:012d}.jpg'
        cv2.imwrite(str(root / image_dir / file_name), image)
        present = {c + 1 for c in classes}
        absent = np.setdiff1d(np.arange(1, num_classes + 1),
                              sorted(present))
        negatives = rng.choice(absent, size=min(5, len(absent)),
                               replace=False)
        images.append(dict(
            id=image_id, width=size, height=size, file_name=file_name,
            coco_url=f'{COCO_URL}{image_dir}/{file_name}',
            neg_category_ids=sorted(int(c) for c in negatives),
            not_exhaustive_category_ids=sorted(
                c for c in present if rng.random() < 0.05)))
        for obj in objects:
            annotations.append(
                _annotation(obj, len(annotations) + 1, image_id))
    return dict(images=images, annotations=annotations)


def _options(kwargs: dict) -> dict:
    options = {**_DEFAULTS, **kwargs}
    unknown = set(options) - set(_DEFAULTS)
    if unknown:
        raise TypeError(f'unknown arguments {sorted(unknown)}; known: '
                        f'{sorted(_DEFAULTS)}')
    low, high = options['classes_per_image']
    if not 1 <= low <= high <= 9:
        raise ValueError(f'classes_per_image={options["classes_per_image"]}'
                         ': need 1 <= low <= high <= 9 (a 3 × 3 grid)')
    if options['variation'] not in VARIATIONS:
        raise ValueError(f'variation must be one of {VARIATIONS}, got '
                         f'{options["variation"]!r}')
    if options['max_frequent_images'] <= COMMON_MAX:
        raise ValueError('max_frequent_images must exceed '
                         f'{COMMON_MAX}, LVIS\'s frequent threshold')
    return options


def _plan(rng: np.random.Generator, options: dict):
    """Training images per class and the classes of each training and
    validation image, before anything is drawn."""
    num_classes = options['num_classes']
    counts = _image_counts(rng, num_classes, options['max_frequent_images'])
    train_images = _deal(rng, counts, options['classes_per_image'])
    val_images = _deal(
        rng, np.full(num_classes, options['val_images_per_class']),
        options['classes_per_image'])
    return counts, train_images, val_images


def long_tail_train_images(seed: int = 0, **kwargs) -> int:
    """How many training images (all annotated) the set of ``seed`` and
    ``kwargs`` has, without drawing it: what a config needs to turn LVIS's
    frequency thresholds into this set's."""
    return len(_plan(np.random.default_rng(seed), _options(kwargs))[1])


def generate_lvis_long_tail(root: str, seed: int = 0,
                            **kwargs) -> Dict[str, str]:
    """Write the long-tailed LVIS v1-format set under ``root``.

    Args:
        root (str): Output folder (created): ``annotations/lvis_v1_{train,
            val}.json``, images in ``train2017/`` and ``val2017/`` (found
            through ``coco_url``, as in LVIS v1).
        seed (int): Random seed; equal seeds write identical files.
        **kwargs: ``num_classes`` (default 200, at most 240),
            ``max_frequent_images`` (most training images of a frequent
            class, default 250), ``classes_per_image`` ((low, high) distinct
            classes per image, at most 9; default (5, 8)),
            ``val_images_per_class`` (default 4), ``image_size`` (default
            128), ``variation`` ('none' or 'hard', see the module; default
            'none').

    Returns:
        dict: Paths of the ``train`` and ``val`` annotation files.
    """
    options = _options(kwargs)
    num_classes = options['num_classes']
    names = long_tail_class_names(num_classes)
    rng = np.random.default_rng(seed)
    counts, train_images, val_images = _plan(rng, options)
    out, size = Path(root), options['image_size']
    hard = options['variation'] == 'hard'
    train = _split(rng, out, 'train2017', train_images, size, 1, num_classes,
                   hard)
    val = _split(rng, out, 'val2017', val_images, size,
                 len(train_images) + 1, num_classes, hard)
    instance_count = np.bincount(
        [a['category_id'] - 1 for a in train['annotations']],
        minlength=num_classes)
    categories = [
        dict(id=i + 1, name=name, synset=f'{name}.n.01', synonyms=[name],
             frequency=('r' if counts[i] <= RARE_MAX else
                        'c' if counts[i] <= COMMON_MAX else 'f'),
             image_count=int(counts[i]),
             instance_count=int(instance_count[i]),
             **{'def': name.replace('_', ' ')})
        for i, name in enumerate(names)
    ]
    info = dict(description=f'apa_mmdet synthetic long-tailed LVIS v1, '
                f'seed {seed}' + (', hard' if hard else ''))
    return {
        key: _write(root, f'lvis_v1_{key}.json',
                    dict(info=info, licenses=[], categories=categories,
                         **split))
        for key, split in (('train', train), ('val', val))
    }
