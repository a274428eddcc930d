# Copyright (c) apa_mmdet contributors.
"""apa_mmdet: Adaptive Parametric Activation for MMDetection 3.x.

Importing the package registers its modules (``APA``, ``AGLU``, ...) in the
mmengine/mmdet registries, so a config only needs
``custom_imports=dict(imports=['apa_mmdet'])``, and makes the allow-list
loader (``apa_mmdet.utils.register_local_loader``) mmengine's loader for
local checkpoints, which torch >= 2.6 needs to load mmengine's own
checkpoints; ``APA_MMDET_LOCAL_LOADER=mmengine`` keeps mmengine's.

Without mmdet installed only :mod:`apa_mmdet.ops` (the APA/AGLU functions
and kernels, torch only) is imported: enough for the activation benchmark
on a machine that has torch alone.
"""
import os
from importlib.util import find_spec

from . import ops
from .version import __version__

__all__ = ['__version__', 'ops']

if find_spec('mmdet') is not None:
    from . import datasets, engine, evaluation, models, utils
    __all__ += ['datasets', 'engine', 'evaluation', 'models', 'utils']
    if os.environ.get('APA_MMDET_LOCAL_LOADER') != 'mmengine':
        utils.register_local_loader()
