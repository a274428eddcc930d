# Copyright (c) apa_mmdet contributors.
"""Loads the Triton CUDA kernels of APA/AGLU (``apa_triton_kernel``) on
first CUDA use, so that CPU-only installs never import Triton.

Without Triton (or when it fails to import) APA/AGLU fall back to the eager
formula on CUDA with a warning saying why; ``APA_MMDET_TRITON_KERNEL=0``
(process) or ``with use_eager_formula():`` (block) select it on purpose.
"""
import importlib
import os
import warnings

import torch

from .apa_cpu_kernel import eager_formula_forced

TRITON_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_state = {}


def triton_kernel_loaded() -> bool:
    """Whether APA/AGLU use the Triton kernels, without importing them (for
    code that torch.compile traces)."""
    return _state.get('available', False) and not eager_formula_forced()


def triton_kernel_available() -> bool:
    """Whether APA/AGLU use ``torch.ops.apa_mmdet.apa_*_triton`` for CUDA
    tensors of ``TRITON_DTYPES`` (imports Triton on the first call)."""
    if eager_formula_forced():
        return False
    if 'available' not in _state:
        if os.environ.get('APA_MMDET_TRITON_KERNEL', '1') == '0':
            _state['available'] = False
        else:
            try:
                importlib.import_module('.apa_triton_kernel', __package__)
                _state['available'] = True
            except Exception as error:  # no Triton, or a broken install
                warnings.warn(
                    'apa_mmdet: the Triton APA/AGLU kernel could not be '
                    f'loaded ({type(error).__name__}: {error}); using the '
                    'eager formula on CUDA, several times slower')
                _state['available'] = False
    return _state['available']
