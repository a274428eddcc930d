# Copyright (c) apa_mmdet contributors.
"""The APA/AGLU maths and kernels.

``functional`` (``apa``, ``aglu``, ``log_apa``, ``scale_add_apa``) is the
API; ``dispatch`` chooses per call between the fused CPU kernel
(``cpu_kernel`` builds ``csrc/apa_cpu.cpp``), the Triton CUDA kernels
(``triton_kernel``) and the formula in torch ops (``eager``).

Needs only torch (and Triton for the CUDA kernels): ``import
apa_mmdet.ops`` works without mmcv, mmengine and mmdet, e.g. for
``benchmarks/activation.py`` on a GPU machine that has only torch.
"""
from .dispatch import (cpu_kernel_available, triton_kernel_available,
                       use_eager_formula)
from .functional import (ACTIVATIONS, LAMBDA_MIN, aglu, apa, log_apa,
                         scale_add_apa)

__all__ = [
    'ACTIVATIONS', 'LAMBDA_MIN', 'aglu', 'apa', 'cpu_kernel_available',
    'log_apa', 'scale_add_apa', 'triton_kernel_available',
    'use_eager_formula'
]
