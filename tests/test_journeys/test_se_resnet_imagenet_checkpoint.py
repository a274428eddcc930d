# Copyright (c) apa_mmdet contributors.
"""Journey: the official ImageNet SE-R50/R101 APA checkpoint, as its trainer
saved it, → ``aglu2apa.py --config`` into ``CHECKPOINT_ROOT`` under the name
the LVIS recipe expects → the recipe's own ``init_cfg`` →
``init_weights()`` → one training step on a small LVIS-format set (the
R50 recipe, with its CARAFE upsampler, on CPU; the R101 recipe stops after
its weights are in: the step would repeat the R50's code at twice the
depth)."""
import subprocess
import sys

import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.runner import Runner

from apa_mmdet.datasets.synthetic import class_names, generate_lvis
from tests.helpers.configs import CONFIG_ROOT
from tests.helpers.official_se_resnet import official_imagenet_file

ROOT = CONFIG_ROOT.parent
RECIPES = {
    50: ('lvis/mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py',
         'se-r50-apa_in1k_aglu2apa.pth'),
    101: ('lvis/mask-rcnn_se-r101-apa_fpn_sample1e-3_ms-2x_lvis-v1.py',
          'se-r101-apa_in1k_aglu2apa.pth'),
}
SMALL_IMAGES = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]


def initialised_recipe(depth, tmp_path, monkeypatch):
    """The official ImageNet checkpoint converted into CHECKPOINT_ROOT, and
    the recipe's model (12 classes) initialised by its own init_cfg:
    (config, model); the backbone's weights are checked."""
    recipe, name = RECIPES[depth]
    src = tmp_path / f'se_resnet{depth}_apa_best.pth'
    official = official_imagenet_file(src, depth=depth, seed=depth)
    weights = tmp_path / 'weights'  # CHECKPOINT_ROOT, without its slash
    weights.mkdir()
    run = subprocess.run(
        [sys.executable, 'tools/model_converters/aglu2apa.py', str(src),
         str(weights / name), '--config', str(CONFIG_ROOT / recipe)],
        cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert 'loads strictly into' in run.stdout

    data = tmp_path / 'data'
    generate_lvis(str(data), num_train=4, num_val=12, image_size=96)
    monkeypatch.setenv('CHECKPOINT_ROOT', str(weights))
    monkeypatch.setenv('DATA_ROOT', str(data))
    cfg = Config.fromfile(CONFIG_ROOT / recipe)
    assert cfg.model.backbone.init_cfg.checkpoint == str(weights / name)
    # the generated set's 12 classes and small images; the model as is
    num_classes = 12
    cfg.model.roi_head.bbox_head.num_classes = num_classes
    cfg.model.roi_head.bbox_head.loss_cls.num_classes = num_classes
    cfg.model.roi_head.mask_head.num_classes = num_classes
    model = MODELS.build(cfg.model)
    model.init_weights()
    backbone = model.backbone
    assert torch.equal(backbone.conv1.weight, official['conv1.weight'])
    last = 'layer4.2.se.uniact.kappa_param'
    assert torch.equal(backbone.get_parameter(last), official[last])
    return cfg, model


def test_imagenet_weights_initialise_the_r101_recipe(tmp_path, monkeypatch):
    initialised_recipe(101, tmp_path, monkeypatch)


def test_imagenet_weights_initialise_the_r50_recipe_and_train(
        tmp_path, monkeypatch):
    cfg, model = initialised_recipe(50, tmp_path, monkeypatch)
    dataset = cfg.train_dataloader.dataset.dataset
    dataset.update(metainfo=dict(classes=class_names(12)),
                   pipeline=SMALL_IMAGES)
    cfg.train_dataloader.update(batch_size=2, num_workers=0,
                                persistent_workers=False)
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    model.train()
    loss, _ = model.parse_losses(
        model(**model.data_preprocessor(batch, True), mode='loss'))
    assert torch.isfinite(loss)
    loss.backward()
    stem = model.backbone.relu.lambda_param.grad
    assert stem is not None and stem.isfinite().all() and stem.any()
