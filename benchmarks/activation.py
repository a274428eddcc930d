# Copyright (c) apa_mmdet contributors.
"""Activation cost: apa_mmdet's AGLU/APA vs SiLU, ReLU and the official form.

apa_mmdet's rows use the fused CPU kernel; "eager formula" is its fallback.

For each input shape, every implementation's forward, backward (with a fixed
random ``grad_output``) and forward+backward time is measured; repetitions
run the implementations round-robin so that machine noise hits all of them
alike, and medians are reported with their ratio to ``nn.SiLU`` from the
same run. Also reported: the bytes each call keeps for backward (storages
seen by ``saved_tensors_hooks``, relative to the input) and the output dtype
for a bfloat16 input.

glibc returns every large temporary to the OS by default, so page faults
would dominate CPU timings; the script re-executes itself with
``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` raised.

Usage: ``python benchmarks/activation.py [--shapes 8x256x56x56 ...]
[--reps 20] [--compile]``
"""
import argparse
import statistics
import sys
import time

from _common import fix_allocator_and_path


def official_aglu(x, lam, kappa):
    """The official eager formula (kostas1515/AGLU ``UniRect.forward``)."""
    import torch
    import torch.nn.functional as F
    lam = lam.clamp(min=1e-4)
    return x * torch.exp((1 / lam) * F.softplus(kappa * x - torch.log(lam),
                                                beta=-1))


def implementations(channels: int, use_compile: bool):
    import torch
    from torch import nn

    from apa_mmdet.models.layers import AGLU, APA, use_eager_formula
    view = (1, channels, 1, 1)
    eager_aglu = AGLU(num_parameters=channels)

    def aglu_eager_formula(x):
        with use_eager_formula():
            return eager_aglu(x)

    lam = nn.Parameter(torch.full((channels, ), 0.5))
    kappa = nn.Parameter(torch.full((channels, ), 1.1))
    impls = {
        'ReLU (in-place)': nn.ReLU(inplace=True),
        'ReLU': nn.ReLU(),
        'SiLU': nn.SiLU(),
        'official AGLU (eager)': lambda x: official_aglu(
            x, lam.view(view), kappa.view(view)),
        'AGLU scalar': AGLU(),
        'AGLU per-channel': AGLU(num_parameters=channels),
        'APA per-channel': APA(num_parameters=channels),
        'AGLU per-ch. eager formula': aglu_eager_formula,
    }
    if use_compile:
        compiled = torch.compile(official_aglu, dynamic=False)
        impls['official AGLU (compile)'] = lambda x: compiled(
            x, lam.view(view), kappa.view(view))
    return impls


def saved_bytes(fn, x) -> int:
    """Bytes of distinct storages kept for backward by one call."""
    import torch
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return sum(storages.values())


def measure(shape, reps, use_compile):
    import torch
    torch.manual_seed(0)
    impls = implementations(shape[1], use_compile)
    base = torch.randn(shape)
    grad = torch.randn(shape)
    times = {name: dict(fwd=[], bwd=[], both=[]) for name in impls}
    for rep in range(reps + 3):  # 3 warm-up rounds
        for name, fn in impls.items():
            x = base.clone().requires_grad_()
            inp = x.clone()  # a non-leaf, so in-place ReLU may run
            t0 = time.perf_counter()
            out = fn(inp)
            t1 = time.perf_counter()
            out.backward(grad)
            t2 = time.perf_counter()
            if rep >= 3:
                times[name]['fwd'].append(t1 - t0)
                times[name]['bwd'].append(t2 - t1)
                times[name]['both'].append(t2 - t0)
    info = {}
    for name, fn in impls.items():
        x = base.clone().requires_grad_()
        held = saved_bytes(fn, x.clone()) / base.nbytes
        x16 = base.to(torch.bfloat16).requires_grad_()
        out16 = fn(x16.clone())
        info[name] = dict(
            held=held, dtype=str(out16.dtype).replace('torch.', ''),
            **{k: statistics.median(v) for k, v in times[name].items()})
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--shapes', nargs='+',
                        default=['8x256x56x56', '4x128x64x64'])
    parser.add_argument('--reps', type=int, default=20)
    parser.add_argument('--compile', action='store_true',
                        help='also time torch.compile of the official form')
    args = parser.parse_args()
    fix_allocator_and_path()
    import torch
    sys.stdout.write(
        f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
        f'float32, median of {args.reps} interleaved repetitions\n')
    for text in args.shapes:
        shape = tuple(int(v) for v in text.split('x'))
        info = measure(shape, args.reps, args.compile)
        silu = info['SiLU']
        sys.stdout.write(
            f'\n{text} ({torch.Size(shape).numel() / 1e6:.1f} M elements)\n'
            f'{"implementation":26}{"fwd ms":>9}{"bwd ms":>9}{"fwd+bwd ms":>12}'
            f'{"x SiLU":>8}{"held/x":>8}{"bf16 out":>10}\n')
        for name, row in info.items():
            sys.stdout.write(
                f'{name:26}{row["fwd"] * 1e3:9.2f}{row["bwd"] * 1e3:9.2f}'
                f'{row["both"] * 1e3:12.2f}{row["both"] / silu["both"]:8.2f}'
                f'{row["held"]:8.2f}{row["dtype"]:>10}\n')


if __name__ == '__main__':
    main()
