# Copyright (c) apa_mmdet contributors.
"""The repository's configs, for tests (mmdet's own finder only looks in an
mmdet source checkout)."""
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
