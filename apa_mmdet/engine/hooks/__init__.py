# Copyright (c) apa_mmdet contributors.
from .apa_params_hook import APAParamsHook, apa_parameter_scalars
from .iteration_seed_hook import IterationSeedHook

__all__ = ['APAParamsHook', 'IterationSeedHook', 'apa_parameter_scalars']
