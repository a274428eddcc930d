# Copyright (c) apa_mmdet contributors.
"""The CPU-sized Swin-T-AGLU V3Det config trains on the generated V3Det
set: every FFN's AGLU gets a finite, non-zero gradient and its λ, κ move."""
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner

from apa_mmdet.datasets.synthetic import generate_v3det
from apa_mmdet.models.layers import AGLU
from tests.helpers.configs import (CONFIG_ROOT, build_initialised,
                                   config_on_data)

CONFIG = (CONFIG_ROOT /
          'synthetic/faster-rcnn_swin-t-aglu-tiny_fpn_wclinear_synthetic-v3det.py')


def test_a_training_step_reaches_every_ffn_aglu(tmp_path):
    generate_v3det(str(tmp_path), num_train=8, num_val=12, image_size=96)
    cfg = config_on_data(CONFIG, tmp_path)
    model = build_initialised(cfg)
    model.train()
    acts = {name: module for name, module in model.backbone.named_modules()
            if isinstance(module, AGLU)}
    assert len(acts) == 2 + 2 + 6 + 2  # one per Swin block
    before = {name: (a.lambda_param.clone(), a.kappa_param.clone())
              for name, a in acts.items()}
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False)
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    for name, act in acts.items():
        for param in (act.lambda_param, act.kappa_param):
            assert torch.isfinite(param.grad).all() and param.grad.any(), name
    optim_wrapper.step()
    for name, act in acts.items():
        assert not torch.equal(act.lambda_param, before[name][0]), name
        assert not torch.equal(act.kappa_param, before[name][1]), name
