# Copyright (c) apa_mmdet contributors.
"""Loads the Triton CUDA kernels of APA/AGLU (``apa_triton_kernel``) on
first CUDA use, so that CPU-only installs never import Triton.

Without Triton (or when it fails to import) APA/AGLU fall back to the eager
formula on CUDA with a warning saying why; ``APA_MMDET_TRITON_KERNEL=0``
(process) or ``with use_eager_formula():`` (block) select it on purpose.
"""
import importlib

import torch

from .kernel_loading import kernel_loaded, load_kernel_once

TRITON_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_state = {}


def _import_kernels() -> None:
    importlib.import_module('.apa_triton_kernel', __package__)


def _import_failure(error: Exception) -> str:
    return ('the Triton APA/AGLU kernel could not be loaded '
            f'({type(error).__name__}: {error}); using the eager formula on '
            'CUDA, several times slower')


def triton_kernel_loaded() -> bool:
    """Whether APA/AGLU use the Triton kernels, without importing them (for
    code that torch.compile traces)."""
    return kernel_loaded(_state)


def triton_kernel_available() -> bool:
    """Whether APA/AGLU use ``torch.ops.apa_mmdet.apa_*_triton`` for CUDA
    tensors of ``TRITON_DTYPES`` (imports Triton on the first call; no
    Triton or a broken install: a warning)."""
    return load_kernel_once(_state, 'APA_MMDET_TRITON_KERNEL',
                            _import_kernels, _import_failure)
