# Copyright (c) apa_mmdet contributors.
from .class_frequency import ClassFrequency, load_class_frequency

__all__ = ['ClassFrequency', 'load_class_frequency']
