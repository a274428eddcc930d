# Copyright (c) apa_mmdet contributors.
"""The APA/AGLU maths and kernels.

``functional`` (``apa``, ``aglu``, ``log_apa``, ``scale_add_apa``; the
layers' unchecked ``activation`` and ``scale_add_activation``) is the API;
``dispatch`` chooses once per device type and dtype between the fused CPU
kernel (``cpu_kernel`` builds ``csrc/apa_cpu.cpp``), the Triton CUDA
kernels (``triton_kernel``) and the formula in torch ops (``eager``);
``operators`` makes the fused kernels ``torch.library`` operators for
``torch.compile``.

Needs only torch (and Triton for the CUDA kernels): ``import
apa_mmdet.ops`` works without mmcv, mmengine and mmdet, e.g. for
``benchmarks/activation.py`` on a GPU machine that has only torch.
"""
from .dispatch import (cpu_kernel_available, triton_kernel_available,
                       use_eager_formula)
from .eager import LAMBDA_MIN
from .functional import (ACTIVATIONS, activation, aglu, apa, log_apa,
                         scale_add_activation, scale_add_apa)

__all__ = [
    'ACTIVATIONS', 'LAMBDA_MIN', 'activation', 'aglu', 'apa',
    'cpu_kernel_available', 'log_apa', 'scale_add_activation',
    'scale_add_apa', 'triton_kernel_available', 'use_eager_formula'
]
