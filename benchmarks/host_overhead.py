# Copyright (c) apa_mmdet contributors.
"""Host time per AGLU call on a GPU, against ``F.silu``.

A tensor of 128 elements makes the GPU's work negligible, so the wall time
of 500 back-to-back calls (synchronised once at the end) is what the host
spends per call: Python, autograd, the custom operators, Triton's launcher
and the small torch ops around them. Then torch.profiler's table of the
AGLU forward+backward, by self CPU time, says where it goes.

Usage: ``python -m benchmarks.host_overhead`` (needs CUDA, torch, Triton).
"""
import sys
import time


def main():
    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    from apa_mmdet.ops import aglu
    x = torch.randn(1, 8, 4, 4, device='cuda', requires_grad=True)
    lam = torch.full((8, ), .5, device='cuda', requires_grad=True)
    kappa = torch.ones(8, device='cuda', requires_grad=True)
    cases = {
        'SiLU fwd': lambda: F.silu(x),
        'AGLU fwd': lambda: aglu(x, lam, kappa),
        'SiLU fwd+bwd': lambda: torch.autograd.grad(F.silu(x).sum(), (x, )),
        'AGLU fwd+bwd': lambda: torch.autograd.grad(
            aglu(x, lam, kappa).sum(), (x, lam, kappa)),
    }
    for name, fn in cases.items():
        for _ in range(50):
            fn()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(500):
            fn()
        torch.cuda.synchronize()
        per_call = (time.perf_counter() - start) / 500 * 1e6
        sys.stdout.write(f'{name:14} {per_call:8.1f} us per call (host)\n')
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(100):
            cases['AGLU fwd+bwd']()
    sys.stdout.write(prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=25) + '\n')


if __name__ == '__main__':
    main()
