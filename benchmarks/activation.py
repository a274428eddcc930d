# Copyright (c) apa_mmdet contributors.
"""Activation cost: apa_mmdet's AGLU/APA vs SiLU, ReLU and the official form.

apa_mmdet's rows use the fused kernel of the device (C++ on CPU, Triton on
CUDA); "eager formula" is their fallback.

For each input shape and dtype, every implementation's forward and
backward (``autograd.grad`` of the input and the learnt parameters from a
retained graph, with a fixed random ``grad_output``) are timed per call, as
the mean of ``--calls`` back-to-back calls: on CUDA between two CUDA events,
so that launches queue up and the GPU's time is measured (20 calls by
default), on CPU by the wall clock (1 call). Repetitions run the
implementations round-robin so that machine noise hits all of them alike;
medians are reported, with the ratio of forward+backward to ``nn.SiLU``'s
from the same run. Also reported: the bytes each call keeps for backward
(storages seen by ``saved_tensors_hooks``, relative to the input), the
output dtype for a bfloat16 input, for apa_mmdet's rows the largest error
of output and input gradient against the formula in float64 (relative to
the largest magnitude: a GPU run also checks the kernels there, where the
tests need mmcv) and, on CUDA, the bandwidth achieved forward (x read,
output written) and backward (x and grad read, grad_x written) as a share
of a device copy (``dst.copy_(src)``) timed in the same rounds.

Only torch (and Triton on CUDA) is needed: ``apa_mmdet.ops`` imports
without mmcv and mmdet, so from the repository root ``python -m
benchmarks.activation --device cuda`` runs on a machine with torch alone
(apa_mmdet need not be installed there). On CPU, glibc returns every large temporary to the OS by
default, so page faults would dominate; the script re-executes itself with
``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` raised.

Usage: ``python -m benchmarks.activation [--device cuda] [--shapes
8x256x56x56 ...] [--dtypes float32 bfloat16 ...] [--reps 20] [--calls N]
[--compile] [--tokens]``; ``--tokens``: channels-last (B, L, C) inputs with
per-channel λ, κ on dim=-1, as in a transformer's FFN.
"""
import argparse
import statistics
import sys
import time

from ._common import fix_allocator


def implementations(channels, device, use_compile, dim=1):
    import torch
    from torch import nn

    from apa_mmdet.ops import aglu, apa, use_eager_formula
    from apa_mmdet.testing.official import official_aglu

    def parameters(count, lam=0.5, kappa=1.1):
        return (nn.Parameter(torch.full((count, ), lam, device=device)),
                nn.Parameter(torch.full((count, ), kappa, device=device)))

    # the official form broadcasts a parameter view over the channels
    view = (1, channels, 1, 1) if dim == 1 else (1, 1, channels)
    scalar, per_channel, official = (parameters(1), parameters(channels),
                                     parameters(channels))

    def eager_formula(x):
        with use_eager_formula():
            return aglu(x, *per_channel, dim=dim)

    def formula64(fn, params):
        """``fn`` of apa_mmdet.ops in float64 through the eager formula."""
        def reference(x):
            with use_eager_formula():
                return fn(x, *(p.double() for p in params), dim=dim)
        return reference

    # name: (function, the parameters it learns, float64 reference)
    impls = {
        'ReLU (in-place)': (nn.ReLU(inplace=True), (), None),
        'ReLU': (nn.ReLU(), (), None),
        'SiLU': (nn.SiLU(), (), None),
        'official AGLU (eager)': (lambda x: official_aglu(
            x, official[0].view(view), official[1].view(view)), official,
                                  None),
        'AGLU scalar': (lambda x: aglu(x, *scalar), scalar,
                        formula64(aglu, scalar)),
        'AGLU per-channel': (lambda x: aglu(x, *per_channel, dim=dim),
                             per_channel, formula64(aglu, per_channel)),
        'APA per-channel': (lambda x: apa(x, *per_channel, dim=dim),
                            per_channel, formula64(apa, per_channel)),
        'AGLU per-ch. eager formula': (eager_formula, per_channel, None),
    }
    if use_compile:
        compiled = torch.compile(official_aglu, dynamic=False)
        impls['official AGLU (compile)'] = (lambda x: compiled(
            x, official[0].view(view), official[1].view(view)), official,
                                            None)
    return impls


def seconds_per_call(device, fn, calls):
    """Mean seconds per call of ``fn`` over ``calls`` back-to-back calls,
    timed by CUDA events on a GPU (launches queue up, so the GPU's time is
    measured) and by the wall clock on CPU."""
    import torch
    if device == 'cuda':
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / calls
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def relative_error(fn, reference, base, grad):
    """Largest error of the output and of the input gradient of ``fn``,
    each relative to its largest magnitude, against ``reference`` run on
    the same values in float64."""
    import torch
    results = []
    for function, dtype in ((fn, base.dtype), (reference, torch.float64)):
        x = base.to(dtype).requires_grad_()
        out = function(x)
        results.append((out, *torch.autograd.grad(out, x, grad.to(dtype))))
    return max(((got.double() - expected).abs().max() /
                expected.abs().max()).item()
               for got, expected in zip(*results))


