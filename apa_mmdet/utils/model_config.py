# Copyright (c) apa_mmdet contributors.
"""Configs' models and data set metadata, without the files they name."""
from mmengine.config import Config, ConfigDict
from torch import nn


def _strip_file_reads(node, registry):
    if isinstance(node, dict):
        node = {k: _strip_file_reads(v, registry) for k, v in node.items()}
        if node.get('type') == 'Pretrained':
            return None
        cls = (registry.get(node['type'])
               if isinstance(node.get('type'), str) else None)
        strip = getattr(cls, 'config_without_file_reads', None)
        return strip(node) if strip is not None else node
    if isinstance(node, (list, tuple)):
        return type(node)(_strip_file_reads(v, registry) for v in node)
    return node


def without_file_reads(model_cfg: dict) -> ConfigDict:
    """A copy of a model config that builds and runs without files, for
    checks of the model alone: no ``Pretrained`` inits, and every module
    whose class says how (a ``config_without_file_reads(cfg)`` static
    method, e.g. ``APADropLoss``'s: no annotation file) rewritten so."""
    from mmdet.registry import MODELS
    return ConfigDict(_strip_file_reads(dict(model_cfg), MODELS))


def build_model_without_file_reads(config: str,
                                   cfg_options: dict = None) -> nn.Module:
    """The model of the config file ``config`` (with ``cfg_options``
    merged, as ``--cfg-options`` does), built from
    :func:`without_file_reads` (weights as initialised, not loaded)."""
    from mmdet.registry import MODELS
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return MODELS.build(without_file_reads(cfg.model.to_dict()))


def config_dataset_meta(config: str) -> dict:
    """The class names and palette of the test set of the config file
    ``config`` (the dataset class's ``METAINFO`` with the config's
    ``metainfo``), as mmdet's runner saves them in ``meta.dataset_meta``;
    no annotation file is read."""
    import mmdet.datasets  # noqa: F401 (registers mmdet's datasets)
    from mmdet.registry import DATASETS
    dataset = Config.fromfile(config).test_dataloader.dataset
    while 'dataset' in dataset:  # wrappers (ClassBalancedDataset, ...)
        dataset = dataset.dataset
    return DATASETS.build(dict(dataset, lazy_init=True)).metainfo
