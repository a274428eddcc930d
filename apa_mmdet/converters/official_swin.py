# Copyright (c) apa_mmdet contributors.
"""Convert official Swin Transformer checkpoints with AGLU in their MLPs.

The official APA code trained a Swin whose MLP activation is AGLU
(``layers.{i}.blocks.{j}.mlp.act.lambda_param`` / ``kappa_param``). mmdet's
``swin_converter`` renames the other MLP keys to mmcv's ``FFN`` layout
(``mlp.fc1`` → ``ffn.layers.0.0``, ``mlp.fc2`` → ``ffn.layers.1``) but the
activation to ``ffn.act``, where the FFN has none: it lives at
``ffn.layers.0.1`` (``Sequential(Linear, act, Dropout)``), so mmdet's
non-strict load would silently keep the random λ, κ. This conversion applies
mmdet's converter, moves the activation keys where the FFN holds them and
reshapes the official channels-last (1, 1, C) parameters to (C,). Keys keep
the ``backbone.`` prefix that mmdet's converter gives them: mmdet's
``SwinTransformer.init_weights`` (``init_cfg=dict(type='Pretrained')``)
loads only keys under it.
"""
import math
import re
from collections import OrderedDict
from typing import Dict, Tuple

from mmdet.models.backbones.swin import swin_converter
from mmdet.registry import MODELS
from torch import Tensor

from ..ops import LAMBDA_MIN
from .common import ConversionError, key_mismatches

# the prefix mmdet's SwinTransformer.init_weights keeps (and strips)
KEY_PREFIX = 'backbone.'
# mmdet's SwinTransformer adds a norm per output stage (norm0..norm3) that
# no ImageNet checkpoint has: initialised by mmdet, not loaded.
MMDET_ONLY_KEYS = r'norm\d+\.'
# ImageNet classifier, final norm (replaced by the per-output norms above)
# and the shifted windows' masks (mmdet builds them per input)
_DROPPED = re.compile(r'(head|norm)\.|.*\.attn_mask$')


def is_official_swin(state: Dict[str, Tensor]) -> bool:
    """Whether ``state`` has the official Swin layout (``layers.*.blocks``
    with ``mlp.fc1``)."""
    return any(re.match(r'layers\.\d+\.blocks\.\d+\.mlp\.fc1\.', k)
               for k in state)


def infer_swin_cfg(state: Dict[str, Tensor]) -> dict:
    """mmdet ``SwinTransformer`` config of an official Swin state dict (MLP
    activation AGLU when its keys are there, else GELU)."""
    embed_dims, _, patch_size, _ = state['patch_embed.proj.weight'].shape
    depths, num_heads = [], []
    while f'layers.{len(depths)}.blocks.0.norm1.weight' in state:
        stage = len(depths)
        blocks = {int(m.group(1)) for m in (
            re.match(rf'layers\.{stage}\.blocks\.(\d+)\.', k) for k in state)
                  if m}
        depths.append(len(blocks))
        table = state[f'layers.{stage}.blocks.0.attn.'
                      'relative_position_bias_table']
        num_heads.append(table.shape[1])
    window_size = (math.isqrt(table.shape[0]) + 1) // 2
    hidden = state['layers.0.blocks.0.mlp.fc1.weight'].shape[0]
    cfg = dict(type='SwinTransformer', embed_dims=embed_dims,
               patch_size=patch_size, depths=depths, num_heads=num_heads,
               window_size=window_size, mlp_ratio=hidden // embed_dims,
               strides=(patch_size, 2, 2, 2), convert_weights=False,
               init_cfg=None)
    lam = state.get('layers.0.blocks.0.mlp.act.lambda_param')
    if lam is not None:
        if lam.numel() > 1:
            raise ConversionError(
                'per-channel MLP AGLU (lambda_param of shape '
                f'{tuple(lam.shape)}): mmdet\'s SwinTransformer takes one '
                'act_cfg for every stage, whose hidden widths differ; only '
                'scalar λ, κ (the official act_cfg=dict(type=\'UniRect\')) '
                'convert')
        cfg['act_cfg'] = dict(type='AGLU')
    return cfg


def convert_official_swin(
        state: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], dict]:
    """Convert an unwrapped official Swin (ImageNet) state dict to mmdet's
    ``SwinTransformer`` keys under ``backbone.``, for the backbone's
    ``init_cfg=dict(type='Pretrained', ...)`` with
    ``convert_weights=False``; every key is checked against the inferred
    backbone.

    Returns:
        tuple[dict, dict]: The state dict and a report as
        ``convert_official``'s, plus ``mmdet_only`` (a pattern of the
        backbone keys no ImageNet checkpoint holds) and ``key_prefix``
        (``backbone.``, before every key).
    """
    dropped = [k for k in state if _DROPPED.match(k)]
    cfg = infer_swin_cfg(state)
    kept = OrderedDict((k, v) for k, v in state.items() if k not in dropped)
    backbone = OrderedDict()
    for key, value in swin_converter(kept).items():
        key = key[len(KEY_PREFIX):].replace('.ffn.act.', '.ffn.layers.0.1.')
        backbone[key] = (value.reshape(-1) if key.endswith(
            ('.lambda_param', '.kappa_param')) else value)
    problems = [p for p in key_mismatches(
        backbone, MODELS.build(cfg).state_dict())
                if not re.match(rf'missing {MMDET_ONLY_KEYS}', p)]
    if problems:
        raise ConversionError(
            f'{len(problems)} key(s) do not match the inferred '
            f'SwinTransformer: ' + '; '.join(problems[:20]))
    low_lambda = [k for k, v in backbone.items()
                  if k.endswith('lambda_param') and bool((v < LAMBDA_MIN).any())]
    converted = OrderedDict(
        (KEY_PREFIX + k, v) for k, v in backbone.items())
    architecture = (f'SwinTransformer (embed_dims {cfg["embed_dims"]}, '
                    f'depths {cfg["depths"]}, MLP '
                    f'{cfg.get("act_cfg", dict(type="GELU"))["type"]})')
    return converted, dict(kind='classifier', backbone_cfg=cfg,
                           architecture=architecture,
                           dropped=dropped, unmapped=[],
                           low_lambda=low_lambda, mmdet_only=MMDET_ONLY_KEYS,
                           key_prefix=KEY_PREFIX)
