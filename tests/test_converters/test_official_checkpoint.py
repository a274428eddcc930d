# Copyright (c) apa_mmdet contributors.
"""convert_official on the layouts the converter's CLI tests do not hold:
deeper nets, ResNeXt groups and width, per-channel sites, the trainers'
wrappers (``model``, ``model_ema``, ``module.``) and files that are not a
state dict."""
import pytest
import torch
from mmdet.registry import MODELS

from apa_mmdet.converters import ConversionError, convert_official
from tests.helpers.official_se_resnet import official_state_dict

OFFICIAL_SE = dict(ratio=16, norm_cfg=dict(type='LN'), dropout=0.1,
                   act_cfg=(dict(type='ReLU'), dict(type='APA')))


@pytest.mark.parametrize('depth', [101, 152])
def test_deeper_official_nets_convert_and_load_strictly(depth):
    state, report = convert_official(
        dict(state_dict=official_state_dict(depth=depth, with_fc=True)))
    assert report['architecture'] == f'APASEResNet-{depth}'
    assert report['dropped'] == ['fc.weight', 'fc.bias']
    MODELS.build(report['backbone_cfg']).load_state_dict(state, strict=True)


def test_resnext_groups_and_width_are_read_off_the_keys():
    model = MODELS.build(dict(type='APASEResNeXt', depth=50, groups=32,
                              base_width=4, act_cfg=dict(type='AGLU'),
                              stem_act_cfg=dict(type='AGLU'),
                              se_cfg=OFFICIAL_SE, init_cfg=None))
    state, report = convert_official(model.state_dict())
    cfg = report['backbone_cfg']
    assert (cfg['type'], cfg['groups'], cfg['base_width']) == (
        'APASEResNeXt', 32, 4)
    MODELS.build(cfg).load_state_dict(state, strict=True)


def test_per_channel_sites_become_per_channel_configs():
    model = MODELS.build(dict(
        type='APASEResNet', depth=50,
        act_cfg=dict(type='AGLU', num_parameters='channels'),
        stem_act_cfg=dict(type='AGLU'),
        se_cfg=dict(OFFICIAL_SE, act_cfg=(
            dict(type='ReLU'), dict(type='APA', num_parameters='channels'))),
        init_cfg=None))
    state, report = convert_official(model.state_dict())
    cfg = report['backbone_cfg']
    assert cfg['act_cfg'] == dict(type='AGLU', num_parameters='channels')
    assert cfg['se_cfg']['act_cfg'][1] == dict(type='APA',
                                               num_parameters='channels')
    assert cfg['stem_act_cfg'] == dict(type='AGLU')
    MODELS.build(cfg).load_state_dict(state, strict=True)


@pytest.mark.parametrize('wrap', [
    lambda sd: dict(model=sd, optimizer={}, epoch=90),
    lambda sd: dict(model_ema=sd, max_accuracy=78.7),
    lambda sd: dict(state_dict={f'module.{k}': v for k, v in sd.items()}),
], ids=['model', 'model_ema', 'module-prefix'])
def test_trainer_wrappers_are_unwrapped(wrap):
    sd = official_state_dict(with_fc=False, seed=3)
    state, report = convert_official(wrap(sd))
    assert report['architecture'] == 'APASEResNet-50'
    assert set(state) == set(sd)
    assert torch.equal(state['layer3.1.conv2.weight'],
                       sd['layer3.1.conv2.weight'])


@pytest.mark.parametrize('checkpoint,message', [
    ([torch.zeros(1)], 'a checkpoint must be a dict, got list'),
    (dict(epoch=3, note='x'), "no state dict found: top-level keys are "
     r"\['epoch', 'note'\]"),
    ({'conv.weight': torch.zeros(1)}, 'no bottleneck blocks'),
])
def test_files_that_are_not_an_official_state_dict_are_named(checkpoint,
                                                            message):
    with pytest.raises(ConversionError, match=message):
        convert_official(checkpoint)
