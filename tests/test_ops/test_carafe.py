# Copyright (c) apa_mmdet contributors.
"""CARAFE's reassembly in torch ops against the formula, element by
element, in float64."""
import itertools

import pytest
import torch

from apa_mmdet.ops.carafe import carafe


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


@pytest.mark.parametrize('k,g,s', [(5, 1, 2), (3, 2, 2), (3, 1, 3),
                                   (1, 1, 2)])
def test_equals_the_formula(k, g, s):
    gen = torch.Generator().manual_seed(k * 10 + g + s)
    x = torch.randn(2, 4, 3, 5, generator=gen, dtype=torch.float64)
    mask = torch.rand(2, g * k * k, 3 * s, 5 * s, generator=gen,
                      dtype=torch.float64)
    torch.testing.assert_close(carafe(x, mask, k, g, s),
                               carafe_by_the_formula(x, mask, k, g, s),
                               rtol=1e-12, atol=1e-12)


def test_gradcheck():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 3, 4, generator=gen, dtype=torch.float64,
                    requires_grad=True)
    mask = torch.rand(1, 2 * 9, 6, 8, generator=gen, dtype=torch.float64,
                      requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: carafe(a, b, 3, 2, 2),
                                    (x, mask))


def test_shapes_that_do_not_fit_are_named():
    x = torch.randn(1, 6, 4, 4)
    with pytest.raises(ValueError, match=r'mask must be \(1, 25, 8, 8\)'):
        carafe(x, torch.rand(1, 25, 4, 4), 5, 1, 2)
    with pytest.raises(ValueError, match='group_size=4'):
        carafe(x, torch.rand(1, 100, 8, 8), 5, 4, 2)
