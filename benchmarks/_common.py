# Copyright (c) apa_mmdet contributors.
"""Shared set-up of the benchmarks."""
import importlib
import importlib.util
import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# glibc hands every large temporary back to the OS by default, so page
# faults would dominate CPU timings; raise both thresholds.
ALLOCATOR_ENV = {'MALLOC_MMAP_THRESHOLD_': '4294967296',
                 'MALLOC_TRIM_THRESHOLD_': '4294967296'}


def fix_allocator_and_path() -> None:
    """Re-exec with ``ALLOCATOR_ENV`` if unset; make ``apa_mmdet`` importable."""
    if any(os.environ.get(k) != v for k, v in ALLOCATOR_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  {**os.environ, **ALLOCATOR_ENV})
    sys.path.insert(0, ROOT)


def import_apa_functions():
    """``apa_mmdet.models.layers.apa_function`` without the package's
    ``__init__`` (which registers modules with mmdet): a machine with only
    torch (and Triton), like the lent GPU machine, can run it."""
    package = types.ModuleType('apa_layers')
    package.__path__ = [os.path.join(ROOT, 'apa_mmdet', 'models', 'layers')]
    sys.modules.setdefault('apa_layers', package)
    return importlib.import_module('apa_layers.apa_function')


def import_file(path: str):
    """The module of one file of the repository (``path`` relative to its
    root), without importing its package."""
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name,
                                                  os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
