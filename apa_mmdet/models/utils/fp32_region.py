# Copyright (c) apa_mmdet contributors.
"""Run a method in float32 when mixed-precision autocast is on.

mmcv's CPU ``nms`` and ``roi_align`` only take float32/float64 tensors, and
box coordinates lose pixels in 16-bit floats (bfloat16 keeps 8 significant
bits: steps of 4 px at 1000 px). The decorated method runs with autocast
disabled on its inputs' device and its 16-bit floating inputs cast to
float32 (tensors found in lists, tuples and dicts; not inside other
objects such as ``InstanceData``); without autocast it is called
unchanged.
"""
import functools
from typing import Any, Callable, Optional

import torch

_HALF_TYPES = (torch.float16, torch.bfloat16)


def _first_tensor(obj: Any) -> Optional[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, dict):
        obj = list(obj.values())
    for item in obj if isinstance(obj, (list, tuple)) else ():
        found = _first_tensor(item)
        if found is not None:
            return found
    return None


def _to_fp32(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.dtype in _HALF_TYPES else obj
    if type(obj) in (list, tuple):
        return type(obj)(_to_fp32(item) for item in obj)
    if type(obj) is dict:
        return {key: _to_fp32(value) for key, value in obj.items()}
    return obj


def fp32_region(method: Callable) -> Callable:
    """Decorate ``method`` to run in float32 under autocast (see module)."""

    @functools.wraps(method)
    def run_in_fp32(*args, **kwargs):
        tensor = _first_tensor((args, kwargs))
        if tensor is None or not torch.is_autocast_enabled(tensor.device.type):
            return method(*args, **kwargs)
        with torch.autocast(tensor.device.type, enabled=False):
            return method(*_to_fp32(args), **_to_fp32(kwargs))

    return run_in_fp32


class FP32ParentMethod:
    """A class attribute: the parent class's method of the same name, run
    in float32 under autocast (:func:`fp32_region`).

    The parent's method is looked up at each call, not copied when the
    class is made, so a later rewrite of it (mmdeploy's function rewriter,
    which replaces e.g. ``RPNHead.predict_by_feat`` while it exports, or a
    test's patch) reaches the subclass too.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.owner, self.name = owner, name

    def __get__(self, obj: Any, objtype: Optional[type] = None) -> Any:
        if obj is None:
            return self
        return fp32_region(getattr(super(self.owner, obj), self.name))
