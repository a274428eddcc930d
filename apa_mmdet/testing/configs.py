# Copyright (c) apa_mmdet contributors.
"""apa_mmdet's own configs, for tests and tools (mmdet's helper only finds
configs inside an mmdet source checkout)."""
from pathlib import Path

from mmengine.config import Config

CONFIG_ROOT = Path(__file__).resolve().parents[2] / 'configs'


def get_config(name: str) -> Config:
    """Load ``configs/<name>`` of this repository.

    Args:
        name (str): Path below ``configs/``, e.g.
            ``'synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'``.
    """
    path = CONFIG_ROOT / name
    if not path.is_file():
        raise FileNotFoundError(f'no config {name} under {CONFIG_ROOT}')
    return Config.fromfile(path)