def measure(shape, dtype, device, reps, calls, use_compile, dim=1):
    """Median seconds per forward and per backward call (the backward:
    ``autograd.grad`` of the input and the parameters, so nothing is
    accumulated), held bytes / input and bf16 output dtype per
    implementation, and the median device-copy time."""
    import torch

    from apa_mmdet.ops import dispatch
    from apa_mmdet.testing.saved_memory import saved_storage_bytes
    torch.manual_seed(0)
    impls = implementations(shape[dim], device, use_compile, dim)
    base = torch.randn(shape, device=device, dtype=dtype)
    grad = torch.randn(shape, device=device, dtype=dtype)
    copy_target = torch.empty_like(base)
    times = {name: dict(fwd=[], bwd=[]) for name in impls}
    copies = []
    for rep in range(reps + 3):  # 3 warm-up rounds (and Triton compiles)
        for name, (fn, params, _) in impls.items():
            x = base.clone().requires_grad_()
            inp = x.clone()  # a non-leaf, so that in-place ReLU may run
            fwd = seconds_per_call(device, lambda: fn(inp), calls)
            out = fn(x.clone())
            bwd = seconds_per_call(
                device, lambda: torch.autograd.grad(
                    out, (x, *params), grad, retain_graph=True), calls)
            if rep >= 3:
                times[name]['fwd'].append(fwd)
                times[name]['bwd'].append(bwd)
        copy = seconds_per_call(device, lambda: copy_target.copy_(base),
                                calls)
        if rep >= 3:
            copies.append(copy)
    info = {}
    for name, (fn, _, reference) in impls.items():
        x = base.clone().requires_grad_()
        held = saved_storage_bytes(lambda: fn(x.clone()))[1] / base.nbytes
        x16 = base.to(torch.bfloat16).requires_grad_()
        out16 = fn(x16.clone())
        fwd, bwd = (statistics.median(times[name][k]) for k in ('fwd', 'bwd'))
        info[name] = dict(
            held=held, dtype=str(out16.dtype).replace('torch.', ''), fwd=fwd,
            bwd=bwd, both=fwd + bwd,
            error=reference and relative_error(fn, reference, base, grad))
    path = dispatch.select(base).name
    return info, statistics.median(copies), path


def write_table(text, shape, dtype, info, copy_time, path, device):
    import torch
    numel = torch.Size(shape).numel()
    itemsize = torch.empty((), dtype=dtype).element_size()
    silu = info['SiLU']
    cuda = device == 'cuda'
    copy_gbs = 2 * numel * itemsize / copy_time / 1e9
    header = (f'{"implementation":26}{"fwd ms":>9}{"bwd ms":>9}'
              f'{"fwd+bwd ms":>12}{"x SiLU":>8}{"held/x":>8}{"bf16 out":>10}'
              f'{"max err":>9}')
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
                f'{row["held"]:8.2f}{row["dtype"]:>10}'
                + (f'{row["error"]:9.1e}' if row['error'] is not None else
                   f'{"":9}'))
        if cuda:
            fwd_gbs = 2 * numel * itemsize / row['fwd'] / 1e9
            bwd_gbs = 3 * numel * itemsize / row['bwd'] / 1e9
            line += (f'{fwd_gbs:10.0f}{100 * fwd_gbs / copy_gbs:6.0f}%'
                     f'{bwd_gbs:10.0f}{100 * bwd_gbs / copy_gbs:6.0f}%')
        sys.stdout.write(line.rstrip() + '\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--shapes', nargs='+',
                        help='default: 8x256x56x56 4x128x64x64 on CPU; '
                        '64x256x112x112 2x256x200x336 on CUDA')
    parser.add_argument('--dtypes', nargs='+',
                        choices=['float32', 'bfloat16', 'float16'],
                        help='default: float32 on CPU, all three on CUDA')
    parser.add_argument('--reps', type=int, default=20)
    parser.add_argument('--calls', type=int,
                        help='back-to-back calls per timing; default: 1 on '
                        'CPU, 20 on CUDA')
    parser.add_argument('--compile', action='store_true',
                        help='also time torch.compile of the official form')
    parser.add_argument('--tokens', action='store_true',
                        help='channels last: shapes are (B, L, C) and '
                        'per-channel λ, κ act on dim=-1 (transformer '
                        'tokens); default shapes 8x3136x256 4x4096x128')
    args = parser.parse_args()
    if args.device == 'cpu':
        fix_allocator()
    import torch
    cuda = args.device == 'cuda'
    dtypes = args.dtypes or (['float32', 'bfloat16', 'float16'] if cuda
                             else ['float32'])
    shapes = args.shapes or (
        ['64x12544x256', '2x67200x256'] if args.tokens and cuda else
        ['8x3136x256', '4x4096x128'] if args.tokens else
        ['64x256x112x112', '2x256x200x336'] if cuda else
        ['8x256x56x56', '4x128x64x64'])
    calls = args.calls or (20 if cuda else 1)
    where = (torch.cuda.get_device_name() if cuda else
             f'{torch.get_num_threads()} threads')
    sys.stdout.write(
        f'torch {torch.__version__}, {where}, median of {args.reps} '
        f'interleaved repetitions of {calls} call(s) each\n')
    for text in shapes:
        shape = tuple(int(v) for v in text.split('x'))
        for name in dtypes:
            dtype = getattr(torch, name)
            info, copy_time, path = measure(shape, dtype, args.device,
                                            args.reps, calls, args.compile,
                                            -1 if args.tokens else 1)
            write_table(text, shape, dtype, info, copy_time, path,
                        args.device)


if __name__ == '__main__':
    main()
