# Copyright (c) apa_mmdet contributors.
"""Host time per APA/AGLU call, against ``nn.SiLU``, on CPU or a GPU.

A tensor of 128 elements (1×8×4×4, per-channel λ and κ) makes the device's
work negligible, so the wall time of back-to-back calls (synchronised once
at the end on a GPU) is what the host spends per call: Python, autograd,
the launch. On CPU one thread runs everything (``torch.set_num_threads(1)``)
and the rows are the fused kernel and the torch formula
(``use_eager_formula``). Each row also counts the Python calls made inside
``apa_mmdet`` per forward+backward. Rows: the AGLU layer (when mmcv is
installed; else what it calls, ``apa_mmdet.ops.activation``), and the
checked functional ``aglu()``.

``--baseline DIR`` times another checkout (e.g. ``git worktree add DIR
COMMIT``) side by side: its processes and this tree's alternate
(``--rounds`` each), every ratio is taken to SiLU in its own process, and
the table gives medians. The trees build their CPU kernels in separate
``TORCH_EXTENSIONS_DIR`` folders.

Usage: ``python -m benchmarks.host_overhead [--device cpu|cuda]
[--baseline DIR] [--rounds 3] [--json OUT]``.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _layer(device):
    """The AGLU layer with 8 per-channel parameters, or (without mmcv) a
    module calling what the layer calls."""
    import torch
    try:
        from apa_mmdet.models.layers import AGLU
        return AGLU(num_parameters=8).to(device), 'AGLU layer'
    except ImportError:
        from apa_mmdet.ops import activation

        class LayerPath(torch.nn.Module):

            def __init__(self):
                super().__init__()
                self.lambda_param = torch.nn.Parameter(torch.full((8, ), .5))
                self.kappa_param = torch.nn.Parameter(torch.ones(8))

            def forward(self, x):
                return activation(x, self.lambda_param, self.kappa_param,
                                  'aglu')

        return LayerPath().to(device), 'AGLU layer path'


def _python_calls(fn) -> int:
    """Python function calls inside apa_mmdet during one ``fn()``."""
    package = os.sep + 'apa_mmdet' + os.sep
    calls = []

    def profile(frame, event, arg):
        if event == 'call' and package in frame.f_code.co_filename:
            calls.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return len(calls)


def measure(device: str, calls: int) -> dict:
    """Microseconds per call and Python calls per forward+backward of
    every row, in this process."""
    import torch
    from apa_mmdet.ops import aglu, use_eager_formula
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(1, 8, 4, 4, device=device, requires_grad=True)
    silu = torch.nn.SiLU()
    layer, layer_name = _layer(device)
    params = (layer.lambda_param, layer.kappa_param)

    def fwd_bwd(fn):
        return lambda: torch.autograd.grad(fn().sum(), (x, *params))

    def formula(fn):
        def run():
            with use_eager_formula():
                return fn()
        return run

    rows = {
        'SiLU fwd': lambda: silu(x),
        'SiLU fwd+bwd': lambda: torch.autograd.grad(silu(x).sum(), (x, )),
        f'{layer_name} fwd': lambda: layer(x),
        f'{layer_name} fwd+bwd': fwd_bwd(lambda: layer(x)),
        'aglu() fwd+bwd': fwd_bwd(lambda: aglu(x, *params)),
    }
    if device == 'cpu':
        rows[f'{layer_name} fwd+bwd, torch formula'] = formula(
            fwd_bwd(lambda: layer(x)))
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    result = {}
    for name, fn in rows.items():
        for _ in range(max(calls // 10, 20)):
            fn()
        sync()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        result[name] = {
            'us': (time.perf_counter() - start) / calls * 1e6,
            'python_calls': _python_calls(fn) if 'fwd+bwd' in name else None
        }
    return result


def _worker_env(tree: str) -> dict:
    env = {**os.environ, 'PYTHONPATH': tree}
    if os.path.realpath(tree) != os.path.realpath(ROOT):
        cache = os.environ.get('TORCH_EXTENSIONS_DIR', os.path.expanduser(
            '~/.cache/torch_extensions'))
        env['TORCH_EXTENSIONS_DIR'] = os.path.join(cache, 'baseline')
    return env


def _run_worker(tree: str, device: str, calls: int) -> dict:
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), '--worker', '--device',
         device, '--calls', str(calls)], cwd=tree, env=_worker_env(tree),
        capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f'the worker in {tree} failed:\n'
                           f'{result.stderr[-3000:]}')
    return json.loads(result.stdout.splitlines()[-1])


def table(runs: dict) -> str:
    """Median µs, median ratio to SiLU fwd+bwd of the same process, and
    Python calls, per tree and row."""
    lines = [f'{"tree":10} {"row":42} {"us":>8} {"x SiLU":>7} '
             f'{"py calls":>8}']
    for tree, results in runs.items():
        for row in results[0]:
            silu = 'SiLU fwd' if row == 'SiLU fwd' or row.endswith(
                ' fwd') else 'SiLU fwd+bwd'
            us = statistics.median(r[row]['us'] for r in results)
            ratio = statistics.median(r[row]['us'] / r[silu]['us']
                                      for r in results)
            calls = results[0][row]['python_calls']
            lines.append(f'{tree:10} {row:42} {us:8.1f} {ratio:7.2f} '
                         f'{"" if calls is None else calls:>8}')
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', choices=('cpu', 'cuda'), default=None,
                        help='default: cuda where available, else cpu')
    parser.add_argument('--calls', type=int, default=2000,
                        help='calls per timing (default 2000)')
    parser.add_argument('--rounds', type=int, default=3,
                        help='processes per tree (default 3)')
    parser.add_argument('--baseline', metavar='DIR',
                        help='another checkout to time side by side')
    parser.add_argument('--json', metavar='OUT', help='write the raw runs')
    parser.add_argument('--worker', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.worker:
        sys.stdout.write(json.dumps(measure(args.device, args.calls)) + '\n')
        return
    trees = {'this': ROOT}
    if args.baseline:
        trees = {'baseline': os.path.abspath(args.baseline), **trees}
    runs = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(_run_worker(tree, args.device, args.calls))
    sys.stdout.write(f'device {args.device}, 1×8×4×4 input, per-channel '
                     f'λ, κ, {args.calls} calls per timing, median of '
                     f'{args.rounds} processes per tree\n{table(runs)}\n')
    if args.json:
        commits = {name: subprocess.run(
            ['git', 'rev-parse', '--short', 'HEAD'], cwd=tree,
            capture_output=True, text=True).stdout.strip()
            for name, tree in trees.items()}
        with open(args.json, 'w') as f:
            json.dump({'device': args.device, 'calls': args.calls,
                       'trees': trees, 'commits': commits, 'runs': runs}, f,
                      indent=1)


if __name__ == '__main__':
    main()
