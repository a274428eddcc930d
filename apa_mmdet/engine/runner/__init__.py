# Copyright (c) apa_mmdet contributors.
from .device_agnostic_runner import (DeviceAgnosticDDP, DeviceAgnosticRunner,
                                     init_cpu_process_group)

__all__ = [
    'DeviceAgnosticDDP', 'DeviceAgnosticRunner', 'init_cpu_process_group'
]
