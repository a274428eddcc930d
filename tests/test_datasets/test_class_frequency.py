# Copyright (c) apa_mmdet contributors.
"""Class frequencies from LVIS/COCO/V3Det annotation files."""
import json

import numpy as np
import pytest

from apa_mmdet.datasets import class_frequency
from apa_mmdet.datasets.synthetic import generate_lvis
from apa_mmdet.datasets.class_frequency import load_class_frequency


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('APA_MMDET_CACHE', str(tmp_path / 'cache'))


def test_lvis_uses_image_count_over_annotated_images(tmp_path):
    paths = generate_lvis(str(tmp_path / 'lvis'), num_classes=8,
                          num_train=30, num_val=8, image_size=48)
    data = json.loads(open(paths['train']).read())
    stats = load_class_frequency(paths['train'])
    assert stats.cat_ids == [c['id'] for c in data['categories']]
    assert stats.image_count.tolist() == [
        c['image_count'] for c in data['categories']]
    assert stats.num_images == len({a['image_id']
                                    for a in data['annotations']})
    annotated = len({a['image_id'] for a in data['annotations']})
    np.testing.assert_allclose(stats.frequency, [
        c['image_count'] / annotated for c in data['categories']])


def test_coco_style_files_are_counted(tmp_path):
    path = tmp_path / 'coco.json'
    path.write_text(json.dumps(dict(
        images=[dict(id=i) for i in range(1, 6)],
        categories=[dict(id=7, name='b'), dict(id=3, name='a')],
        annotations=[dict(image_id=1, category_id=7),
                     dict(image_id=1, category_id=7),
                     dict(image_id=2, category_id=3),
                     dict(image_id=4, category_id=7)])))
    stats = load_class_frequency(str(path))
    assert stats.cat_ids == [7, 3]  # file order = label order
    assert stats.image_count.tolist() == [2, 1]
    assert stats.num_images == 3


def test_results_are_cached_and_invalidated(tmp_path, monkeypatch):
    path = tmp_path / 'coco.json'
    data = dict(categories=[dict(id=1)],
                annotations=[dict(image_id=1, category_id=1)])
    path.write_text(json.dumps(data))
    assert load_class_frequency(str(path)).num_images == 1
    parse = class_frequency._parse
    monkeypatch.setattr(class_frequency, '_parse', None)
    assert load_class_frequency(str(path)).num_images == 1  # from cache
    monkeypatch.setattr(class_frequency, '_parse', parse)
    data['annotations'].append(dict(image_id=2, category_id=1, pad='x' * 9))
    path.write_text(json.dumps(data))
    assert load_class_frequency(str(path)).num_images == 2


@pytest.mark.parametrize('content,error,message', [
    (None, FileNotFoundError, r'missing\.json not found'),
    ('', ValueError, r'bad\.json is empty'),
    ('{"categories": [', ValueError, r'bad\.json is not valid JSON'),
    ('[]', ValueError, r'bad\.json must hold a JSON object'),
    ('{"annotations": []}', ValueError, r"bad\.json has no 'categories'"),
    ('{"categories": [], "annotations": []}', ValueError,
     r'bad\.json has no categories'),
])
def test_bad_files_are_named(tmp_path, content, error, message):
    path = tmp_path / ('missing.json' if content is None else 'bad.json')
    if content is not None:
        path.write_text(content)
    with pytest.raises(error, match=message):
        load_class_frequency(str(path))


def test_object_counts_and_where_the_objects_lie(tmp_path):
    """Class 7 spread over four quadrants (2), class 3 along one row (1);
    a category of another id is not counted."""
    boxes = {7: [[10, 10, 20, 20], [60, 10, 20, 20], [10, 60, 20, 20],
                 [60, 60, 20, 20]],
             3: [[0, 0, 10, 10], [30, 0, 10, 10], [60, 0, 10, 10],
                 [90, 0, 10, 10]]}
    path = tmp_path / 'coco.json'
    path.write_text(json.dumps(dict(
        images=[dict(id=1, width=100, height=100),
                dict(id=2, width=100, height=100)],
        categories=[dict(id=7), dict(id=3)],
        annotations=[dict(id=i, image_id=1 + i % 2, category_id=c, bbox=b)
                     for i, (c, b) in enumerate(
                         [(c, b) for c in boxes for b in boxes[c]] +
                         [(99, [0, 0, 1, 1])])])))
    stats = load_class_frequency(str(path))
    assert stats.instance_count.tolist() == [4, 4]
    assert stats.image_count.tolist() == [2, 2]
    np.testing.assert_allclose(stats.fractal_dimension, [2., 1.])
    assert stats.missing == ''


@pytest.mark.parametrize('images,bbox,missing', [
    ([dict(id=1)], [0, 0, 1, 1],
     'image 1 has no width and height in the file'),
    ([dict(id=1, width=9, height=9)], None, 'annotation 5 has no bbox')])
def test_files_without_sizes_or_boxes_have_counts_only(tmp_path, images,
                                                       bbox, missing):
    path = tmp_path / 'coco.json'
    ann = dict(id=5, image_id=1, category_id=1)
    if bbox:
        ann['bbox'] = bbox
    path.write_text(json.dumps(dict(images=images, categories=[dict(id=1)],
                                    annotations=[ann])))
    stats = load_class_frequency(str(path))
    assert stats.instance_count.tolist() == [1]
    assert stats.fractal_dimension is None and stats.missing == missing


def test_caches_of_an_older_layout_are_not_read(tmp_path, monkeypatch):
    path = tmp_path / 'coco.json'
    path.write_text(json.dumps(dict(
        categories=[dict(id=1)],
        annotations=[dict(image_id=1, category_id=1)])))
    load_class_frequency(str(path))
    monkeypatch.setattr(class_frequency, 'CACHE_VERSION',
                        class_frequency.CACHE_VERSION + 1)
    parse = class_frequency._parse
    calls = []
    monkeypatch.setattr(class_frequency, '_parse',
                        lambda f: calls.append(f) or parse(f))
    load_class_frequency(str(path))
    assert calls == [str(path)]
