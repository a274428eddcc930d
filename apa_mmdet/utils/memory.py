# Copyright (c) apa_mmdet contributors.
"""Keep evaluation's per-image buffers from fragmenting glibc's heap."""
import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
DEFAULT_MMAP_THRESHOLD = 128 * 1024  # glibc's initial value


def pin_mmap_threshold(threshold: int = DEFAULT_MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold (``mallopt(M_MMAP_THRESHOLD)``, as
    ``MALLOC_MMAP_THRESHOLD_`` would) at its initial 128 KiB.

    glibc raises the threshold to the size of each large block freed, up to
    32 MiB, so after the first image the per-image mask buffers of
    instance-segmentation evaluation (e.g. 300 masks of 128x128 px: 4.9 MB)
    come from the heap; the small result arrays kept meanwhile pin it, and
    RSS grows by about one image's masks per image (measured with and
    without the fix in ``benchmarks/README.md``).
    Fixed, blocks above it are mapped and returned to the OS when freed.

    Returns:
        bool: Whether it was set (False where the C library is not glibc).
    """
    name = ctypes.util.find_library('c')
    if name is None:
        return False
    mallopt = getattr(ctypes.CDLL(name), 'mallopt', None)
    return bool(mallopt and mallopt(M_MMAP_THRESHOLD, threshold) == 1)
