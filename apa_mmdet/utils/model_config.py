# Copyright (c) apa_mmdet contributors.
"""Model configs that build without the files they name."""
from mmengine.config import Config, ConfigDict
from torch import nn


def _strip_file_reads(node):
    if isinstance(node, dict):
        node = {k: _strip_file_reads(v) for k, v in node.items()}
        if node.get('type') == 'Pretrained':
            return None
        if node.get('type') == 'APADropLoss':
            node.update(ann_file=None, tail_thr=0.)
        return node
    if isinstance(node, (list, tuple)):
        return type(node)(_strip_file_reads(v) for v in node)
    return node


def without_file_reads(model_cfg: dict) -> ConfigDict:
    """A copy of a model config that builds and runs without files: no
    ``Pretrained`` inits, and ``APADropLoss`` without its annotation file
    (``tail_thr=0``), for checks of the model alone."""
    return ConfigDict(_strip_file_reads(dict(model_cfg)))


def build_model_without_file_reads(config: str) -> nn.Module:
    """The model of the config file ``config``, built from
    :func:`without_file_reads` (weights as initialised, not loaded)."""
    from mmdet.registry import MODELS
    return MODELS.build(
        without_file_reads(Config.fromfile(config).model.to_dict()))
