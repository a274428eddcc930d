# Copyright (c) apa_mmdet contributors.
from .checkpoint import MMENGINE_SAFE_GLOBALS, UnsafeCheckpointError, safe_load

__all__ = ['MMENGINE_SAFE_GLOBALS', 'UnsafeCheckpointError', 'safe_load']
