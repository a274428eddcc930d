# Copyright (c) apa_mmdet contributors.
"""Rounds of categories for an evaluation whose matching state grows with
the (image, category) pairs it is given."""
from typing import Dict, Iterator, Optional, Tuple

import numpy as np


def grouped(keys: np.ndarray, values: np.ndarray) -> Dict[int, np.ndarray]:
    """``values`` grouped by ``keys`` (sorted by key): key -> values."""
    if not len(keys):
        return {}
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return dict(zip(keys[starts].tolist(), np.split(values, starts[1:])))


def category_rounds(
    cat_ids: np.ndarray,
    images_of: Optional[Dict[int, np.ndarray]], max_categories: int,
    max_pairs: int
) -> Iterator[Tuple[np.ndarray, Optional[np.ndarray]]]:
    """Split ``cat_ids`` into consecutive rounds, each with the ids of the
    images it is scored on: the union of ``images_of`` its categories.

    A round takes categories in order while it has at most
    ``max_categories`` of them and (image, category) pairs (its images ×
    its categories) within ``max_pairs``; a category whose own pairs
    exceed it is a round alone. Without ``images_of`` rounds are every
    image's (``None``), ``max_categories`` categories each.
    """
    if images_of is None:
        for start in range(0, len(cat_ids), max_categories):
            yield cat_ids[start:start + max_categories], None
        return
    start, images = 0, np.zeros(0, dtype=np.int64)
    for end, cat_id in enumerate(cat_ids.tolist()):
        own = images_of.get(cat_id, np.zeros(0, dtype=np.int64))
        merged = np.union1d(images, own)
        if end > start and (end - start == max_categories
                            or len(merged) * (end - start + 1) > max_pairs):
            yield cat_ids[start:end], images
            start, merged = end, own
        images = merged
    if len(cat_ids):
        yield cat_ids[start:], images
