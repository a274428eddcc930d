# Copyright (c) apa_mmdet contributors.
"""Which implementation computes APA/AGLU for a tensor.

=======  ==================================  ==============================
device   dtypes                              implementation
=======  ==================================  ==============================
cpu      float16, bfloat16, float32, float64  fused C++ kernel
                                             (``cpu_kernel.py``,
                                             ``csrc/apa_cpu.cpp``);
                                             opt out: APA_MMDET_CPU_KERNEL=0
cuda     float16, bfloat16, float32           Triton kernels
                                             (``triton_kernel.py``);
                                             opt out:
                                             APA_MMDET_TRITON_KERNEL=0
other    any                                  the formula in torch ops
                                             (``eager.py``)
=======  ==================================  ==============================

A fused kernel is built (CPU) or imported (Triton) on the first call that
needs it, also while ``torch.compile`` traces that call (the loader runs at
trace time, so the graph holds the kernel's operator). If loading fails,
a warning says why and the formula serves that device from then on.
``with use_eager_formula():`` selects the formula on every device.
"""
import contextlib
import importlib
import os
import warnings
from typing import Callable, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from . import cpu_kernel, eager


class Implementation(NamedTuple):
    """``forward(x, lam, kappa, act) -> out`` and ``backward(grad, x, lam,
    kappa, act) -> (grad_x, Σ g·∂out/∂λ·λ², Σ g·∂out/∂κ)``; ``lam`` is
    max(λ, 1e-4) and ``kappa`` κ, both in the compute dtype."""
    name: str
    forward: Callable
    backward: Callable


EAGER = Implementation('eager', eager.forward, eager.backward)


class FusedKernel:
    """A fused kernel of one device type: its operators in
    ``torch.ops.apa_mmdet``, the dtypes it serves and how it is loaded.

    Args:
        name (str): Its name in :func:`select` ('cpu', 'triton').
        device_type (str): The device type it runs on.
        dtypes (tuple[torch.dtype]): Input dtypes it serves.
        ops (tuple[str, str]): Names of its forward and backward operators.
        env_var (str): Environment variable that disables it when '0'.
        load (callable): Builds or imports it (registering the operators);
            raises when it cannot.
        describe_failure (callable): The warning for a ``load`` error.
    """

    def __init__(self, name: str, device_type: str,
                 dtypes: Tuple[torch.dtype, ...], ops: Tuple[str, str],
                 env_var: str, load: Callable[[], None],
                 describe_failure: Callable[[Exception], str]) -> None:
        self.name = name
        self.device_type = device_type
        self.dtypes = dtypes
        self.forward_op, self.backward_op = ops
        self.env_var = env_var
        self.load = load
        self.describe_failure = describe_failure
        self.loaded: Optional[bool] = None  # None: loading not tried yet
        self.implementation = Implementation(name, self.forward,
                                             self.backward)

    def available(self) -> bool:
        """Whether the kernel is in use; loads it on the first call unless
        its environment variable is '0' (a failure warns and is final)."""
        if self.loaded is None:
            self.loaded = False
            if os.environ.get(self.env_var, '1') != '0':
                try:
                    self.load()
                    self.loaded = True
                except Exception as error:  # the loaders say what can fail
                    warnings.warn(f'apa_mmdet: {self.describe_failure(error)}')
        return self.loaded

    def forward(self, x: Tensor, lam: Tensor, kappa: Tensor,
                act: str) -> Tensor:
        op = getattr(torch.ops.apa_mmdet, self.forward_op)
        return op(x.contiguous(), lam, kappa.to(lam.dtype), act)

    def backward(self, grad_out: Tensor, x: Tensor, lam: Tensor,
                 kappa: Tensor, act: str):
        op = getattr(torch.ops.apa_mmdet, self.backward_op)
        return op(grad_out.to(x.dtype).contiguous(), x.contiguous(), lam,
                  kappa.to(lam.dtype), act)


def _import_triton_kernel() -> None:
    importlib.import_module('.triton_kernel', __package__)


def _triton_failure(error: Exception) -> str:
    return ('the Triton APA/AGLU kernel could not be loaded '
            f'({type(error).__name__}: {error}); using the eager formula on '
            'CUDA, several times slower')


CPU_KERNEL = FusedKernel(
    'cpu', 'cpu',
    (torch.float16, torch.bfloat16, torch.float32, torch.float64),
    ('apa_forward', 'apa_backward'), 'APA_MMDET_CPU_KERNEL',
    cpu_kernel.build, cpu_kernel.describe_failure)
TRITON_KERNEL = FusedKernel(
    'triton', 'cuda', (torch.float16, torch.bfloat16, torch.float32),
    ('apa_forward_triton', 'apa_backward_triton'),
    'APA_MMDET_TRITON_KERNEL', _import_triton_kernel, _triton_failure)
FUSED_KERNELS = {kernel.device_type: kernel
                 for kernel in (CPU_KERNEL, TRITON_KERNEL)}

_eager_formula_depth = 0  # open use_eager_formula() blocks


@contextlib.contextmanager
def use_eager_formula():
    """Compute APA/AGLU with the formula in torch ops inside the block, on
    every device (the reference the fused kernels are compared with)."""
    global _eager_formula_depth
    _eager_formula_depth += 1
    try:
        yield
    finally:
        _eager_formula_depth -= 1


def _fused_kernel_in_use(device_type: str) -> bool:
    """Whether the fused kernel of ``device_type`` serves it (loading it on
    first use). torch.compile runs this at trace time, where loading is
    possible, and keeps the answer in the graph."""
    kernel = FUSED_KERNELS.get(device_type)
    return (kernel is not None and _eager_formula_depth == 0
            and kernel.available())


# what torch.compiler.assume_constant_result(_fused_kernel_in_use) does,
# without importing torch._dynamo with apa_mmdet (tests/test_ops check that
# compiled graphs hold the kernel loaded while tracing)
_fused_kernel_in_use._dynamo_marked_constant = True


def select(x: Tensor) -> Implementation:
    """The implementation that computes APA/AGLU of ``x`` (see the table
    above)."""
    kernel = FUSED_KERNELS.get(x.device.type)
    if (kernel is not None and x.dtype in kernel.dtypes
            and _fused_kernel_in_use(x.device.type)):
        return kernel.implementation
    return EAGER


def cpu_kernel_available() -> bool:
    """Whether APA/AGLU run the fused CPU kernel (building it on the first
    call; without a compiler, ninja or headers: a warning)."""
    return _fused_kernel_in_use('cpu')


def triton_kernel_available() -> bool:
    """Whether APA/AGLU run the Triton kernels on CUDA (importing Triton on
    the first call; without it or with a broken install: a warning)."""
    return _fused_kernel_in_use('cuda')
