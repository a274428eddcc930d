# Copyright (c) apa_mmdet contributors.
"""Rounds of categories bounded by categories and (image, category) pairs."""
import numpy as np

from apa_mmdet.evaluation.functional import category_rounds, grouped


def test_category_rounds_bound_categories_and_pairs():
    """Rounds keep the categories' order and take the union of their
    images; a round closes before it would pass max_categories or
    max_pairs (images x categories); without images, rounds of
    max_categories on every image."""
    images_of = {1: np.array([1, 2]), 2: np.array([2, 3]),
                 3: np.arange(10, 20), 5: np.array([1])}
    cat_ids = np.array([1, 2, 3, 4, 5, 6])

    def rounds(*args):
        return [(ids.tolist(), None if images is None else images.tolist())
                for ids, images in category_rounds(cat_ids, *args)]

    assert rounds(images_of, 3, 8) == [([1, 2], [1, 2, 3]),
                                       ([3], list(range(10, 20))),
                                       ([4, 5, 6], [1])]
    assert rounds(images_of, 2, 8) == [([1, 2], [1, 2, 3]),
                                       ([3], list(range(10, 20))),
                                       ([4, 5], [1]), ([6], [])]
    assert rounds(None, 4, 8) == [([1, 2, 3, 4], None), ([5, 6], None)]
    assert list(category_rounds(cat_ids[:0], images_of, 4, 8)) == []


def test_grouped_by_sorted_keys():
    keys = np.array([3, 3, 5, 9, 9, 9])
    groups = grouped(keys, np.arange(6))
    assert {k: v.tolist() for k, v in groups.items()} == {
        3: [0, 1], 5: [2], 9: [3, 4, 5]}
    assert grouped(keys[:0], keys[:0]) == {}
