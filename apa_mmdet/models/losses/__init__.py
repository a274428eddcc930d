# Copyright (c) apa_mmdet contributors.
from .apa_drop_loss import APADropLoss

__all__ = ['APADropLoss']
