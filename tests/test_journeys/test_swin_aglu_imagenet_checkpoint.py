# Copyright (c) apa_mmdet contributors.
"""Journey: the official Swin-AGLU ImageNet checkpoint, as its trainer saved
it, → ``aglu2apa.py --config`` → the Swin recipe's own
``init_cfg=dict(type='Pretrained')`` → ``init_weights()`` → a training step.

The CPU-sized Swin-T recipe takes the code path of the Swin-B one (mmdet's
``SwinTransformer.init_weights`` with ``convert_weights=False``)."""
import subprocess
import sys

import torch
from mmdet.registry import MODELS
from mmengine.runner import Runner

from apa_mmdet.datasets.synthetic import generate_v3det
from apa_mmdet.models.layers import AGLU
from tests.helpers.configs import CONFIG_ROOT, config_on_data
from tests.helpers.official_swin import (official_swin_aglu_state,
                                         save_official_swin_trainer_file)

ROOT = CONFIG_ROOT.parent
SWIN_T = (CONFIG_ROOT /
          'synthetic/faster-rcnn_swin-t-aglu-tiny_fpn_wclinear_synthetic-v3det.py')


def test_trainer_file_converts_initialises_the_recipe_and_trains(tmp_path):
    official = official_swin_aglu_state()
    src = tmp_path / 'swin_aglu_ckpt_epoch_299.pth'
    save_official_swin_trainer_file(src, official)
    dst = tmp_path / 'swin-t-aglu_in1k_aglu2apa.pth'
    result = subprocess.run(
        [sys.executable, 'tools/model_converters/aglu2apa.py', str(src),
         str(dst), '--config', str(SWIN_T)],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # the trainer's yacs config is named, not run (its __setstate__ raises)
    assert ('not loaded (objects of types outside the allow-list; nothing '
            'of them ran): config (tests.helpers.official_swin.'
            'SwinTrainerConfig)') in result.stdout

    generate_v3det(str(tmp_path / 'data'), num_train=4, num_val=12,
                   image_size=96)
    cfg = config_on_data(SWIN_T, tmp_path / 'data')
    cfg.model.backbone.init_cfg = dict(type='Pretrained',
                                       checkpoint=str(dst))
    model = MODELS.build(cfg.model)
    model.init_weights()
    backbone = model.backbone
    assert torch.equal(backbone.patch_embed.projection.weight,
                       official['patch_embed.proj.weight'])
    assert torch.equal(backbone.stages[1].blocks[1].attn.w_msa.qkv.weight,
                       official['layers.1.blocks.1.attn.qkv.weight'])
    for stage, depth in enumerate((2, 2, 6, 2)):
        for block in range(depth):
            act = backbone.stages[stage].blocks[block].ffn.layers[0][1]
            assert isinstance(act, AGLU)
            name = f'layers.{stage}.blocks.{block}.mlp.act'
            assert torch.equal(act.lambda_param,
                               official[f'{name}.lambda_param'])
            assert torch.equal(act.kappa_param,
                               official[f'{name}.kappa_param'])

    model.train()
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False)
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    loss, _ = model.parse_losses(
        model(**model.data_preprocessor(batch, True), mode='loss'))
    loss.backward()
    assert torch.isfinite(loss)
    lam = backbone.stages[0].blocks[0].ffn.layers[0][1].lambda_param
    assert lam.grad.isfinite().all() and lam.grad.any()
