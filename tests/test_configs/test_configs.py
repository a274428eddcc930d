# Copyright (c) apa_mmdet contributors.
"""Every config under configs/ loads, is mmdet-3 clean and builds its model."""
from pathlib import Path

import pytest
import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.model import convert_sync_batchnorm

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    p.relative_to(ROOT).as_posix()
    for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)
# mmdet-2 keys that mmdet 3 silently ignores (the official configs had them)
FORBIDDEN = ('fp16', 'evaluation', 'optimizer', 'optimizer_config',
             'lr_config', 'runner', 'data', 'work_dir')


def strip_files(cfg):
    """Drop what needs files outside the repo: checkpoints, annotations."""
    def visit(node):
        if isinstance(node, dict):
            if node.get('type') == 'Pretrained':
                return None
            return {k: visit(v) for k, v in node.items()
                    if k != 'ann_file'}
        if isinstance(node, (list, tuple)):
            return type(node)(visit(v) for v in node)
        return node
    return ConfigDict(visit(cfg.model.to_dict()))


def test_the_tree_has_the_promised_configs():
    names = {Path(p).name for p in CONFIGS}
    assert 'mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py' in names
    assert 'mask-rcnn_se-r101-apa_fpn_sample1e-3_ms-2x_lvis-v1.py' in names
    assert {Path(p).parts[1] for p in CONFIGS} >= {
        'lvis', 'coco', 'v3det', 'synthetic'}
    for folder in ('lvis', 'coco', 'v3det', 'synthetic'):
        assert (ROOT / 'configs' / folder / 'README.md').is_file()


@pytest.mark.parametrize('path', CONFIGS)
def test_config_loads_lints_and_builds(path):
    cfg = Config.fromfile(ROOT / path)
    assert 'apa_mmdet' in cfg.custom_imports['imports']
    assert not cfg.custom_imports.get('allow_failed_imports', False)
    assert not [k for k in FORBIDDEN if k in cfg], path
    text = cfg.pretty_text
    assert '/home/' not in text and "='/" not in text, 'absolute path'
    model_cfg = strip_files(cfg)
    if 'lvis' in path:  # LVIS evaluation is slow: only at the end
        assert cfg.train_cfg.val_interval == cfg.train_cfg.max_epochs
    if path.startswith('configs/lvis/'):
        assert cfg.model.roi_head.bbox_head.num_classes == 1203
        assert cfg.model.test_cfg.rcnn.max_per_img == 300
    if path.startswith('configs/v3det/'):
        heads = cfg.model.roi_head.bbox_head
        heads = heads if isinstance(heads, list) else [heads]
        assert all(h.num_classes == 13204 for h in heads)
    model = MODELS.build(model_cfg)
    assert type(model.backbone).__name__ == 'APASEResNet'


@pytest.mark.parametrize('path', [
    'configs/lvis/mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py',
    'configs/synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'
])
def test_syncbn_variants_build(path):
    """``norm_cfg=dict(type='SyncBN')`` in the config, or mmengine's
    ``sync_bn='torch'`` conversion of the built model."""
    cfg = Config.fromfile(ROOT / path)
    cfg.merge_from_dict({
        'model.backbone.norm_cfg': dict(type='SyncBN', requires_grad=True)})
    model = MODELS.build(strip_files(cfg))
    norms = [m for m in model.backbone.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    cfg = Config.fromfile(ROOT / path)
    model = convert_sync_batchnorm(MODELS.build(strip_files(cfg)), 'torch')
    assert not [m for m in model.modules()
                if isinstance(m, nn.BatchNorm2d)]
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
