# Copyright (c) apa_mmdet contributors.
"""The official SE-ResNet (APA) as plain data and functions, for checks.

Written from the key list and forward order of the official model
(``SE_ResNet(use_gumbel=True)`` in kostas1515/AGLU, see the project spec),
independently of apa_mmdet's modules: ``official_state_dict`` makes a random
checkpoint in the official layout and ``official_forward`` evaluates it
(inference mode) with ``torch.nn.functional`` and the official formulas.
"""
import argparse
import math
from collections import OrderedDict
from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import Tensor

from apa_mmdet.testing.official import official_apa

STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def official_state_dict(depth: int = 50,
                        use_apa: bool = True,
                        with_fc: bool = True,
                        seed: int = 0) -> Dict[str, Tensor]:
    """Random weights under the official SE-ResNet key names and shapes.

    Args:
        depth (int): 50, 101 or 152.
        use_apa (bool): AGLU sites, LayerNorm and APA gate in SE (the
            official ``use_gumbel=True``); else ReLU and a sigmoid SE.
        with_fc (bool): Add the ImageNet classifier ``fc.*``.
        seed (int): Seed of the values.
    """
    gen = torch.Generator().manual_seed(seed)
    sd = OrderedDict()

    def uniform(shape, low, high):
        return torch.empty(shape).uniform_(low, high, generator=gen)

    def conv(name, cout, cin, k):
        std = math.sqrt(2.0 / (cin * k * k))
        sd[f'{name}.weight'] = torch.randn(
            cout, cin, k, k, generator=gen) * std

    def bn(name, c):
        sd[f'{name}.weight'] = uniform(c, 0.5, 1.0)
        sd[f'{name}.bias'] = torch.randn(c, generator=gen) * 0.1
        sd[f'{name}.running_mean'] = torch.randn(c, generator=gen) * 0.1
        sd[f'{name}.running_var'] = uniform(c, 0.5, 1.5)
        sd[f'{name}.num_batches_tracked'] = torch.tensor(100)

    def act(name, kappa_low, kappa_high):
        sd[f'{name}.lambda_param'] = uniform(1, 0.05, 1.0)
        sd[f'{name}.kappa_param'] = uniform(1, kappa_low, kappa_high)

    conv('conv1', 64, 3, 7)
    bn('bn1', 64)
    if use_apa:
        act('relu', 1.0, 1.3)
    inplanes = 64
    for i, num_blocks in enumerate(STAGE_BLOCKS[depth]):
        planes = 64 * 2**i
        out = planes * 4
        for j in range(num_blocks):
            p = f'layer{i + 1}.{j}'
            conv(f'{p}.conv1', planes, inplanes, 1)
            bn(f'{p}.bn1', planes)
            conv(f'{p}.conv2', planes, planes, 3)
            bn(f'{p}.bn2', planes)
            conv(f'{p}.conv3', out, planes, 1)
            bn(f'{p}.bn3', out)
            if j == 0:
                conv(f'{p}.downsample.0', out, inplanes, 1)
                bn(f'{p}.downsample.1', out)
            if use_apa:
                for k in (1, 2, 3):
                    act(f'{p}.unirect{k}', 1.0, 1.3)
                sd[f'{p}.se.norm.weight'] = uniform(out, 0.5, 1.5)
                sd[f'{p}.se.norm.bias'] = torch.randn(out, generator=gen) * .1
                act(f'{p}.se.uniact', -1.0, 0.0)
            hidden = out // 16
            sd[f'{p}.se.excitation.0.weight'] = torch.randn(
                hidden, out, generator=gen) / math.sqrt(out)
            sd[f'{p}.se.excitation.2.weight'] = torch.randn(
                out, hidden, generator=gen) / math.sqrt(hidden)
            inplanes = out
    if with_fc:
        sd['fc.weight'] = torch.randn(1000, 2048, generator=gen) * 0.01
        sd['fc.bias'] = torch.zeros(1000)
    return sd


def official_forward(sd: Dict[str, Tensor], x: Tensor,
                     depth: int = 50) -> List[Tensor]:
    """Inference forward of the official SE-ResNet; returns C2..C5."""
    use_apa = 'relu.lambda_param' in sd

    def bn(t, name):
        return F.batch_norm(t, sd[f'{name}.running_mean'],
                            sd[f'{name}.running_var'], sd[f'{name}.weight'],
                            sd[f'{name}.bias'], False, 0.0, 1e-5)

    def unified(t, name):
        return official_apa(t, sd[f'{name}.lambda_param'],
                            sd[f'{name}.kappa_param'])

    def rect(t, name):
        return t * unified(t, name) if use_apa else F.relu(t)

    x = rect(bn(F.conv2d(x, sd['conv1.weight'], stride=2, padding=3), 'bn1'),
             'relu')
    x = F.max_pool2d(x, 3, 2, 1)
    outs = []
    for i, num_blocks in enumerate(STAGE_BLOCKS[depth]):
        for j in range(num_blocks):
            p = f'layer{i + 1}.{j}'
            stride = 2 if (i > 0 and j == 0) else 1
            out = rect(bn(F.conv2d(x, sd[f'{p}.conv1.weight']), f'{p}.bn1'),
                       f'{p}.unirect1')
            out = rect(
                bn(F.conv2d(out, sd[f'{p}.conv2.weight'], stride=stride,
                            padding=1), f'{p}.bn2'), f'{p}.unirect2')
            out = bn(F.conv2d(out, sd[f'{p}.conv3.weight']), f'{p}.bn3')
            y = out.mean((2, 3))
            if use_apa:
                y = F.layer_norm(y, y.shape[1:], sd[f'{p}.se.norm.weight'],
                                 sd[f'{p}.se.norm.bias'], 1e-5)
            y = F.linear(F.relu(F.linear(y, sd[f'{p}.se.excitation.0.weight'])),
                         sd[f'{p}.se.excitation.2.weight'])
            y = unified(y, f'{p}.se.uniact') if use_apa else y.sigmoid()
            out = out * y[:, :, None, None]
            identity = x
            if j == 0:
                identity = bn(
                    F.conv2d(x, sd[f'{p}.downsample.0.weight'],
                             stride=stride), f'{p}.downsample.1')
            x = rect(out + identity, f'{p}.unirect3')
        outs.append(x)
    return outs


def official_imagenet_file(path, **kwargs) -> Dict[str, Tensor]:
    """Save :func:`official_state_dict` as the official ImageNet trainer
    does (``module.`` prefix, ``optimizer``, ``epoch``, its argparse
    ``args``); returns the state dict. Keyword arguments as
    :func:`official_state_dict`."""
    sd = official_state_dict(**kwargs)
    torch.save(
        dict(model={f'module.{k}': v for k, v in sd.items()},
             optimizer=dict(state={}, param_groups=[dict(lr=0.1)]),
             epoch=99,
             args=argparse.Namespace(lr=0.5, model='se_resnet50')), path)
    return sd
