# Copyright (c) apa_mmdet contributors.
"""apa_mmdet: Adaptive Parametric Activation for MMDetection 3.x.

Importing the package registers its modules (``APA``, ``AGLU``, ...) in the
mmengine/mmdet registries and installs the allow-list checkpoint loader, so a
config only needs ``custom_imports=dict(imports=['apa_mmdet'])``.
"""
from . import datasets, engine, evaluation, models, utils
from .version import __version__

__all__ = [
    '__version__', 'datasets', 'engine', 'evaluation', 'models', 'utils'
]
