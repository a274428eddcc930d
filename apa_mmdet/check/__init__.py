# Copyright (c) apa_mmdet contributors.
"""Install check: what works on this machine, on every device it has.

``python -m apa_mmdet.check [--config CONFIG] [--device DEVICE]`` (or
``tools/check_install.py``) prints the stack's versions, then on every
device (the CPU and each visible GPU): mmcv's NMS, RoIAlign and CARAFE, APA
and AGLU on the implementation that serves the device against the float64
formula, and one training step (forward, backward) of the CPU-sized APA
Mask R-CNN. With ``--config`` it also builds that config's model and checks
on the device it would train on (the first GPU, else the CPU) the mmcv ops
the model contains, one training step of it, and the data and weight files
the config names. Exit status 1 when anything needed fails or is missing;
each such line says what.
"""
from .cli import main

__all__ = ['main']
