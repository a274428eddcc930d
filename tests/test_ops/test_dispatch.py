# Copyright (c) apa_mmdet contributors.
"""The dispatch table of apa_mmdet.ops.dispatch, row by row: which
implementation serves each device type and dtype, with the fused kernels
loaded, opted out, and under use_eager_formula."""
from types import SimpleNamespace

import pytest
import torch

from apa_mmdet.ops import dispatch, use_eager_formula

FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def tensor_on(device_type: str, dtype: torch.dtype):
    """What select() reads of a tensor, for device types this machine has
    not (CUDA, MPS, XPU)."""
    return SimpleNamespace(device=SimpleNamespace(type=device_type),
                           dtype=dtype)


@pytest.fixture
def kernels_loaded(monkeypatch):
    for kernel in dispatch.FUSED_KERNELS.values():
        monkeypatch.setattr(kernel, 'loaded', True)


@pytest.mark.parametrize('dtype', FLOATS)
def test_cpu_takes_the_fused_kernel_in_every_float_dtype(kernels_loaded,
                                                         dtype):
    assert dispatch.select(tensor_on('cpu', dtype)).name == 'cpu'
    # and a real CPU tensor too
    assert dispatch.select(torch.ones(2, dtype=dtype)).name == 'cpu'


@pytest.mark.parametrize('dtype,name', [
    (torch.float16, 'triton'), (torch.bfloat16, 'triton'),
    (torch.float32, 'triton'), (torch.float64, 'eager')])
def test_cuda_takes_triton_in_16_and_32_bits(kernels_loaded, dtype, name):
    assert dispatch.select(tensor_on('cuda', dtype)).name == name


@pytest.mark.parametrize('device_type', ['mps', 'xpu', 'meta', 'hpu'])
@pytest.mark.parametrize('dtype', FLOATS)
def test_other_devices_take_the_formula(kernels_loaded, device_type, dtype):
    assert dispatch.select(tensor_on(device_type, dtype)).name == 'eager'


@pytest.mark.parametrize('device_type', ['cpu', 'cuda'])
def test_use_eager_formula_and_opting_out_select_the_formula(
        kernels_loaded, monkeypatch, device_type):
    x = tensor_on(device_type, torch.float32)
    with use_eager_formula():
        assert dispatch.select(x).name == 'eager'
    assert dispatch.select(x).name != 'eager'
    kernel = dispatch.FUSED_KERNELS[device_type]
    monkeypatch.setattr(kernel, 'loaded', None)
    monkeypatch.setenv(kernel.env_var, '0')
    assert dispatch.select(x).name == 'eager'
    assert kernel.loaded is False


def test_the_choice_is_made_once_per_device_type_and_dtype(monkeypatch):
    """activation() asks select() once per (device type, dtype) and keeps
    the answer; use_eager_formula() overrides it without touching it."""
    from apa_mmdet.ops import activation
    calls = []
    select = dispatch.select
    monkeypatch.setattr(dispatch, 'select',
                        lambda x: calls.append((x.device.type, x.dtype))
                        or select(x))
    monkeypatch.setattr(dispatch, '_chosen', {})
    lam, kappa = torch.ones(3), torch.ones(3)
    for _ in range(3):
        for dtype in (torch.float32, torch.float64):
            activation(torch.randn(2, 3, dtype=dtype), lam, kappa, 'aglu')
    assert calls == [('cpu', torch.float32), ('cpu', torch.float64)]
    with use_eager_formula():
        assert dispatch.backend_for(torch.ones(2)) is dispatch.EAGER
    assert dispatch.backend_for(torch.ones(2)).name == 'cpu'
    dispatch.forget_choices()
    assert not dispatch._chosen
