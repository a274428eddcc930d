# Copyright (c) apa_mmdet contributors.
from .synthetic import generate_lvis

__all__ = ['generate_lvis']
