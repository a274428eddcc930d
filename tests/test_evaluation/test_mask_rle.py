# Copyright (c) apa_mmdet contributors.
"""encode_masks: each mask encoded from its extent gives the RLE that
pycocotools' encode of the whole mask and mmdet's encode_mask_results
give."""
import numpy as np
import pycocotools.mask as mask_util
import pytest

from apa_mmdet.evaluation.functional import encode_masks


def full_image_rles(masks):
    return mask_util.encode(np.asfortranarray(
        masks.transpose(1, 2, 0).astype(np.uint8)))


def edge_cases(h=7, w=5):
    """Empty, full, one pixel at each corner, whole columns (runs that
    join across columns), a mask touching the bottom of one column and
    the top of the next, a hole."""
    cases = {name: np.zeros((h, w), bool) for name in (
        'empty', 'top-left pixel', 'bottom-right pixel', 'one column',
        'two columns', 'bottom then top', 'crossing columns', 'ring')}
    cases['full'] = np.ones((h, w), bool)
    cases['top-left pixel'][0, 0] = True
    cases['bottom-right pixel'][-1, -1] = True
    cases['one column'][:, 2] = True
    cases['two columns'][:, 1:3] = True
    cases['bottom then top'][-1, 1] = cases['bottom then top'][0, 2] = True
    cases['crossing columns'][3:, 1] = cases['crossing columns'][:4, 2] = 1
    cases['ring'][2:5, 1:4] = True
    cases['ring'][3, 2] = False
    return cases


@pytest.mark.parametrize('name', list(edge_cases()))
def test_edge_cases_equal_pycocotools(name):
    mask = edge_cases()[name][None]
    assert encode_masks(mask) == full_image_rles(mask)


@pytest.mark.parametrize('dtype', [bool, np.uint8])
def test_random_masks_equal_pycocotools_and_mmdet(dtype):
    from mmdet.structures.mask import encode_mask_results
    rng = np.random.default_rng(0)
    for shape in ((50, 23, 31), (3, 1, 7), (2, 9, 1)):
        masks = (rng.random(shape) < rng.random((shape[0], 1, 1))).astype(
            dtype)
        assert encode_masks(masks) == full_image_rles(masks)
        assert encode_masks(masks) == encode_mask_results(masks)
    assert encode_masks(masks[::-1]) == encode_mask_results(
        masks[::-1])  # not contiguous
    assert encode_masks(masks[:0]) == []


def test_mask_head_shaped_masks_at_lvis_sizes():
    """Filled ellipses in boxes of a 480×640 image, some at its borders."""
    from benchmarks.eval_lvis import _box_masks
    boxes = np.array([[0, 0, 40, 30], [600, 400, 640, 480], [10, 5, 310, 205],
                      [300, 0, 301, 480], [0, 200, 640, 201]])
    masks = _box_masks(boxes, 480, 640, ellipses=True)
    assert encode_masks(masks) == full_image_rles(masks)
