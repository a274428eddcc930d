# Copyright (c) apa_mmdet contributors.
"""The synthetic LVIS-format generator: deterministic, complete, long-tailed."""
import hashlib
import json
from pathlib import Path

import pytest
from lvis import LVIS
from mmdet.registry import DATASETS

from apa_mmdet.datasets.synthetic import (generate_coco, generate_lvis,
                                          generate_v3det)


def digest(root):
    files = sorted(p for p in Path(root).rglob('*') if p.is_file())
    return hashlib.sha256(b''.join(
        str(p.relative_to(root)).encode() + p.read_bytes()
        for p in files)).hexdigest()


def test_same_seed_same_files(tmp_path):
    kwargs = dict(num_classes=6, num_train=20, num_val=8, image_size=64)
    generate_lvis(str(tmp_path / 'a'), seed=1, **kwargs)
    generate_lvis(str(tmp_path / 'b'), seed=1, **kwargs)
    generate_lvis(str(tmp_path / 'c'), seed=2, **kwargs)
    assert digest(tmp_path / 'a') == digest(tmp_path / 'b')
    assert digest(tmp_path / 'a') != digest(tmp_path / 'c')


def test_lvis_v1_fields_and_layout(tmp_path):
    paths = generate_lvis(str(tmp_path), num_classes=10, num_train=60,
                          num_val=20, image_size=64)
    train = json.loads(Path(paths['train']).read_text())
    val = LVIS(paths['val'])  # the official API accepts the file
    cats = train['categories']
    assert [c['id'] for c in cats] == list(range(1, 11))
    assert {c['frequency'] for c in cats} == {'r', 'c', 'f'}
    for cat in cats:
        images = {a['image_id'] for a in train['annotations']
                  if a['category_id'] == cat['id']}
        assert cat['image_count'] == len(images)
    counts = sorted((c['image_count'] for c in cats), reverse=True)
    assert counts[0] >= 4 * max(counts[-1], 1)  # long-tailed
    rare = {c['image_count'] for c in cats if c['frequency'] == 'r'}
    freq = {c['image_count'] for c in cats if c['frequency'] == 'f'}
    assert max(rare) <= min(freq)
    assert set(val.get_cat_ids()) == {
        a['category_id'] for a in val.dataset['annotations']}
    for image in val.dataset['images']:
        present = {a['category_id'] for a in val.img_ann_map[image['id']]}
        assert not present & set(image['neg_category_ids'])
        assert set(image['not_exhaustive_category_ids']) <= present
        split, name = image['coco_url'].split('/')[-2:]
        assert (tmp_path / split / name).is_file()


@pytest.mark.parametrize('kwargs,message', [
    (dict(num_classes=2), 'num_classes.*2'),
    (dict(num_classes=8, num_val=5), 'num_val=5'),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_lvis(str(tmp_path), **kwargs)


@pytest.mark.parametrize('generate,dataset,prefix,masks', [
    (generate_lvis, 'LVISV1Dataset', '', True),
    (generate_coco, 'CocoDataset', 'train2017/', True),
    (generate_v3det, 'V3DetDataset', '', False),
])
def test_mmdet_datasets_read_every_format(tmp_path, generate, dataset, prefix,
                                          masks):
    paths = generate(str(tmp_path), num_classes=5, num_train=12, num_val=6,
                     image_size=48)
    kwargs = dict(
        type=dataset,
        data_root=str(tmp_path),
        ann_file=paths['train'],
        data_prefix=dict(img=prefix),
        pipeline=[])
    if dataset == 'CocoDataset':
        names = [c['name'] for c in
                 json.loads(Path(paths['train']).read_text())['categories']]
        kwargs['metainfo'] = dict(classes=names)
    data = DATASETS.build(kwargs)
    assert len(data) > 0
    for info in data:
        assert Path(info['img_path']).is_file()
        assert info['instances']
        assert all(('mask' in inst) == masks for inst in info['instances'])
