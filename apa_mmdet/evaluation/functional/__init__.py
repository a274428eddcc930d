# Copyright (c) apa_mmdet contributors.
from .category_rounds import category_rounds, grouped
from .mask_rle import encode_masks

__all__ = ['category_rounds', 'encode_masks', 'grouped']
