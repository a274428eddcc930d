# Copyright (c) apa_mmdet contributors.
"""Conversion of official APA (kostas1515/AGLU) checkpoints, for
``tools/model_converters/aglu2apa.py``: above ``models`` (it builds them to
check keys), which never import it."""
from .common import (OFFICIAL_SAFE_GLOBALS, ConversionError, key_mismatches,
                     unwrap_state_dict)
from .official_checkpoint import convert_official, infer_backbone_cfg
from .official_swin import convert_official_swin, infer_swin_cfg

__all__ = [
    'OFFICIAL_SAFE_GLOBALS', 'ConversionError', 'convert_official',
    'convert_official_swin', 'infer_backbone_cfg', 'infer_swin_cfg',
    'key_mismatches', 'unwrap_state_dict'
]
