# Copyright (c) apa_mmdet contributors.
"""Conversion of official APA (kostas1515/AGLU) checkpoints, for
``tools/model_converters/aglu2apa.py``: above ``models`` (it builds them to
check keys), which never import it."""
from .official_checkpoint import (OFFICIAL_SAFE_GLOBALS, ConversionError,
                                  convert_official, infer_backbone_cfg,
                                  key_mismatches, unwrap_state_dict)

__all__ = [
    'OFFICIAL_SAFE_GLOBALS', 'ConversionError', 'convert_official',
    'infer_backbone_cfg', 'key_mismatches', 'unwrap_state_dict'
]
