# Copyright (c) apa_mmdet contributors.
"""Box-counting (fractal) dimension of where each class's objects lie.

For a class with n objects whose box centres lie in [0, 1]² (normalised by
their image's width and height), N(G) is the number of cells of a G × G grid
that hold at least one centre. The dimension is the least-squares slope of
log N(G) against log G over the grids G = 1 … ``max_grid`` with G² ≤ n: a
finer grid than that cannot be filled by n centres, it would count the
objects rather than measure their spread. Centres along a line give 1,
centres spread over the whole image 2. As in FRACAL (Alexandridis et al.,
CVPR 2025), a class with fewer than ``min_objects`` objects, and a slope
below 1, get 1.
"""
import numpy as np


def box_counting_dimension(centres: np.ndarray, labels: np.ndarray,
                           num_classes: int, max_grid: int = 64,
                           min_objects: int = 4) -> np.ndarray:
    """Per class, the box-counting dimension of its objects' centres.

    Args:
        centres (np.ndarray): (N, 2) box centres (x, y) in [0, 1]; a centre
            on the right or bottom edge counts in the last cell.
        labels (np.ndarray): (N,) class of each centre, in [0, C).
        num_classes (int): C.
        max_grid (int): The finest grid, cells a side.
        min_objects (int): Classes with fewer objects get dimension 1; at
            least 4 (two grids to fit: G = 1 and 2).

    Returns:
        np.ndarray: (C,) float64 dimensions, at least 1 (2 for centres
        that fill the image).
    """
    if min_objects < 4:
        raise ValueError(f'min_objects must be at least 4 (a slope needs '
                         f'the grids G = 1 and 2), got {min_objects}')
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    labels = np.asarray(labels, dtype=np.int64)
    if len(centres) != len(labels):
        raise ValueError(f'{len(centres)} centres but {len(labels)} labels')
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f'labels must lie in [0, {num_classes}), got '
                         f'{labels.min()}..{labels.max()}')
    grids = np.arange(1, max_grid + 1)
    objects = np.bincount(labels, minlength=num_classes)
    occupied = np.ones((num_classes, max_grid))
    for column, grid in enumerate(grids):
        cell = np.clip(np.floor(centres * grid), 0, grid - 1).astype(np.int64)
        keys = np.unique(labels * grid * grid + cell[:, 1] * grid + cell[:, 0])
        occupied[:, column] = np.maximum(
            np.bincount(keys // (grid * grid), minlength=num_classes), 1)
    # the least-squares slope over each class's usable grids (G² <= n)
    usable = grids[None, :]**2 <= objects[:, None]
    x = np.broadcast_to(np.log(grids), occupied.shape)
    y = np.log(occupied)
    count = np.maximum(usable.sum(1), 1)
    x_mean = (usable * x).sum(1) / count
    y_mean = (usable * y).sum(1) / count
    dx = np.where(usable, x - x_mean[:, None], 0.)
    variance = (dx * dx).sum(1)
    slope = (dx * (y - y_mean[:, None])).sum(1) / np.where(
        variance > 0, variance, 1.)
    return np.where(objects < min_objects, 1., np.maximum(slope, 1.))
