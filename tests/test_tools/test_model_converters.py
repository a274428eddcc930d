# Copyright (c) apa_mmdet contributors.
"""tools/model_converters/aglu2apa.py on official-format checkpoints."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS

from apa_mmdet.utils import safe_load
from tests.helpers.official_se_resnet import (official_forward,
                                              official_imagenet_file,
                                              official_state_dict)
from tests.helpers.official_swin import official_swin_aglu_state

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools' / 'model_converters' / 'aglu2apa.py'
spec = importlib.util.spec_from_file_location('aglu2apa', SCRIPT)
aglu2apa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(aglu2apa)


def convert(tmp_path, src):
    dst = tmp_path / 'converted.pth'
    code = aglu2apa.main([str(src), str(dst)])
    return code, dst


def test_imagenet_checkpoint_converts_and_matches_official(tmp_path):
    src = tmp_path / 'official.pth'
    sd = official_imagenet_file(src)
    result = subprocess.run([sys.executable, str(SCRIPT), str(src),
                             str(tmp_path / 'out.pth')],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'APASEResNet-50' in result.stdout and 'fc.weight' in result.stdout
    converted = safe_load(str(tmp_path / 'out.pth'))
    state = converted['state_dict']
    assert set(state) == {k for k in sd if not k.startswith('fc.')}
    for key, value in state.items():
        assert torch.equal(value, sd[key])  # round trip, bit for bit
    model = MODELS.build(converted['meta']['backbone_cfg'])
    model.load_state_dict(state, strict=True)
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for out, ref in zip(model(x), official_forward(sd, x)):
            assert (out - ref).abs().max() / ref.abs().max() <= 1e-5


def test_converted_file_initialises_the_config_backbone(tmp_path):
    src = tmp_path / 'official.pth'
    sd = official_imagenet_file(src, seed=4)
    code, dst = convert(tmp_path, src)
    assert code == 0
    from mmengine.config import Config
    cfg = Config.fromfile(
        ROOT / 'configs/lvis/mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py')
    cfg.model.backbone.init_cfg.checkpoint = str(dst)
    backbone = MODELS.build(cfg.model.backbone)
    backbone.init_weights()
    torch.testing.assert_close(backbone.layer4[2].se.uniact.kappa_param,
                               sd['layer4.2.se.uniact.kappa_param'])


@pytest.mark.parametrize('wrap', ['state_dict', 'bare'])
def test_plain_se_checkpoint_and_wrappers(tmp_path, wrap):
    sd = official_state_dict(use_apa=False, seed=1)
    src = tmp_path / 'plain.pth'
    torch.save(dict(state_dict=sd) if wrap == 'state_dict' else sd, src)
    code, dst = convert(tmp_path, src)
    assert code == 0
    cfg = safe_load(str(dst))['meta']['backbone_cfg']
    assert cfg['act_cfg']['type'] == 'ReLU'
    assert cfg['se_cfg']['act_cfg'][1]['type'] == 'Sigmoid'


def test_detector_checkpoint_keeps_prefixes_and_names_leftovers(
        tmp_path, capsys):
    sd = official_state_dict(with_fc=False, seed=2)
    sd['layer2.1.unirect1.lambda_param'] = torch.tensor([1e-6])
    state = {f'backbone.{k}': v for k, v in sd.items()}
    state.update({
        'neck.lateral_convs.0.conv.weight': torch.zeros(256, 256, 1, 1),
        'roi_head.mask_head.conv_logits.tempearture': torch.tensor(4.5),
        'ema_backbone.conv1.weight': torch.zeros(1),
    })
    src = tmp_path / 'detector.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=24)), src)
    code, dst = convert(tmp_path, src)
    assert code == 0
    out = capsys.readouterr().out
    assert 'ema_backbone.conv1.weight' in out
    assert 'backbone.layer2.1.unirect1.lambda_param' in out  # below 1e-4
    converted = safe_load(str(dst))['state_dict']
    assert 'roi_head.mask_head.conv_logits.tempearture' in converted
    assert 'ema_backbone.conv1.weight' not in converted
    assert len([k for k in converted if k.startswith('backbone.')]) == 512


def test_not_a_checkpoint(tmp_path, capsys):
    src = tmp_path / 'notes.pth'
    src.write_text('not a checkpoint at all')
    code, _ = convert(tmp_path, src)
    assert code == 1
    assert 'notes.pth is not a PyTorch checkpoint' in capsys.readouterr().err


@pytest.mark.parametrize('edit,message', [
    (lambda sd: {k: v for k, v in sd.items() if '.se.' not in k},
     "no SE layers"),
    (lambda sd: {k: v for k, v in sd.items() if not k.startswith('layer3.5')},
     r'\(3, 4, 5, 3\) blocks'),
    (lambda sd: {k: v for k, v in sd.items()
                 if k != 'layer2.0.unirect2.kappa_param'},
     'missing layer2.0.unirect2.kappa_param'),
    (lambda sd: {**sd, 'layer1.0.extra.weight': torch.zeros(3)},
     'unexpected layer1.0.extra.weight'),
    (lambda sd: {**sd, 'layer1.0.conv2.weight': torch.zeros(64, 64, 1, 1)},
     r'shape of layer1.0.conv2.weight: \(64, 64, 1, 1\)'),
    (lambda sd: {k: v for k, v in sd.items() if 'conv3' not in k},
     'no bottleneck blocks'),
])
def test_wrong_architecture_names_the_keys(tmp_path, capsys, edit, message):
    src = tmp_path / 'wrong.pth'
    torch.save(dict(model=edit(official_state_dict(with_fc=False))), src)
    code, dst = convert(tmp_path, src)
    assert code == 1 and not dst.exists()
    err = capsys.readouterr().err
    assert 'wrong.pth' in err
    assert re.search(message, err), err


class RunsACommand:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_crafted_checkpoint_runs_nothing(tmp_path, capsys):
    """A file whose extra entry would run a command: its weights convert,
    the entry is named as not loaded and the command never runs."""
    marker = tmp_path / 'pwned'
    src = tmp_path / 'evil.pth'
    sd = official_state_dict()
    torch.save(dict(model=sd, args=RunsACommand(marker)), src)
    code, dst = convert(tmp_path, src)
    assert code == 0
    assert 'nothing of them ran): args (posix.system)' in \
        capsys.readouterr().out
    assert not marker.exists()
    converted = safe_load(str(dst))['state_dict']
    assert torch.equal(converted['layer1.0.conv1.weight'],
                       sd['layer1.0.conv1.weight'])


def config_model(strip_backbone_init=True):
    from tests.helpers.configs import get_config
    cfg = get_config(
        'lvis/mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py')
    if strip_backbone_init:
        cfg.model.backbone.init_cfg = None
    cfg.model.roi_head.bbox_head.loss_cls.ann_file = None
    return MODELS.build(cfg.model)


def test_imagenet_conversion_loads_strictly_into_config_backbone(tmp_path):
    src = tmp_path / 'official.pth'
    official_imagenet_file(src, seed=6)
    code, dst = convert(tmp_path, src)
    assert code == 0
    model = config_model()
    model.backbone.load_state_dict(safe_load(str(dst))['state_dict'],
                                   strict=True)


def test_official_detector_checkpoint_loads_strictly(tmp_path):
    """Official backbone keys (independent layout) + mmdet head keys, with
    the official CARAFE upsampler and learnable mask temperature."""
    model = config_model()
    heads = {k: v for k, v in model.state_dict().items()
             if not k.startswith('backbone.')}
    assert 'roi_head.mask_head.conv_logits.tempearture' in heads
    assert 'roi_head.mask_head.upsample.channel_compressor.weight' in heads
    assert heads['roi_head.bbox_head.fc_cls.weight'].shape[0] == 1203
    state = {f'backbone.{k}': v
             for k, v in official_state_dict(with_fc=False).items()}
    state.update(heads)
    src = tmp_path / 'official_detector.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=24)), src)
    code, dst = convert(tmp_path, src)
    assert code == 0
    fresh = config_model()
    fresh.load_state_dict(safe_load(str(dst))['state_dict'], strict=True)


R50_LVIS = 'configs/lvis/mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
R101_LVIS = 'configs/lvis/mask-rcnn_se-r101-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'


@pytest.fixture(scope='module')
def official_r50_detector(tmp_path_factory):
    """An official-format SE-R50 LVIS detector checkpoint (CARAFE mask
    upsampling, learnable mask temperature)."""
    state = {f'backbone.{k}': v
             for k, v in official_state_dict(with_fc=False).items()}
    state.update({k: v for k, v in config_model().state_dict().items()
                  if not k.startswith('backbone.')})
    src = tmp_path_factory.mktemp('official') / 'r50_detector.pth'
    torch.save(dict(state_dict=state), src)
    return src


def test_config_option_accepts_the_matching_detector(official_r50_detector,
                                                     tmp_path, capsys):
    dst = tmp_path / 'r50.pth'
    code = aglu2apa.main([str(official_r50_detector), str(dst), '--config',
                          str(ROOT / R50_LVIS)])
    assert code == 0, capsys.readouterr().err
    assert 'loads strictly into' in capsys.readouterr().out and dst.is_file()


def test_config_option_names_every_key_of_a_wrong_config(
        official_r50_detector, tmp_path, capsys):
    """The R50 detector against the R101 recipe (depth, fixed mask
    temperature, deconv instead of CARAFE): exit 1, nothing written, and
    the keys named."""
    dst = tmp_path / 'r101.pth'
    code = aglu2apa.main([str(official_r50_detector), str(dst), '--config',
                          str(ROOT / R101_LVIS)])
    err = capsys.readouterr().err
    assert code == 1 and not dst.exists()
    assert 'does not fit the model of' in err and 'nothing written' in err
    assert 'missing backbone.layer3.22.conv1.weight' in err
    assert 'unexpected roi_head.mask_head.conv_logits.tempearture' in err
    assert 'unexpected roi_head.mask_head.upsample.channel_compressor.weight' \
        in err
    assert 'missing roi_head.mask_head.upsample.weight' in err


def test_config_option_checks_imagenet_weights_against_the_backbone(
        tmp_path, capsys):
    src = tmp_path / 'official.pth'
    official_imagenet_file(src, seed=3)
    assert aglu2apa.main([str(src), str(tmp_path / 'ok.pth'), '--config',
                          str(ROOT / R50_LVIS)]) == 0
    code = aglu2apa.main([str(src), str(tmp_path / 'bad.pth'), '--config',
                          str(ROOT / R101_LVIS)])
    assert code == 1
    assert 'does not fit the backbone of' in capsys.readouterr().err


def official_v3det_cascade_heads(num_classes=13204, seed=0):
    """The official V3Det Cascade R-CNN's non-backbone keys and shapes,
    written out (mmdet 3.2's FPN, RPNHead, three Shared2FCBBoxHeads with
    class-agnostic regression and WCLinear(s_trainable=False): weight, bias,
    g), with random values."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {}
    for i, channels in enumerate((256, 512, 1024, 2048)):
        shapes[f'neck.lateral_convs.{i}.conv.weight'] = (256, channels, 1, 1)
        shapes[f'neck.fpn_convs.{i}.conv.weight'] = (256, 256, 3, 3)
    shapes.update({'rpn_head.rpn_conv.weight': (256, 256, 3, 3),
                   'rpn_head.rpn_cls.weight': (3, 256, 1, 1),
                   'rpn_head.rpn_reg.weight': (12, 256, 1, 1)})
    for stage in range(3):
        head = f'roi_head.bbox_head.{stage}'
        shapes.update({f'{head}.shared_fcs.0.weight': (1024, 256 * 7 * 7),
                       f'{head}.shared_fcs.1.weight': (1024, 1024),
                       f'{head}.fc_cls.weight': (num_classes + 1, 1024),
                       f'{head}.fc_reg.weight': (4, 1024)})
    state = {}
    for key, shape in shapes.items():
        state[key] = torch.randn(shape, generator=gen) * 0.01
        state[key.replace('.weight', '.bias')] = torch.randn(shape[0],
                                                             generator=gen)
        if '.fc_cls.' in key:
            state[key.replace('.weight', '.g')] = torch.randn(
                shape[0], generator=gen)
    return state


