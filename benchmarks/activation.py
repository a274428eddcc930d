# Copyright (c) apa_mmdet contributors.
"""Activation cost: apa_mmdet's AGLU/APA vs SiLU, ReLU and the official form.

apa_mmdet's rows use the fused kernel of the device (C++ on CPU, Triton on
CUDA); "eager formula" is their fallback.

For each input shape and dtype, every implementation's forward, backward
(with a fixed random ``grad_output``) and forward+backward time is measured;
repetitions run the implementations round-robin so that machine noise hits
all of them alike, and medians are reported with their ratio to ``nn.SiLU``
from the same run. Also reported: the bytes each call keeps for backward
(storages seen by ``saved_tensors_hooks``, relative to the input), the
output dtype for a bfloat16 input and, on CUDA, the bandwidth achieved
forward (x read, output written) and backward (x and grad read, grad_x
written) as a share of a device copy (``dst.copy_(src)``) timed in the
same rounds.

Only torch (and Triton on CUDA) is needed: the functions are imported
without mmdet. On CPU, glibc returns every large temporary to the OS by
default, so page faults would dominate; the script re-executes itself with
``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` raised.

Usage: ``python benchmarks/activation.py [--device cuda] [--shapes
8x256x56x56 ...] [--dtypes float32 bfloat16 ...] [--reps 20] [--compile]``
"""
import argparse
import statistics
import sys
import time

from _common import (fix_allocator_and_path, import_apa_functions,
                     import_file)


def official_aglu(x, lam, kappa):
    """The official eager formula (kostas1515/AGLU ``UniRect.forward``)."""
    import torch
    import torch.nn.functional as F
    lam = lam.clamp(min=1e-4)
    return x * torch.exp((1 / lam) * F.softplus(kappa * x - torch.log(lam),
                                                beta=-1))


def implementations(channels, device, use_compile):
    import torch
    from torch import nn
    functions = import_apa_functions()
    kernels = sys.modules['apa_layers.kernel_loading']

    def parameters(count, lam=0.5, kappa=1.1):
        return (nn.Parameter(torch.full((count, ), lam, device=device)),
                nn.Parameter(torch.full((count, ), kappa, device=device)))

    view = (1, channels, 1, 1)
    scalar, per_channel, official = (parameters(1), parameters(channels),
                                     parameters(channels))

    def eager_formula(x):
        with kernels.use_eager_formula():
            return functions.aglu(x, *per_channel)

    impls = {
        'ReLU (in-place)': nn.ReLU(inplace=True),
        'ReLU': nn.ReLU(),
        'SiLU': nn.SiLU(),
        'official AGLU (eager)': lambda x: official_aglu(
            x, official[0].view(view), official[1].view(view)),
        'AGLU scalar': lambda x: functions.aglu(x, *scalar),
        'AGLU per-channel': lambda x: functions.aglu(x, *per_channel),
        'APA per-channel': lambda x: functions.apa(x, *per_channel),
        'AGLU per-ch. eager formula': eager_formula,
    }
    if use_compile:
        compiled = torch.compile(official_aglu, dynamic=False)
        impls['official AGLU (compile)'] = lambda x: compiled(
            x, official[0].view(view), official[1].view(view))
    return functions, impls


