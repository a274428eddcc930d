# Copyright (c) apa_mmdet contributors.
"""Shared set-up of the benchmarks."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# glibc hands every large temporary back to the OS by default, so page
# faults would dominate CPU timings; raise both thresholds.
ALLOCATOR_ENV = {'MALLOC_MMAP_THRESHOLD_': '4294967296',
                 'MALLOC_TRIM_THRESHOLD_': '4294967296'}


def fix_allocator() -> None:
    """Re-execute the same command line with ``ALLOCATOR_ENV`` if unset."""
    if any(os.environ.get(k) != v for k, v in ALLOCATOR_ENV.items()):
        os.execve(sys.executable, sys.orig_argv,
                  {**os.environ, **ALLOCATOR_ENV})


def worker_command(module: str, *args: str) -> list:
    """The command that runs ``python -m <module> *args`` in a fresh
    interpreter (run it with ``cwd=ROOT``)."""
    return [sys.executable, '-m', module, *args]
