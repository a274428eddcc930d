# Copyright (c) apa_mmdet contributors.
"""What the fused APA/AGLU kernels (``apa_cpu_kernel``, ``triton_loader``)
share: loading once on first use, an environment variable that opts out,
a warning when loading fails, and ``use_eager_formula()``."""
import contextlib
import os
import warnings
from typing import Callable

_eager_blocks = [0]


@contextlib.contextmanager
def use_eager_formula():
    """Compute APA/AGLU with the eager formula inside the block, on every
    device (the reference the fused kernels are compared with)."""
    _eager_blocks[0] += 1
    try:
        yield
    finally:
        _eager_blocks[0] -= 1


def eager_formula_forced() -> bool:
    """Whether a ``use_eager_formula()`` block is open."""
    return _eager_blocks[0] > 0


def kernel_loaded(state: dict) -> bool:
    """Whether a kernel whose loader keeps ``state`` is in use, without
    loading it (for code that torch.compile traces)."""
    return state.get('available', False) and not eager_formula_forced()


def load_kernel_once(state: dict, env_var: str, load: Callable[[], None],
                     failure: Callable[[Exception], str]) -> bool:
    """Whether the kernel is in use: ``load()`` runs on the first call
    unless ``env_var`` is '0'; if it raises, warns ``failure(error)`` and
    the eager formula is used from then on. The outcome is kept in
    ``state['available']``."""
    if eager_formula_forced():
        return False
    if 'available' not in state:
        state['available'] = False
        if os.environ.get(env_var, '1') != '0':
            try:
                load()
                state['available'] = True
            except Exception as error:  # the loaders say what can fail
                warnings.warn(f'apa_mmdet: {failure(error)}')
    return state['available']
