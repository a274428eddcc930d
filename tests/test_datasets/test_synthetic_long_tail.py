# Copyright (c) apa_mmdet contributors.
"""The long-tailed generator: LVIS's frequency groups by its own
definitions and proportions, the LVIS v1 fields, every class validated,
several classes per image, deterministic; the long-tail config's
thresholds derived from the default set as the official ones are."""
import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from lvis import LVIS
from pycocotools import mask as mask_utils
from mmengine.config import Config

from apa_mmdet.datasets.synthetic_long_tail import (generate_lvis_long_tail,
                                                    long_tail_class_names,
                                                    long_tail_train_images)
from tests.helpers.configs import CONFIG_ROOT

ROOT = CONFIG_ROOT.parent
CONFIG = (CONFIG_ROOT /
          'synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis-lt.py')

SMALL = dict(num_classes=40, max_frequent_images=120, val_images_per_class=2,
             image_size=64)


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp('lt')
    paths = generate_lvis_long_tail(str(root), seed=3, **SMALL)
    return root, json.loads(Path(paths['train']).read_text()), LVIS(
        paths['val'])


def test_frequency_groups_follow_lvis(small_set):
    _, train, _ = small_set
    cats = train['categories']
    assert [c['id'] for c in cats] == list(range(1, 41))
    assert [c['name'] for c in cats] == list(long_tail_class_names(40))
    images_of = collections.defaultdict(set)
    for ann in train['annotations']:
        images_of[ann['category_id']].add(ann['image_id'])
    for cat in cats:
        count = len(images_of[cat['id']])
        assert cat['image_count'] == count
        assert cat['frequency'] == ('r' if count <= 10 else
                                    'c' if count <= 100 else 'f')
    groups = collections.Counter(c['frequency'] for c in cats)
    # LVIS v1: 337 / 461 / 405 of 1203
    assert groups == {'r': round(40 * 337 / 1203), 'f': round(40 * 405 / 1203),
                      'c': 40 - round(40 * 337 / 1203) - round(40 * 405 / 1203)}


def test_lvis_fields_and_every_class_in_validation(small_set):
    root, train, val = small_set
    ids = [a['id'] for a in train['annotations']]
    assert ids == list(range(1, len(ids) + 1))
    per_image = collections.Counter(a['image_id']
                                    for a in train['annotations'])
    assert max(per_image.values()) <= 8  # classes_per_image=(5, 8)
    assert np.mean(list(per_image.values())) > 5
    val_images = collections.defaultdict(set)
    for ann in val.dataset['annotations']:
        val_images[ann['category_id']].add(ann['image_id'])
    assert {c: len(v) for c, v in val_images.items()} == {
        c: 2 for c in range(1, 41)}
    for image in val.dataset['images']:
        present = {a['category_id'] for a in val.img_ann_map[image['id']]}
        assert image['neg_category_ids'] and not (
            present & set(image['neg_category_ids']))
        assert set(image['not_exhaustive_category_ids']) <= present
        split, name = image['coco_url'].split('/')[-2:]
        assert (root / split / name).is_file()


def test_training_image_count_without_drawing(small_set):
    _, train, _ = small_set
    annotated = {a['image_id'] for a in train['annotations']}
    assert len(train['images']) == len(annotated)
    assert long_tail_train_images(seed=3, **SMALL) == len(annotated)
    assert long_tail_train_images(seed=4, **SMALL) != len(annotated)


def test_same_seed_same_files(tmp_path):
    kwargs = dict(num_classes=12, max_frequent_images=105, image_size=48,
                  val_images_per_class=1)
    first = generate_lvis_long_tail(str(tmp_path / 'a'), seed=1, **kwargs)
    again = generate_lvis_long_tail(str(tmp_path / 'b'), seed=1, **kwargs)
    other = generate_lvis_long_tail(str(tmp_path / 'c'), seed=2, **kwargs)
    text = [Path(p['train']).read_text() for p in (first, again, other)]
    assert text[0] == text[1] != text[2]


