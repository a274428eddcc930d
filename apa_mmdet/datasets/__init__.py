# Copyright (c) apa_mmdet contributors.
from .class_frequency import ClassFrequency, load_class_frequency
from .synthetic import generate_coco, generate_lvis, generate_v3det

__all__ = [
    'ClassFrequency', 'load_class_frequency', 'generate_lvis',
    'generate_coco', 'generate_v3det'
]
