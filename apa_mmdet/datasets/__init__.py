# Copyright (c) apa_mmdet contributors.
from .class_frequency import ClassFrequency, load_class_frequency
from .synthetic import generate_lvis

__all__ = ['ClassFrequency', 'load_class_frequency', 'generate_lvis']
