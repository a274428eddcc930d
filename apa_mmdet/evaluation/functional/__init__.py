# Copyright (c) apa_mmdet contributors.
from .mask_rle import encode_masks

__all__ = ['encode_masks']
