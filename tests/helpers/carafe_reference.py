# Copyright (c) apa_mmdet contributors.
"""CARAFE's reassembly written from its formula, one output element at a
time (Wang et al., ICCV 2019; the indexing of mmcv's carafe_naive)."""
import itertools

import torch


def carafe_by_the_formula(x, mask, k, g, s):
    """out[n, c, h, w] = Σ_ij x[n, c, h//s + i − r, w//s + j − r] ·
    mask[n, g(c)·k² + i·k + j, h, w], one output element at a time."""
    n, channels, height, width = x.shape
    r = (k - 1) // 2
    out = torch.zeros(n, channels, s * height, s * width, dtype=x.dtype)
    for b, c, h, w in itertools.product(range(n), range(channels),
                                        range(s * height), range(s * width)):
        group = c // (channels // g)
        for i, j in itertools.product(range(k), range(k)):
            y, z = h // s + i - r, w // s + j - r
            if 0 <= y < height and 0 <= z < width:
                out[b, c, h, w] += (x[b, c, y, z] *
                                    mask[b, group * k * k + i * k + j, h, w])
    return out
