# Copyright (c) apa_mmdet contributors.
from .fp32_rpn_head import FP32RPNHead

__all__ = ['FP32RPNHead']