def measure(shape, dtype, device, reps, use_compile):
    """Median times (s), held bytes / input and bf16 output dtype per
    implementation, and the median device-copy time."""
    import torch
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    torch.manual_seed(0)
    functions, impls = implementations(shape[1], device, use_compile)
    saved_memory = import_file('apa_mmdet/testing/saved_memory.py')
    base = torch.randn(shape, device=device, dtype=dtype)
    grad = torch.randn(shape, device=device, dtype=dtype)
    copy_target = torch.empty_like(base)
    times = {name: dict(fwd=[], bwd=[], both=[]) for name in impls}
    copies = []
    for rep in range(reps + 3):  # 3 warm-up rounds (and Triton compiles)
        for name, fn in impls.items():
            x = base.clone().requires_grad_()
            inp = x.clone()  # a non-leaf, so in-place ReLU may run
            sync()
            t0 = time.perf_counter()
            out = fn(inp)
            sync()
            t1 = time.perf_counter()
            out.backward(grad)
            sync()
            t2 = time.perf_counter()
            if rep >= 3:
                times[name]['fwd'].append(t1 - t0)
                times[name]['bwd'].append(t2 - t1)
                times[name]['both'].append(t2 - t0)
        sync()
        t0 = time.perf_counter()
        copy_target.copy_(base)
        sync()
        if rep >= 3:
            copies.append(time.perf_counter() - t0)
    info = {}
    for name, fn in impls.items():
        x = base.clone().requires_grad_()
        held = saved_memory.saved_storage_bytes(
            lambda: fn(x.clone()))[1] / base.nbytes
        x16 = base.to(torch.bfloat16).requires_grad_()
        out16 = fn(x16.clone())
        info[name] = dict(
            held=held, dtype=str(out16.dtype).replace('torch.', ''),
            **{k: statistics.median(v) for k, v in times[name].items()})
    path = functions._select_path(base)
    return info, statistics.median(copies), path


def write_table(text, shape, dtype, info, copy_time, path, device):
    import torch
    numel = torch.Size(shape).numel()
    itemsize = torch.empty((), dtype=dtype).element_size()
    silu = info['SiLU']
    cuda = device == 'cuda'
    copy_gbs = 2 * numel * itemsize / copy_time / 1e9
    header = (f'{"implementation":26}{"fwd ms":>9}{"bwd ms":>9}'
              f'{"fwd+bwd ms":>12}{"x SiLU":>8}{"held/x":>8}{"bf16 out":>10}')
    if cuda:
        header += f'{"fwd GB/s":>10}{"%copy":>7}{"bwd GB/s":>10}{"%copy":>7}'
    sys.stdout.write(
        f'\n{text} {str(dtype).replace("torch.", "")} '
        f'({numel / 1e6:.1f} M elements; AGLU/APA path: {path}'
        + (f'; device copy {copy_gbs:.0f} GB/s' if cuda else '') +
        f')\n{header}\n')
    for name, row in info.items():
        line = (f'{name:26}{row["fwd"] * 1e3:9.3f}{row["bwd"] * 1e3:9.3f}'
                f'{row["both"] * 1e3:12.3f}{row["both"] / silu["both"]:8.2f}'
                f'{row["held"]:8.2f}{row["dtype"]:>10}')
        if cuda:
            fwd_gbs = 2 * numel * itemsize / row['fwd'] / 1e9
            bwd_gbs = 3 * numel * itemsize / row['bwd'] / 1e9
            line += (f'{fwd_gbs:10.0f}{100 * fwd_gbs / copy_gbs:6.0f}%'
                     f'{bwd_gbs:10.0f}{100 * bwd_gbs / copy_gbs:6.0f}%')
        sys.stdout.write(line + '\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--shapes', nargs='+',
                        default=['8x256x56x56', '4x128x64x64'])
    parser.add_argument('--dtypes', nargs='+',
                        choices=['float32', 'bfloat16', 'float16'],
                        help='default: float32 on CPU, all three on CUDA')
    parser.add_argument('--reps', type=int, default=20)
    parser.add_argument('--compile', action='store_true',
                        help='also time torch.compile of the official form')
    args = parser.parse_args()
    if args.device == 'cpu':
        fix_allocator_and_path()
    import torch
    dtypes = args.dtypes or (['float32'] if args.device == 'cpu' else
                             ['float32', 'bfloat16', 'float16'])
    where = (torch.cuda.get_device_name() if args.device == 'cuda' else
             f'{torch.get_num_threads()} threads')
    sys.stdout.write(
        f'torch {torch.__version__}, {where}, median of {args.reps} '
        'interleaved repetitions\n')
    for text in args.shapes:
        shape = tuple(int(v) for v in text.split('x'))
        for name in dtypes:
            dtype = getattr(torch, name)
            info, copy_time, path = measure(shape, dtype, args.device,
                                            args.reps, args.compile)
            write_table(text, shape, dtype, info, copy_time, path,
                        args.device)


if __name__ == '__main__':
    main()
