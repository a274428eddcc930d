# Copyright (c) apa_mmdet contributors.
"""Builds the fused CPU kernel of APA/AGLU (``csrc/apa_cpu.cpp``).

torch's C++ extension tool compiles it on first use for this CPU's vector
instructions and caches it under ``TORCH_EXTENSIONS_DIR`` (default
``~/.cache/torch_extensions``). The built module's ``differentiable``
(``forward`` with its autograd node made in C++), ``forward`` and
``backward`` are what eager mode calls; loading it also registers the same
kernels as ``torch.ops.apa_mmdet.apa_forward`` and ``apa_backward``, the
operators ``torch.compile`` puts in its graphs (:mod:`.operators` gives
them their shapes and autograd). ``dispatch`` decides when to build it and
what happens when it cannot be built.
"""
from pathlib import Path
from types import ModuleType

import torch

from .operators import register_operator

SOURCE = Path(__file__).with_name('csrc') / 'apa_cpu.cpp'
# torch's own flags for its CPU kernels of each capability
_CAPABILITY_FLAGS = {
    'AVX512': ['-DCPU_CAPABILITY_AVX512', '-mavx512f', '-mavx512bw',
               '-mavx512vl', '-mavx512dq', '-mfma'],
    'AVX2': ['-DCPU_CAPABILITY_AVX2', '-mavx2', '-mfma', '-mf16c'],
}


def build() -> ModuleType:
    """Compile (or load the cached) kernel and register its operators for
    torch.compile; the module with ``forward(x, λ, κ, act)`` and
    ``backward(grad, x, λ, κ, act)``. Raises when it cannot be built."""
    from torch.utils.cpp_extension import load
    capability = torch.backends.cpu.get_cpu_capability()
    flags = _CAPABILITY_FLAGS.get(capability, [])
    if not flags:
        capability = 'DEFAULT'
    module = load(name=f'apa_mmdet_cpu_{capability.lower()}',
                  sources=[str(SOURCE)],
                  extra_cflags=['-O3', '-fopenmp',
                                f'-DCPU_CAPABILITY={capability}', *flags],
                  is_python_module=True)
    register_operator('apa_mmdet::apa_forward', 'apa_mmdet::apa_backward')
    return module


def describe_failure(error: Exception) -> str:
    """The warning when :func:`build` failed: the first error line."""
    lines = str(error).splitlines() or ['']
    reason = next((line for line in lines if 'error' in line), lines[0])
    return ('the fused APA/AGLU CPU kernel could not be built '
            f'({type(error).__name__}: {reason.strip()}); using the eager '
            'formula, several times slower on CPU')
