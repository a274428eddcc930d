# Copyright (c) apa_mmdet contributors.
"""Without a GPU, Triton's interpreter runs the CUDA kernels on CPU tensors
(tests/test_ops/test_triton_kernel.py). It must be
chosen before Triton is first imported: its own library functions
(tl.sum, ...) are defined at import time.

mmengine parses mmdet's model-index metafiles (about a hundred YAML
files, a third of a second) for every ``mmdet::`` base of every config it
loads; the suite loads configs hundreds of times, so the parsed files are
kept for the session (they do not change while it runs). The long-tail
benchmark's set (15 s to draw) is drawn once for the session."""
import functools
import os

import mmengine.config.utils
import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')

mmengine.config.utils.load = functools.lru_cache(maxsize=None)(
    mmengine.config.utils.load)


@pytest.fixture(scope='session')
def long_tail_root(tmp_path_factory):
    """The long-tail benchmark's generated set as its configs expect it
    (seed 0, the defaults); tests read it, none writes to it."""
    from apa_mmdet.datasets.synthetic_long_tail import generate_lvis_long_tail
    root = tmp_path_factory.mktemp('long_tail')
    generate_lvis_long_tail(str(root))
    return root
