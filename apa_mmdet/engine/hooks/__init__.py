# Copyright (c) apa_mmdet contributors.
from .apa_params_hook import APAParamsHook, apa_parameter_scalars
from .iteration_seed_hook import IterationSeedHook
from .shared_collect_dir_hook import SharedCollectDirHook

__all__ = [
    'APAParamsHook', 'IterationSeedHook', 'SharedCollectDirHook',
    'apa_parameter_scalars'
]
