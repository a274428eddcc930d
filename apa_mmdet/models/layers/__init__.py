# Copyright (c) apa_mmdet contributors.
from .activations import AGLU, APA
from .apa_function import aglu, apa

__all__ = ['APA', 'AGLU', 'apa', 'aglu']
