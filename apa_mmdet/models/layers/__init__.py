# Copyright (c) apa_mmdet contributors.
from .activations import AGLU, APA, build_site_activation
from .apa_function import aglu, apa
from .se_layer import APASELayer

__all__ = ['APA', 'AGLU', 'apa', 'aglu', 'build_site_activation', 'APASELayer']
