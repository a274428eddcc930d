# Copyright (c) apa_mmdet contributors.
"""Without a GPU, Triton's interpreter runs the CUDA kernels on CPU tensors
(tests/test_ops/test_triton_kernel.py). It must be
chosen before Triton is first imported: its own library functions
(tl.sum, ...) are defined at import time."""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')
