# Copyright (c) apa_mmdet contributors.
"""Memory kept for backward, as tests and benchmarks measure it (torch only,
so the GPU benchmarks can load this file without mmdet)."""
from typing import Any, Callable, Tuple

import torch


def saved_storage_bytes(fn: Callable[[], Any],
                        exclude: Tuple[torch.Tensor, ...] = ()
                        ) -> Tuple[Any, int]:
    """Run ``fn()`` and return its result and the bytes of the distinct
    storages autograd saved for backward meanwhile, leaving out those of
    ``exclude`` (tensors the caller holds anyway, e.g. the input)."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        # an alias without grad_fn: a saved output packed as itself would
        # hold its own graph in a cycle that no collector frees
        return tensor.detach()

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn()
    for tensor in exclude:
        storages.pop(tensor.untyped_storage().data_ptr(), None)
    return result, sum(storages.values())