def test_official_v3det_cascade_checkpoint_loads_strictly():
    """An official-format V3Det Cascade R-CNN (WCLinear) detector converts
    and loads key for key into the official-recipe config."""
    from apa_mmdet.converters import convert_official, key_mismatches
    from apa_mmdet.utils import build_model_without_file_reads
    state = {f'backbone.{k}': v
             for k, v in official_state_dict(with_fc=False).items()}
    state.update(official_v3det_cascade_heads())
    converted, report = convert_official(
        dict(state_dict=state, meta=dict(iter=137520)))
    assert report['kind'] == 'detector' and not report['unmapped']
    model = build_model_without_file_reads(
        ROOT / 'configs/v3det/cascade-rcnn_se-r50-apa_fpn_wclinear_8xb4_'
        'sample1e-3_ms-2x_v3det.py')
    assert key_mismatches(converted, model.state_dict()) == []
    model.load_state_dict(converted, strict=True)
    assert torch.equal(model.roi_head.bbox_head[2].fc_cls.g,
                       state['roi_head.bbox_head.2.fc_cls.g'])


def test_v3det_detector_without_meta_or_data_still_converts(
        tmp_path, monkeypatch, capsys):
    """V3Det's class names live in a label file under DATA_ROOT: without
    it (and without meta.dataset_meta in the file) the weights convert and
    the report says why the names are missing."""
    state = {f'backbone.{k}': v
             for k, v in official_state_dict(with_fc=False).items()}
    state.update(official_v3det_cascade_heads())
    src = tmp_path / 'v3det_cascade.pth'
    torch.save(dict(state_dict=state, meta=dict(iter=137520)), src)
    monkeypatch.setenv('DATA_ROOT', str(tmp_path / 'no_data'))
    dst = tmp_path / 'converted.pth'
    assert aglu2apa.main([
        str(src), str(dst), '--config',
        str(ROOT / 'configs/v3det/cascade-rcnn_se-r50-apa_fpn_wclinear_8xb4_'
            'sample1e-3_ms-2x_v3det.py')]) == 0
    out = capsys.readouterr().out
    assert 'class names: none (the test set of' in out
    assert 'category_name_13204_v3det_2023_v1.txt' in out
    assert 'dataset_meta' not in safe_load(str(dst))['meta']


