# Copyright (c) apa_mmdet contributors.
from .activations import AGLU, APA, build_site_activation
from .apa_cpu_kernel import cpu_kernel_available
from .apa_function import aglu, apa, log_apa, scale_add_apa
from .kernel_loading import use_eager_formula
from .normed_predictor import LearnableTempNormedConv2d
from .se_layer import APASELayer
from .triton_loader import triton_kernel_available

__all__ = [
    'APA', 'AGLU', 'apa', 'aglu', 'log_apa', 'scale_add_apa',
    'build_site_activation',
    'APASELayer', 'LearnableTempNormedConv2d', 'cpu_kernel_available',
    'triton_kernel_available', 'use_eager_formula'
]
