# Copyright (c) apa_mmdet contributors.
"""Builds the fused CPU kernel of APA/AGLU (``csrc/apa_cpu.cpp``).

torch's C++ extension tool compiles it on first use for this CPU's vector
instructions and caches it under ``TORCH_EXTENSIONS_DIR`` (default
``~/.cache/torch_extensions``); it registers ``torch.ops.apa_mmdet.
apa_forward`` and ``apa_backward``. ``dispatch`` decides when to build it
and what happens when it cannot be built.
"""
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name('csrc') / 'apa_cpu.cpp'
# torch's own flags for its CPU kernels of each capability
_CAPABILITY_FLAGS = {
    'AVX512': ['-DCPU_CAPABILITY_AVX512', '-mavx512f', '-mavx512bw',
               '-mavx512vl', '-mavx512dq', '-mfma'],
    'AVX2': ['-DCPU_CAPABILITY_AVX2', '-mavx2', '-mfma', '-mf16c'],
}


def build() -> None:
    """Compile (or load the cached) kernel and register its shape
    functions for torch.compile; raises when it cannot be built."""
    from torch.utils.cpp_extension import load
    capability = torch.backends.cpu.get_cpu_capability()
    flags = _CAPABILITY_FLAGS.get(capability, [])
    if not flags:
        capability = 'DEFAULT'
    load(name=f'apa_mmdet_cpu_{capability.lower()}',
         sources=[str(SOURCE)],
         extra_cflags=['-O3', '-fopenmp', f'-DCPU_CAPABILITY={capability}',
                       *flags],
         is_python_module=False)

    @torch.library.register_fake('apa_mmdet::apa_forward')
    def _forward_shape(x, lambda_, kappa, act):
        return torch.empty_like(x)

    @torch.library.register_fake('apa_mmdet::apa_backward')
    def _backward_shape(grad, x, lambda_, kappa, act):
        sums = lambda_.new_empty(lambda_.shape, dtype=torch.float64)
        return torch.empty_like(x), sums, sums.clone()


def describe_failure(error: Exception) -> str:
    """The warning when :func:`build` failed: the first error line."""
    lines = str(error).splitlines() or ['']
    reason = next((line for line in lines if 'error' in line), lines[0])
    return ('the fused APA/AGLU CPU kernel could not be built '
            f'({type(error).__name__}: {reason.strip()}); using the eager '
            'formula, several times slower on CPU')
