# Copyright (c) apa_mmdet contributors.
from .apa_se_resnet import (APASEBottleneck, APASEResNet, APASEResNeXt,
                            APASEXBottleneck)

__all__ = [
    'APASEResNet', 'APASEResNeXt', 'APASEBottleneck', 'APASEXBottleneck'
]