SWIN_T = 'configs/synthetic/faster-rcnn_swin-t-aglu-tiny_fpn_wclinear_synthetic-v3det.py'


def test_official_swin_aglu_weights_land_in_the_ffn_activations(tmp_path):
    """mmdet's own converter would put the MLP AGLU at ffn.act, which the
    FFN does not have; ours moves it to ffn.layers.0.1 and the result loads
    into the Swin-AGLU config's backbone (all but mmdet's output norms)."""
    from mmdet.models.backbones.swin import swin_converter

    from apa_mmdet.utils import build_model_without_file_reads
    official = official_swin_aglu_state()
    assert ('backbone.stages.2.blocks.5.ffn.act.lambda_param'
            in swin_converter(official))
    src = tmp_path / 'swin_aglu.pth'
    torch.save(dict(model=official, epoch=299), src)
    dst = tmp_path / 'converted.pth'
    code = aglu2apa.main([str(src), str(dst), '--config', str(ROOT / SWIN_T)])
    assert code == 0
    state = safe_load(str(dst))['state_dict']
    # under backbone., the only keys mmdet's SwinTransformer.init_weights
    # loads
    assert all(k.startswith('backbone.') for k in state)
    state = {k[len('backbone.'):]: v for k, v in state.items()}
    assert not [k for k in state if k.startswith(('head.', 'norm.'))]
    backbone = build_model_without_file_reads(ROOT / SWIN_T).backbone
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    assert not unexpected
    assert sorted({k.split('.')[0] for k in missing}) == [
        'norm0', 'norm1', 'norm2', 'norm3']
    act = backbone.stages[2].blocks[5].ffn.layers[0][1]
    assert act.lambda_param.item() == official[
        'layers.2.blocks.5.mlp.act.lambda_param'].item()
    assert act.kappa_param.item() == official[
        'layers.2.blocks.5.mlp.act.kappa_param'].item()


def test_per_channel_swin_aglu_is_refused_with_the_reason(tmp_path, capsys):
    official = official_swin_aglu_state(depths=(2, 2, 2, 2))
    official['layers.0.blocks.0.mlp.act.lambda_param'] = torch.ones(1, 1, 192)
    src = tmp_path / 'swin.pth'
    torch.save(official, src)
    assert aglu2apa.main([str(src), str(tmp_path / 'out.pth')]) == 1
    assert 'per-channel MLP AGLU' in capsys.readouterr().err
