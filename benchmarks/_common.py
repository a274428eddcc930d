# Copyright (c) apa_mmdet contributors.
"""Shared set-up of the CPU benchmarks."""
import os
import sys

# glibc hands every large temporary back to the OS by default, so page
# faults would dominate CPU timings; raise both thresholds.
ALLOCATOR_ENV = {'MALLOC_MMAP_THRESHOLD_': '4294967296',
                 'MALLOC_TRIM_THRESHOLD_': '4294967296'}


def fix_allocator_and_path() -> None:
    """Re-exec with ``ALLOCATOR_ENV`` if unset; make ``apa_mmdet`` importable."""
    if any(os.environ.get(k) != v for k, v in ALLOCATOR_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  {**os.environ, **ALLOCATOR_ENV})
    sys.path.insert(0, os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
