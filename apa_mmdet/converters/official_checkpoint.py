# Copyright (c) apa_mmdet contributors.
"""Convert official APA (kostas1515/AGLU) checkpoints to apa_mmdet.

apa_mmdet keeps the official module names (stem ``relu``, ``unirect1..3``,
``se.norm``, ``se.excitation``, ``se.uniact``), so converting is mostly
unwrapping: the official ImageNet trainer saves ``{'model': state_dict,
'optimizer', 'args', ...}`` (possibly with a ``module.`` prefix), which
mmengine's ``Pretrained`` init would silently load nothing from. The
architecture is read off the keys and every backbone key is checked against
the matching :class:`APASEResNet`, so nothing is dropped silently.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

from mmdet.registry import MODELS
from torch import Tensor

from ..models.backbones import APASEResNet
from ..ops import LAMBDA_MIN
from .common import ConversionError, key_mismatches, unwrap_state_dict
from .official_swin import convert_official_swin, is_official_swin

DETECTOR_PREFIXES = ('backbone.', 'neck.', 'rpn_head.', 'roi_head.')


def _stage_blocks(backbone: Dict[str, Tensor]) -> Tuple[int, ...]:
    blocks = []
    for stage in range(1, 5):
        indices = {
            int(m.group(1))
            for m in (re.match(rf'layer{stage}\.(\d+)\.', k) for k in backbone)
            if m
        }
        blocks.append(len(indices))
    return tuple(blocks)


def _act_cfg(backbone: Dict[str, Tensor], prefix: str, act_type: str) -> dict:
    lam = backbone.get(f'{prefix}.lambda_param')
    if lam is None:
        return dict(type='ReLU', inplace=True) if act_type == 'AGLU' else \
            dict(type='Sigmoid')
    cfg = dict(type=act_type)
    if lam.numel() > 1:
        cfg['num_parameters'] = 'channels'
    return cfg


def infer_backbone_cfg(backbone: Dict[str, Tensor]) -> dict:
    """Read the ``APASEResNet``/``APASEResNeXt`` config off backbone keys.

    Args:
        backbone (dict[str, Tensor]): Backbone state dict (no prefix).

    Returns:
        dict: A model config for ``MODELS.build``.
    """
    for key, what in (('layer1.0.conv3.weight', 'bottleneck blocks'),
                      ('layer1.0.se.excitation.0.weight', 'SE layers')):
        if key not in backbone:
            raise ConversionError(
                f'not an official SE-ResNet-50/101/152 checkpoint: no '
                f'{what} (key {key!r} is missing)')
    blocks = _stage_blocks(backbone)
    depths = {stages: depth
              for depth, (_, stages) in APASEResNet.arch_settings.items()}
    if blocks not in depths:
        raise ConversionError(
            f'unknown SE-ResNet layout: {blocks} blocks per stage; known: '
            f'{sorted(depths)}')
    excite = backbone['layer1.0.se.excitation.0.weight']
    se_cfg = dict(
        ratio=excite.shape[1] // excite.shape[0],
        act_cfg=(dict(type='ReLU'),
                 _act_cfg(backbone, 'layer1.0.se.uniact', 'APA')))
    if 'layer1.0.se.norm.weight' in backbone:
        # the official APA-SE: LayerNorm + Dropout(0.1) (dropout has no key)
        se_cfg.update(norm_cfg=dict(type='LN'), dropout=0.1)
    cfg = dict(
        type='APASEResNet',
        depth=depths[blocks],
        act_cfg=_act_cfg(backbone, 'layer1.0.unirect1', 'AGLU'),
        stem_act_cfg=_act_cfg(backbone, 'relu', 'AGLU'),
        se_cfg=se_cfg,
        init_cfg=None)
    conv2 = backbone['layer1.0.conv2.weight']
    groups = conv2.shape[0] // conv2.shape[1]
    if groups > 1:
        cfg.update(
            type='APASEResNeXt', groups=groups,
            base_width=conv2.shape[0] // groups)
    return cfg


def _check_keys(backbone: Dict[str, Tensor], cfg: dict) -> None:
    problems = key_mismatches(backbone, MODELS.build(cfg).state_dict())
    if problems:
        raise ConversionError(
            f'{len(problems)} backbone key(s) do not match {cfg["type"]}-'
            f'{cfg["depth"]}: ' + '; '.join(problems[:20]) +
            (' ...' if len(problems) > 20 else ''))


def convert_official(checkpoint) -> Tuple[Dict[str, Tensor], dict]:
    """Convert an official detector or ImageNet checkpoint.

    Detector checkpoints (keys under ``backbone.``, ``neck.``, ``rpn_head.``,
    ``roi_head.``) keep their keys, for ``load_from``. ImageNet checkpoints
    give bare backbone keys, for the backbone's
    ``init_cfg=dict(type='Pretrained', checkpoint=...)``; their classifier
    ``fc.*`` is dropped. Official Swin ImageNet checkpoints go to
    :func:`convert_official_swin`.

    Args:
        checkpoint: A loaded official checkpoint.

    Returns:
        tuple[dict, dict]: The converted state dict and a report with
        ``backbone_cfg``, ``kind`` ('detector' or 'classifier'),
        ``dropped`` (keys removed on purpose), ``unmapped`` (non-backbone
        keys under no known detector prefix) and ``low_lambda`` (λ keys with
        values below the 1e-4 floor, which the forward clamps).

    Raises:
        ConversionError: Not a checkpoint, not an SE-ResNet-50/101/152, or
            backbone keys that the inferred architecture cannot take.
    """
    state = unwrap_state_dict(checkpoint)
    if is_official_swin(state):
        return convert_official_swin(state)
    is_detector = any(k.startswith('backbone.') for k in state)
    if is_detector:
        backbone = {k[len('backbone.'):]: v for k, v in state.items()
                    if k.startswith('backbone.')}
        dropped: List[str] = []
        unmapped = [k for k in state if not k.startswith(DETECTOR_PREFIXES)]
        converted = OrderedDict(
            (k, v) for k, v in state.items() if k not in unmapped)
    else:
        dropped = [k for k in state if k.startswith('fc.')]
        backbone = OrderedDict(
            (k, v) for k, v in state.items() if k not in dropped)
        unmapped = []
        converted = backbone
    cfg = infer_backbone_cfg(backbone)
    _check_keys(backbone, cfg)
    low_lambda = [
        k for k, v in converted.items()
        if k.endswith('lambda_param') and bool((v < LAMBDA_MIN).any())
    ]
    report = dict(
        kind='detector' if is_detector else 'classifier',
        backbone_cfg=cfg,
        architecture=f'{cfg["type"]}-{cfg["depth"]}',
        dropped=dropped,
        unmapped=unmapped,
        low_lambda=low_lambda)
    return converted, report
