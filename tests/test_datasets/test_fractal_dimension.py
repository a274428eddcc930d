# Copyright (c) apa_mmdet contributors.
"""The box-counting dimension of each class's box centres: known shapes,
the small-class rules, and a brute-force reference on random classes."""
import numpy as np
import pytest

from apa_mmdet.datasets.fractal_dimension import box_counting_dimension


def lattice(side):
    """side² centres filling the unit square evenly."""
    g = (np.arange(side) + 0.5) / side
    x, y = np.meshgrid(g, g)
    return np.stack([x.ravel(), y.ravel()], 1)


def reference(points, max_grid=64, min_objects=4):
    """Grids of sets of cells and numpy's line fit, class by class."""
    if len(points) < min_objects:
        return 1.
    grids = [g for g in range(1, max_grid + 1) if g * g <= len(points)]
    counts = [len({(min(int(x * g), g - 1), min(int(y * g), g - 1))
                   for x, y in points}) for g in grids]
    slope = np.polyfit(np.log(grids), np.log(counts), 1)[0]
    return max(slope, 1.)


def test_known_shapes():
    t = np.linspace(0, 1, 4096)
    shapes = [lattice(64),                              # fills: 2
              np.stack([t, t], 1),                      # diagonal: 1
              np.stack([t, np.full_like(t, 0.3)], 1),   # horizontal: 1
              np.full((500, 2), 0.4),                   # one spot: 0 -> 1
              np.array([[0.5, 0.5]]),                   # one object: 1
              lattice(2)]                               # 4 quadrants: 2
    labels = np.repeat(np.arange(len(shapes)), [len(s) for s in shapes])
    dims = box_counting_dimension(np.concatenate(shapes), labels, 7)
    np.testing.assert_allclose(dims, [2, 1, 1, 1, 1, 2, 1], atol=1e-12)


def test_three_objects_take_the_small_class_rule_and_four_do_not():
    corners = lattice(2)
    dims = box_counting_dimension(
        np.concatenate([corners[:3], corners]), np.repeat([0, 1], [3, 4]), 2)
    assert dims.tolist() == [1., 2.]
    assert box_counting_dimension(corners[:3], np.zeros(3, int), 1,
                                  min_objects=3 + 1)[0] == 1.


def test_centres_on_the_far_edges_count_in_the_last_cell():
    edge = np.array([[1., 1.], [1., 0.], [0., 1.], [0., 0.]])
    assert box_counting_dimension(edge, np.zeros(4, int), 1)[0] == 2.


def test_random_classes_equal_a_brute_force_reference():
    rng = np.random.default_rng(0)
    classes = [rng.random((n, 2)) * rng.uniform(0.1, 1, 2)
               for n in (1, 4, 9, 17, 60, 300, 1000)]
    classes.append(np.stack([np.linspace(0, 1, 200),
                             rng.random(200) * 0.05], 1))
    labels = np.repeat(np.arange(len(classes)), [len(c) for c in classes])
    order = rng.permutation(len(labels))
    dims = box_counting_dimension(np.concatenate(classes)[order],
                                  labels[order], len(classes), max_grid=16)
    np.testing.assert_allclose(
        dims, [reference(c, max_grid=16) for c in classes], rtol=1e-12)
    assert 1 < dims[-3] < 2 and dims[-1] < dims[-2]


@pytest.mark.parametrize('labels,message', [
    (np.array([0, 2]), r'labels must lie in \[0, 2\), got 0\.\.2'),
    (np.array([0]), '2 centres but 1 labels')])
def test_bad_labels_are_named(labels, message):
    with pytest.raises(ValueError, match=message):
        box_counting_dimension(np.zeros((2, 2)), labels, 2)


def test_fewer_than_four_objects_cannot_be_fitted():
    with pytest.raises(ValueError, match='min_objects must be at least 4'):
        box_counting_dimension(np.zeros((2, 2)), np.zeros(2, int), 1,
                               min_objects=3)
