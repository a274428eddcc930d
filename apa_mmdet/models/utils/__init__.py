# Copyright (c) apa_mmdet contributors.
from .fp32_region import fp32_region

__all__ = ['fp32_region']
