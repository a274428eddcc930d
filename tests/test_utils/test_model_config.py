# Copyright (c) apa_mmdet contributors.
"""without_file_reads: a real recipe's model without the files it names,
each module's own rule found through the registry."""
from mmdet.registry import MODELS
from mmengine.config import Config
from torch import nn

from apa_mmdet.utils import build_model_without_file_reads, without_file_reads
from tests.helpers.configs import CONFIG_ROOT

R50 = CONFIG_ROOT / 'lvis' / 'mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'


def test_the_recipe_loses_its_file_reads_and_builds():
    model_cfg = Config.fromfile(R50).model
    assert model_cfg.backbone.init_cfg.type == 'Pretrained'
    stripped = without_file_reads(model_cfg.to_dict())
    assert stripped.backbone.init_cfg is None
    loss = stripped.roi_head.bbox_head.loss_cls
    assert (loss.ann_file, loss.tail_thr) == (None, 0.)
    assert loss.act_cfg == model_cfg.roi_head.bbox_head.loss_cls.act_cfg
    model = build_model_without_file_reads(str(R50))
    assert not model.roi_head.bbox_head.loss_cls.tail_classes.any()


@MODELS.register_module(force=True)
class _ReadsAFile(nn.Module):

    def __init__(self, path=None, size=1):
        super().__init__()
        self.path, self.size = path, size

    @staticmethod
    def config_without_file_reads(cfg):
        return dict(cfg, path=None)


def test_a_module_says_how_it_runs_without_its_files():
    cfg = dict(type='_ReadsAFile', path='/nowhere', size=3,
               child=[dict(type='_ReadsAFile', path='/x')])
    stripped = without_file_reads(cfg)
    assert stripped.path is None and stripped.size == 3
    assert stripped.child[0].path is None
