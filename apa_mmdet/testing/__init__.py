# Copyright (c) apa_mmdet contributors.
"""What the tests and the benchmarks share (as ``mmdet.testing``): the
official formula as a reference (``official``), the bytes autograd saves
(``saved_memory``), detections made from ground truth (``predictions``)
and the Triton kernels compiled ahead of time for a GPU target
(``triton_aot``, needs Triton). Imported by module, not here."""
