# Copyright (c) apa_mmdet contributors.
"""CARAFE's reassembly in torch ops against the formula, element by
element, in float64."""
import pytest
import torch

from apa_mmdet.models.layers.carafe import carafe
from tests.helpers.carafe_reference import carafe_by_the_formula


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
