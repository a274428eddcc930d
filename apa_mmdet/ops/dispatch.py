# Copyright (c) apa_mmdet contributors.
"""Which implementation computes APA/AGLU for a tensor, chosen once.

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

An implementation is a :class:`Backend`: the functions eager mode
calls. :func:`backend_for` answers from a cache keyed by device type and
dtype, so a call pays one dictionary lookup. A fused kernel is built (CPU)
or imported (Triton) the first time a tensor needs it, also while
``torch.compile`` traces (the loader runs at trace time and
:func:`compiled_operator` names the kernel's operator for the graph). If
loading fails, a warning says why and the formula serves that device from
then on. ``with use_eager_formula():`` selects the formula on every device.
"""
import contextlib
import importlib
import os
import warnings
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import Tensor

from . import cpu_kernel, eager


class Backend:
    """The eager-mode entry points of one implementation of APA/AGLU.

    ``forward(x, lambda_param, kappa_param, act) -> act(x)`` and
    ``backward(grad, x, lambda_param, kappa_param, act) -> (∂L/∂x, ∂L/∂λ,
    ∂L/∂κ)``, ``act`` 'apa' or 'aglu': both take the parameters as stored
    ((1,) or (C,) on dim 1 of ``x``, λ floored at 1e-4 inside) and return
    finished gradients, typed and shaped like what they differentiate.
    ``differentiable``, where the implementation has one, is ``forward``
    with its autograd node made natively (the C++ kernel); else None and
    ``functional`` wraps the pair in one ``autograd.Function``.
    ``scale_add_forward(x, gate, identity, λ, κ, act)`` and
    ``scale_add_backward(grad, x, gate, identity, λ, κ, act) -> (∂L/∂x,
    ∂L/∂gate, ∂L/∂identity, ∂L/∂λ, ∂L/∂κ)``, where the implementation
    fuses the end of an SE bottleneck, act(x·gate + identity) (Triton);
    else None. A fused kernel's are set when it loads.
    """

    __slots__ = ('name', 'forward', 'backward', 'differentiable',
                 'scale_add_forward', 'scale_add_backward')

    def __init__(self, name: str, forward: Optional[Callable] = None,
                 backward: Optional[Callable] = None) -> None:
        self.name = name
        self.forward = forward
        self.backward = backward
        self.differentiable = None
        self.scale_add_forward = self.scale_add_backward = None

    def __repr__(self) -> str:
        return f'Backend({self.name!r})'


EAGER = Backend('eager', eager.forward, eager.backward)


class FusedKernel:
    """A fused kernel of one device type: how it is loaded, the dtypes it
    serves, its eager :class:`Backend` and its operators for torch.compile.

    Args:
        name (str): Its backend's name ('cpu', 'triton').
        device_type (str): The device type it runs on.
        dtypes (tuple[torch.dtype]): Input dtypes it serves.
        operator (str): Name of its forward operator in
            ``torch.ops.apa_mmdet`` (see :mod:`.operators`).
        env_var (str): Environment variable that disables it when '0'.
        load (callable): Builds or imports it, registering its operators;
            returns the module holding its eager ``forward``, ``backward``
            and, optionally, ``differentiable`` and ``scale_add_forward`` /
            ``scale_add_backward``; raises when it cannot.
        describe_failure (callable): The warning for a ``load`` error.
    """

    def __init__(self, name: str, device_type: str,
                 dtypes: Tuple[torch.dtype, ...], operator: str,
                 env_var: str, load: Callable,
                 describe_failure: Callable[[Exception], str]) -> None:
        self.device_type = device_type
        self.dtypes = dtypes
        self.operator = operator
        self.env_var = env_var
        self.load = load
        self.describe_failure = describe_failure
        self.loaded: Optional[bool] = None  # None: loading not tried yet
        self.backend = Backend(name)

    def available(self) -> bool:
        """Whether the kernel is in use; loads it on the first call unless
        its environment variable is '0' (a failure warns and is final)."""
        if self.loaded is None:
            self.loaded = False
            if os.environ.get(self.env_var, '1') != '0':
                try:
                    module = self.load()
                    self.backend.forward = module.forward
                    self.backend.backward = module.backward
                    for optional in ('differentiable', 'scale_add_forward',
                                     'scale_add_backward'):
                        setattr(self.backend, optional,
                                getattr(module, optional, None))
                    self.loaded = True
                except Exception as error:  # the loaders say what can fail
                    warnings.warn(f'apa_mmdet: {self.describe_failure(error)}')
        return self.loaded


def _import_triton_kernel():
    return importlib.import_module('.triton_kernel', __package__)


def _triton_failure(error: Exception) -> str:
    return ('the Triton APA/AGLU kernel could not be loaded '
            f'({type(error).__name__}: {error}); using the eager formula on '
            'CUDA, several times slower')


CPU_KERNEL = FusedKernel(
    'cpu', 'cpu',
    (torch.float16, torch.bfloat16, torch.float32, torch.float64),
    'apa_forward', 'APA_MMDET_CPU_KERNEL', cpu_kernel.build,
    cpu_kernel.describe_failure)
TRITON_KERNEL = FusedKernel(
    'triton', 'cuda', (torch.float16, torch.bfloat16, torch.float32),
    'apa_forward_triton', 'APA_MMDET_TRITON_KERNEL', _import_triton_kernel,
    _triton_failure)
FUSED_KERNELS = {kernel.device_type: kernel
                 for kernel in (CPU_KERNEL, TRITON_KERNEL)}

_eager_formula_depth = 0  # open use_eager_formula() blocks
# (device type, dtype) -> Backend, filled by backend_for
_chosen: Dict[Tuple[str, torch.dtype], Backend] = {}


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


def _fused_kernel_for(x: Tensor) -> Optional[FusedKernel]:
    kernel = FUSED_KERNELS.get(x.device.type)
    if (kernel is not None and x.dtype in kernel.dtypes
            and _fused_kernel_in_use(x.device.type)):
        return kernel
    return None


def select(x: Tensor) -> Backend:
    """The implementation that computes APA/AGLU of ``x`` (see the table
    above), decided afresh."""
    kernel = _fused_kernel_for(x)
    return EAGER if kernel is None else kernel.backend


def backend_for(x: Tensor) -> Backend:
    """:func:`select`'s answer for ``x``'s device type and dtype, decided
    on the first such tensor and kept."""
    if _eager_formula_depth:
        return EAGER
    key = (x.device.type, x.dtype)
    backend = _chosen.get(key)
    if backend is None:
        backend = _chosen[key] = select(x)
    return backend


def forget_choices() -> None:
    """Decide again on the next call (after a kernel's state changed)."""
    _chosen.clear()


def compiled_operator(x: Tensor) -> Optional[Callable]:
    """The fused kernel's forward operator for ``x`` (differentiable, see
    :mod:`.operators`), for graphs that torch.compile traces; None where
    the formula serves."""
    kernel = _fused_kernel_for(x)
    return None if kernel is None else getattr(torch.ops.apa_mmdet,
                                               kernel.operator)


def cpu_kernel_available() -> bool:
    """Whether APA/AGLU run the fused CPU kernel (building it on the first
    call; without a compiler, ninja or headers: a warning)."""
    return _fused_kernel_in_use('cpu')


def triton_kernel_available() -> bool:
    """Whether APA/AGLU run the Triton kernels on CUDA (importing Triton on
    the first call; without it or with a broken install: a warning)."""
    return _fused_kernel_in_use('cuda')
