# Copyright (c) apa_mmdet contributors.
"""Journey: an official APA detector checkpoint (LVIS R50 Mask R-CNN, V3Det
Faster R-CNN) as mmdet 3.2's runner saved it (``meta.dataset_meta``,
``message_hub``, optimizer and schedulers) → ``aglu2apa.py`` → mmdet's
``DetInferencer`` on an image (a drawn picture with the data set's class
names, labels ≥ 80) and → ``tools/test.py`` on a small LVIS-format set
(metrics), with the R50 recipe (CARAFE upsampling) on CPU; the LVIS test
runs the recipe's FRACAL config (test-time calibration from the set's
training annotations) on the checkpoint as it is.

The test set has the generated set's 12 classes, so the second checkpoint
is the recipe's model with 12 classes (a child config); the first has
LVIS's 1,203."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmdet.datasets import LVISV1Dataset
from mmengine.config import Config
from mmengine.logging import HistoryBuffer

from apa_mmdet.datasets.synthetic import (V3DET_LABEL_FILE, class_names,
                                          generate_lvis, generate_v3det)
from apa_mmdet.utils import build_model_without_file_reads, safe_load
from tests.helpers.configs import CONFIG_ROOT
from tests.helpers.official_se_resnet import official_state_dict

ROOT = CONFIG_ROOT.parent
R50 = CONFIG_ROOT / 'lvis' / 'mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
# the recipe tested with FRACAL: a trained checkpoint as it is, calibrated
# with the statistics of DATA_ROOT's training annotations
R50_FRACAL = R50.with_name(
    'mask-rcnn_se-r50-apa_fpn_fracal_sample1e-3_ms-2x_lvis-v1.py')
V3DET = (CONFIG_ROOT / 'v3det' /
         'faster-rcnn_se-r50-apa_fpn_wclinear_8xb4_sample1e-3_ms-2x_v3det.py')
# V3Det's names come from a file of the data set; its synset-like ids here
V3DET_CLASSES = tuple(f'n{i:08d}' for i in range(13204))


def save_mmdet32_checkpoint(path, config, classes):
    """What mmdet 3.2's runner saves for ``config``'s model: the official
    backbone's keys (their own layout) with the heads, and the runner's
    state beside them."""
    heads = {k: v for k, v in build_model_without_file_reads(
        config).state_dict().items() if not k.startswith('backbone.')}
    state = {f'backbone.{k}': v
             for k, v in official_state_dict(with_fc=False).items()}
    state.update(heads)
    loss = HistoryBuffer()
    loss.update(0.9)
    torch.save(
        dict(meta=dict(dataset_meta=dict(classes=tuple(classes),
                                         palette=[(220, 20, 60)] *
                                         len(classes)),
                       mmdet_version='3.2.0', epoch=24, iter=175000, seed=0,
                       experiment_name='mask-rcnn_r50_lvis'),
             state_dict=state,
             message_hub=dict(log_scalars={'train/loss': loss},
                              runtime_info=dict(epoch=24),
                              resumed_keys=dict(epoch=True)),
             optimizer=dict(state={}, param_groups=[dict(lr=0.0002)]),
             param_schedulers=[dict(last_step=24)]), path)


def convert(src, dst, *extra):
    run = subprocess.run(
        [sys.executable, 'tools/model_converters/aglu2apa.py', str(src),
         str(dst), *map(str, extra)],
        cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.fixture(scope='module')
def lvis_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('lvis_format')
    generate_lvis(str(root), num_train=12, num_val=12, image_size=96)
    return root


@pytest.fixture(scope='module')
def v3det_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('v3det_format')
    generate_v3det(str(root), num_train=12, num_val=12, image_size=96)
    return root


@pytest.mark.parametrize('recipe,classes', [
    (R50, LVISV1Dataset.METAINFO['classes']),
    (V3DET, V3DET_CLASSES),
], ids=['lvis', 'v3det'])
def test_det_inferencer_draws_the_data_sets_class_names(
        tmp_path, monkeypatch, lvis_root, recipe, classes):
    from mmdet.apis import DetInferencer

    # V3Det's root as downloaded holds its class list (the dataset reads it)
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / V3DET_LABEL_FILE).write_text(
        '\n'.join(V3DET_CLASSES) + '\n')
    monkeypatch.setenv('DATA_ROOT', str(tmp_path))
    src = tmp_path / 'official_epoch_24.pth'
    save_mmdet32_checkpoint(src, recipe, classes)
    dst = tmp_path / 'converted.pth'
    report = convert(src, dst)
    assert (f"class names: {len(classes)} from the file's "
            'meta.dataset_meta') in report
    assert safe_load(str(dst))['meta']['dataset_meta']['classes'] == classes

    # the recipe with a CPU-sized test (its model and meta as is): a small
    # scale, one proposal in a single NMS call (an untrained head scores
    # thousands of classes above the threshold; mmcv's NMS would loop over
    # them one class at a time) and 5 detections for the mask head
    cfg = Config.fromfile(recipe)
    cfg.test_dataloader.dataset.pipeline[1].scale = (320, 320)
    cfg.model.test_cfg.rpn.max_per_img = 1
    cfg.model.test_cfg.rcnn.max_per_img = 5
    cfg.model.test_cfg.rcnn.nms.split_thr = len(classes) + 1
    inferencer = DetInferencer(model=cfg, weights=str(dst), device='cpu',
                               show_progress=False)
    assert inferencer.model.dataset_meta['classes'] == classes
    image = str(next((lvis_root / 'val2017').iterdir()))
    result = inferencer(image, return_vis=True, pred_score_thr=0.0,
                        out_dir=str(tmp_path / 'out'))
    labels = result['predictions'][0]['labels']
    assert labels and max(labels) >= 80
    assert inferencer.visualizer.dataset_meta['classes'] == classes
    drawn = result['visualization'][0]
    assert drawn.shape[:2] == (96, 96) and np.ptp(drawn) > 0
    assert (tmp_path / 'out' / 'vis' / os.path.basename(image)).is_file()


CHILD_CONFIG = '''
_base_ = '{recipe}'
num_classes = 12
model = dict(roi_head=dict(bbox_head=dict(num_classes=num_classes{loss})
                           {mask_head}),
             test_cfg=dict(rcnn=dict(max_per_img=20)))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True{with_mask}),
    dict(type='PackDetInputs', meta_keys=(
        'img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))]
test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(metainfo=dict(classes={classes!r}), pipeline=test_pipeline))
'''
LVIS_CHILD = dict(
    recipe=R50_FRACAL, loss=', loss_cls=dict(num_classes=num_classes)',
    mask_head=', mask_head=dict(num_classes=num_classes)',
    with_mask=', with_mask=True')
V3DET_CHILD = dict(recipe=V3DET, loss='', mask_head='', with_mask='')
LVIS_METRICS = [f'lvis/{iou}_{key}' for iou in ('bbox', 'segm')
                for key in ('AP', 'APr', 'APc', 'APf')]
V3DET_METRICS = ['coco/bbox_mAP', 'coco/bbox_mAP_50']


@pytest.mark.parametrize('child,root,metrics', [
    (LVIS_CHILD, 'lvis_root', LVIS_METRICS),
    (V3DET_CHILD, 'v3det_root', V3DET_METRICS),
], ids=['lvis', 'v3det'])
def test_tools_test_reports_the_data_sets_metrics(tmp_path, request, child,
                                                  root, metrics):
    config = tmp_path / 'recipe_on_the_set.py'
    config.write_text(CHILD_CONFIG.format(classes=class_names(12), **child))
    src = tmp_path / 'official_12_classes.pth'
    save_mmdet32_checkpoint(src, config, class_names(12))
    dst = tmp_path / 'converted.pth'
    convert(src, dst, '--config', config)
    run = subprocess.run(
        [sys.executable, 'tools/test.py', str(config), str(dst),
         '--work-dir', str(tmp_path / 'work')],
        cwd=ROOT, capture_output=True, text=True,
        env=dict(os.environ, DATA_ROOT=str(request.getfixturevalue(root))))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    reported = dict(re.findall(r'((?:lvis|coco)/\w+):\s+(-?[\d.]+)',
                               run.stdout + run.stderr))
    for key in metrics:
        assert 0 <= float(reported[key]) <= 1, key
