# Copyright (c) apa_mmdet contributors.
"""The repository's configs, for tests (mmdet's own finder only looks in an
mmdet source checkout)."""
import os
from pathlib import Path

from mmengine.config import Config

CONFIG_ROOT = Path(__file__).resolve().parents[2] / 'configs'


def get_config(name: str) -> Config:
    """Load ``configs/<name>``, e.g.
    ``'synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'``."""
    path = CONFIG_ROOT / name
    if not path.is_file():
        raise FileNotFoundError(f'no config {name} under {CONFIG_ROOT}')
    return Config.fromfile(path)


def config_on_data(path, data_root) -> Config:
    """Load a config whose data paths follow ``DATA_ROOT`` with its data
    under ``data_root``."""
    previous = os.environ.get('DATA_ROOT')
    os.environ['DATA_ROOT'] = f'{data_root}/'
    try:
        return Config.fromfile(path)
    finally:
        if previous is None:
            del os.environ['DATA_ROOT']
        else:
            os.environ['DATA_ROOT'] = previous


def build_initialised(cfg: Config, seed: int = 0):
    """The config's detector, built and initialised under ``seed``."""
    import torch
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model
