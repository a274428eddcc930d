# Copyright (c) apa_mmdet contributors.
from .activations import AGLU, APA, AdaptiveActivation, build_site_activation
from .carafe import AnyDeviceCARAFEPack
from .class_scores import (APAClassScore, GumbelClassScore,
                           SigmoidClassScore)
from .normed_predictor import LearnableTempNormedConv2d
from .se_layer import APASELayer
from .se_residual_end import SEResidualEnd
from .wrapped_cauchy_linear import WCLinear

__all__ = [
    'APA', 'AGLU', 'APAClassScore', 'AdaptiveActivation',
    'AnyDeviceCARAFEPack', 'APASELayer', 'GumbelClassScore',
    'LearnableTempNormedConv2d', 'SEResidualEnd', 'SigmoidClassScore',
    'WCLinear',
    'build_site_activation'
]