@pytest.mark.parametrize('kwargs,message', [
    (dict(num_classes=241), 'num_classes=241'),
    (dict(classes_per_image=(3, 10)), 'classes_per_image'),
    (dict(max_frequent_images=100), 'max_frequent_images'),
    (dict(num_clases=10), "unknown arguments \\['num_clases'\\]"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        generate_lvis_long_tail(str(tmp_path), **kwargs)


@pytest.fixture(scope='module')
def default_set(long_tail_root):
    """The benchmark's set as the config expects it (seed 0, defaults)."""
    train = json.loads(
        (long_tail_root / 'annotations' / 'lvis_v1_train.json').read_text())
    return long_tail_root, train


def test_config_thresholds_are_the_official_image_counts(default_set):
    """tail_thr and RFS t in the long-tail config are the official ones
    (0.0011, 1e-3 of LVIS v1's 99,388 images) as image counts of the
    default set, whose size the config asks the generator for."""
    _, train = default_set
    cfg = Config.fromfile(CONFIG)
    images = {a['image_id'] for a in train['annotations']}
    assert cfg.num_train_images == len(images)
    loss = cfg.model.roi_head.bbox_head.loss_cls
    assert loss.tail_thr * len(images) == pytest.approx(0.0011 * 99388)
    assert cfg.train_dataloader.dataset.oversample_thr * len(images) == \
        pytest.approx(1e-3 * 99388)
    counts = np.array([c['image_count'] for c in train['categories']])
    tail = counts / len(images) < loss.tail_thr
    assert tail.sum() == (counts <= 109).sum()
    assert tail.sum() >= sum(c['frequency'] in 'rc'
                             for c in train['categories'])


def test_two_iterations_of_the_config(default_set, tmp_path):
    """tools/train.py on the generated set: 8 images, 2 iterations, then
    LVIS evaluation of 8 validation images."""
    root, _ = default_set
    result = subprocess.run(
        [sys.executable, 'tools/train.py', str(CONFIG), '--work-dir',
         str(tmp_path), '--cfg-options', 'train_cfg.max_epochs=1',
         'train_dataloader.dataset.oversample_thr=0',
         'train_dataloader.dataset.dataset.indices=8',
         'val_dataloader.dataset.indices=8',
         *[f'{split}_dataloader.{option}' for split in ('train', 'val')
           for option in ('num_workers=0', 'persistent_workers=False')]],
        capture_output=True, text=True, cwd=ROOT,
        env=dict(os.environ, DATA_ROOT=f'{root}/'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r'Epoch\(train\) +\[1\]\[2/2\]', result.stdout)
    assert 'lvis/segm_APr' in result.stdout


@pytest.mark.parametrize('counts', [[30, 1, 1], [5, 5, 5, 5, 5, 5, 5, 5, 5],
                                    [120, 80, 40, 11, 3, 1]])
def test_dealing_keeps_every_count_exact_and_images_small(counts):
    from apa_mmdet.datasets.synthetic_long_tail import _deal
    images = _deal(np.random.default_rng(0), np.array(counts), (5, 8))
    assert all(len(set(image)) == len(image) <= 8 for image in images)
    dealt = collections.Counter(c for image in images for c in image)
    assert [dealt[c] for c in range(len(counts))] == counts


def test_hard_variation_keeps_the_plan_and_annotates_visible_parts(
        tmp_path):
    """Same classes per image (counts, groups, thresholds), objects that
    vary and overlap; each annotation is the part left visible, so the
    objects of an image do not share pixels (up to their outlines)."""
    options = dict(num_classes=40, max_frequent_images=120, image_size=64)
    plain = json.loads(Path(generate_lvis_long_tail(
        str(tmp_path / 'plain'), **options)['train']).read_text())
    hard = json.loads(Path(generate_lvis_long_tail(
        str(tmp_path / 'hard'), variation='hard', **options)['train'])
        .read_text())
    assert hard['categories'] == plain['categories']
    assert [(a['image_id'], a['category_id']) for a in hard['annotations']
            ] == [(a['image_id'], a['category_id'])
                  for a in plain['annotations']]
    assert long_tail_train_images(variation='hard', **options) == \
        long_tail_train_images(**options) == len(hard['images'])
    by_image = {}
    for ann in hard['annotations']:
        rle = mask_utils.frPyObjects(ann['segmentation'], 64, 64)
        by_image.setdefault(ann['image_id'], []).append(
            mask_utils.decode(mask_utils.merge(rle)).astype(bool))
    shared = total = 0
    for masks in by_image.values():
        stack = np.stack(masks)
        total += stack.sum()
        shared += (stack.sum(0) > 1).sum()
    assert shared < 0.05 * total
    overlapping = sum(a['area'] < 0.5 * b['area'] for a, b in zip(
        hard['annotations'], plain['annotations']))
    assert overlapping > 0.05 * len(hard['annotations'])  # smaller, hidden
    with pytest.raises(ValueError, match="variation must be one of .*'x'"):
        generate_lvis_long_tail(str(tmp_path / 'x'), variation='x',
                                **options)
