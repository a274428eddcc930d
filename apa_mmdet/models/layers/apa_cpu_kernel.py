# Copyright (c) apa_mmdet contributors.
"""The fused CPU kernel of APA/AGLU (``csrc/apa_cpu.cpp``): built on first
use with torch's C++ extension tool for this CPU's vector instructions,
cached by torch under ``TORCH_EXTENSIONS_DIR`` (default
``~/.cache/torch_extensions``), loaded as ``torch.ops.apa_mmdet``.

Where it cannot be built (no C++ compiler or ninja), APA/AGLU fall back to
the eager formula with a warning saying why; ``APA_MMDET_CPU_KERNEL=0``
(process) or ``with use_eager_formula():`` (block) select it on purpose.
"""
from pathlib import Path

import torch

from .kernel_loading import kernel_loaded, load_kernel_once

SOURCE = Path(__file__).with_name('csrc') / 'apa_cpu.cpp'
# torch's own flags for its CPU kernels of each capability
_CAPABILITY_FLAGS = {
    'AVX512': ['-DCPU_CAPABILITY_AVX512', '-mavx512f', '-mavx512bw',
               '-mavx512vl', '-mavx512dq', '-mfma'],
    'AVX2': ['-DCPU_CAPABILITY_AVX2', '-mavx2', '-mfma', '-mf16c'],
}
_state = {}


def _build() -> None:
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
    def _forward_shape(x, lambda_, kappa, gated):
        return torch.empty_like(x)

    @torch.library.register_fake('apa_mmdet::apa_backward')
    def _backward_shape(grad, x, lambda_, kappa, gated):
        sums = lambda_.new_empty(lambda_.shape, dtype=torch.float64)
        return torch.empty_like(x), sums, sums.clone()


def _build_failure(error: Exception) -> str:
    lines = str(error).splitlines() or ['']
    reason = next((line for line in lines if 'error' in line), lines[0])
    return ('the fused APA/AGLU CPU kernel could not be built '
            f'({type(error).__name__}: {reason.strip()}); using the eager '
            'formula, several times slower on CPU')


def cpu_kernel_loaded() -> bool:
    """Whether APA/AGLU use the kernel, without building it (for code that
    torch.compile traces: building is not traceable, so the APA/AGLU layers
    build it when they are constructed; otherwise a graph traced before the
    first eager call keeps the formula, which Inductor fuses)."""
    return kernel_loaded(_state)


def cpu_kernel_available() -> bool:
    """Whether APA/AGLU use ``torch.ops.apa_mmdet`` on CPU (builds the
    kernel on the first call; no compiler, ninja or headers: a warning)."""
    return load_kernel_once(_state, 'APA_MMDET_CPU_KERNEL', _build,
                            _build_failure)
