# Copyright (c) apa_mmdet contributors.
"""What every official-checkpoint conversion shares: unwrapping, the error
type and the strict-load comparison."""
import argparse
from collections import OrderedDict
from typing import Dict, List

from torch import Tensor

WRAPPER_KEYS = ('state_dict', 'model', 'model_ema')
# The official ImageNet trainer stores its argparse options in 'args'.
OFFICIAL_SAFE_GLOBALS = [argparse.Namespace]


class ConversionError(ValueError):
    """The file is not an official checkpoint of a known architecture
    (SE-ResNet/ResNeXt with or without APA, Swin with AGLU or GELU)."""


def unwrap_state_dict(checkpoint) -> Dict[str, Tensor]:
    """The state dict inside a checkpoint, without a ``module.`` prefix.

    Args:
        checkpoint: A loaded checkpoint: a state dict, or a dict holding
            one under ``state_dict``, ``model`` or ``model_ema``.

    Returns:
        dict[str, Tensor]: Parameter and buffer tensors by name.
    """
    if not isinstance(checkpoint, dict):
        raise ConversionError('a checkpoint must be a dict, got '
                              f'{type(checkpoint).__name__}')
    state = checkpoint
    for key in WRAPPER_KEYS:
        if isinstance(checkpoint.get(key), dict):
            state = checkpoint[key]
            break
    tensors = {k: v for k, v in state.items() if isinstance(v, Tensor)}
    if not tensors:
        raise ConversionError(
            'no state dict found: top-level keys are '
            f'{sorted(map(str, checkpoint))[:10]}, expected tensors or one '
            f'of {WRAPPER_KEYS}')
    return OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in tensors.items())


def key_mismatches(state: Dict[str, Tensor],
                   expected: Dict[str, Tensor]) -> List[str]:
    """Every key of ``expected`` (a model's state dict) missing from
    ``state``, every key of ``state`` the model does not have, and every
    shape that differs: what a strict ``load_state_dict`` refuses."""
    problems = [f'missing {k}' for k in expected if k not in state]
    problems += [f'unexpected {k}' for k in state if k not in expected]
    problems += [
        f'shape of {k}: {tuple(v.shape)}, expected '
        f'{tuple(expected[k].shape)}' for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    return problems
