# Copyright (c) apa_mmdet contributors.
"""Every config under configs/ loads, is mmdet-3 clean and builds its model."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config, ConfigDict
from mmengine.model import convert_sync_batchnorm

from apa_mmdet.datasets.synthetic import class_names
from apa_mmdet.datasets.synthetic_long_tail import long_tail_class_names
from apa_mmdet.utils import without_file_reads

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    p.relative_to(ROOT).as_posix()
    for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)
# mmdet-2 keys that mmdet 3 silently ignores (the official configs had them)
FORBIDDEN = ('fp16', 'evaluation', 'optimizer', 'optimizer_config',
             'lr_config', 'runner', 'data', 'work_dir')


def test_the_tree_has_the_promised_configs():
    names = {Path(p).name for p in CONFIGS}
    assert 'mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py' in names
    assert 'mask-rcnn_se-r101-apa_fpn_sample1e-3_ms-2x_lvis-v1.py' in names
    assert {Path(p).parts[1] for p in CONFIGS} >= {
        'lvis', 'coco', 'v3det', 'synthetic'}
    for folder in ('lvis', 'coco', 'v3det', 'synthetic'):
        assert (ROOT / 'configs' / folder / 'README.md').is_file()


def model_types(model_cfg):
    """Every ``type`` in a model config."""
    if isinstance(model_cfg, dict):
        found = [model_cfg['type']] if 'type' in model_cfg else []
        return found + [t for v in model_cfg.values() for t in model_types(v)]
    if isinstance(model_cfg, (list, tuple)):
        return [t for v in model_cfg for t in model_types(v)]
    return []


@pytest.mark.parametrize('path', CONFIGS)
def test_names_follow_mmdets_scheme(path):
    """{algorithm}_{backbone}_{neck}[_{setting}...]_{dataset}: parts joined
    by '_', words by '-'; the LVIS and V3Det recipes spell their training
    settings as separate parts (sample1e-3_ms-2x)."""
    parts = Path(path).stem.split('_')
    assert len(parts) >= 4 and all(parts), path
    assert parts[0] in ('mask-rcnn', 'faster-rcnn', 'cascade-rcnn'), path
    assert parts[2] == 'fpn', path
    if path.startswith(('configs/lvis/', 'configs/v3det/')):
        assert parts[-3:-1] == ['sample1e-3', 'ms-2x'], path


@pytest.mark.parametrize('path', CONFIGS)
def test_fp32_heads_only_in_the_cpu_configs(path):
    """The real recipes name mmdet's own heads; the float32 RoI ops for CPU
    bfloat16 are the synthetic configs' opt-in fragment."""
    types = model_types(Config.fromfile(ROOT / path).model.to_dict())
    fp32 = {t for t in types if t.startswith('FP32')}
    if path.startswith('configs/synthetic/'):
        assert {'FP32RPNHead', 'FP32SingleRoIExtractor'} <= fp32, path
    else:
        assert not fp32, path


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'synthetic' in p])
def test_synthetic_class_names_come_from_the_generator(path):
    cfg = Config.fromfile(ROOT / path)
    dataset = cfg.val_dataloader.dataset
    num_classes = 200 if path.endswith('-lt.py') else 12
    names = (long_tail_class_names(num_classes) if num_classes == 200 else
             class_names(num_classes))
    if 'metainfo' in dataset:
        assert tuple(dataset.metainfo.classes) == names
    assert cfg.model.roi_head.bbox_head.num_classes == num_classes


@pytest.mark.parametrize('path', CONFIGS)
def test_config_loads_lints_and_builds(path):
    cfg = Config.fromfile(ROOT / path)
    assert 'apa_mmdet' in cfg.custom_imports['imports']
    assert not cfg.custom_imports.get('allow_failed_imports', False)
    assert not [k for k in FORBIDDEN if k in cfg], path
    text = cfg.pretty_text
    assert '/home/' not in text and "='/" not in text, 'absolute path'
    model_cfg = without_file_reads(cfg.model)
    if 'lvis' in path:  # LVIS evaluation is slow: only at the end
        assert cfg.train_cfg.val_interval == cfg.train_cfg.max_epochs
    if path.startswith('configs/lvis/'):
        assert cfg.model.roi_head.bbox_head.num_classes == 1203
        assert cfg.model.test_cfg.rcnn.max_per_img == 300
    if path.startswith('configs/v3det/'):
        heads = cfg.model.roi_head.bbox_head
        heads = heads if isinstance(heads, list) else [heads]
        assert all(h.num_classes == 13204 for h in heads)
    model = MODELS.build(model_cfg)
    backbone = type(model.backbone).__name__
    if Path(path).stem.split('_')[1] == 'r50':  # another paper's baseline
        assert backbone == 'ResNet', path
    else:
        assert backbone in ('APASEResNet', 'SwinTransformer'), path
    if backbone == 'SwinTransformer':  # AGLU in every FFN
        blocks = [b for stage in model.backbone.stages for b in stage.blocks]
        assert all(type(b.ffn.layers[0][1]).__name__ == 'AGLU'
                   for b in blocks)


@pytest.mark.parametrize('path', [
    'configs/lvis/mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py',
    'configs/synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'
])
def test_syncbn_variants_build(path):
    """``norm_cfg=dict(type='SyncBN')`` in the config, or mmengine's
    ``sync_bn='torch'`` conversion of the built model."""
    cfg = Config.fromfile(ROOT / path)
    cfg.merge_from_dict({
        'model.backbone.norm_cfg': dict(type='SyncBN', requires_grad=True)})
    model = MODELS.build(without_file_reads(cfg.model))
    norms = [m for m in model.backbone.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    cfg = Config.fromfile(ROOT / path)
    model = convert_sync_batchnorm(MODELS.build(without_file_reads(cfg.model)), 'torch')
    assert not [m for m in model.modules()
                if isinstance(m, nn.BatchNorm2d)]
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())


REAL = [p for p in CONFIGS if not p.startswith('configs/synthetic/')]
DEFAULT_ROOTS = ('data/lvis_v1/', 'data/coco/', 'data/V3Det/')


@pytest.mark.parametrize('path', REAL)
def test_data_root_and_checkpoint_root_move_every_path(path, monkeypatch):
    """DATA_ROOT moves every data path of a real recipe (dataloaders,
    evaluators, the loss's annotation file), CHECKPOINT_ROOT the converted
    ImageNet weights; without them, mmdet's standard layout."""
    monkeypatch.delenv('DATA_ROOT', raising=False)
    monkeypatch.delenv('CHECKPOINT_ROOT', raising=False)
    default = Config.fromfile(ROOT / path)
    # converted APA weights follow CHECKPOINT_ROOT; torchvision's do not
    converted = not default.model.backbone.init_cfg.checkpoint.startswith(
        'torchvision://')
    default = default.pretty_text
    assert any(root in default for root in DEFAULT_ROOTS)
    assert ("'checkpoints/" in default) == converted
    monkeypatch.setenv('DATA_ROOT', '/datasets/moved')  # no slash
    monkeypatch.setenv('CHECKPOINT_ROOT', '/weights')
    cfg = Config.fromfile(ROOT / path)
    text = cfg.pretty_text
    moved = [v for v in config_strings(cfg._cfg_dict.to_dict())
             if v.startswith(('/datasets', '/weights'))]
    assert moved and all(v.startswith(('/datasets/moved/', '/weights/'))
                         for v in moved), moved
    assert not [root for root in DEFAULT_ROOTS if root in text], path
    assert "'checkpoints/" not in text
    assert ("'/weights/" in text) == converted
    loaders = [cfg.train_dataloader.dataset, cfg.val_dataloader.dataset,
               cfg.test_dataloader.dataset]
    while 'dataset' in loaders[0]:
        loaders[0] = loaders[0].dataset
    assert {d.data_root for d in loaders} == {'/datasets/moved/'}
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.ann_file.startswith('/datasets/moved/annotations/')
    loss = cfg.model.roi_head.bbox_head
    loss = (loss[0] if isinstance(loss, list) else loss).loss_cls
    if loss.type == 'APADropLoss':
        assert loss.ann_file.startswith('/datasets/moved/annotations/')


def config_strings(value):
    """Every string inside a config's (nested) dicts, lists and tuples."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from config_strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from config_strings(item)


@pytest.mark.parametrize('path', CONFIGS)
def test_roots_with_and_without_a_trailing_slash_are_the_same(
        path, monkeypatch):
    """A root typed without its trailing slash (DATA_ROOT=/datasets/lvis_v1)
    gives the same config as with it, in every config."""
    texts = []
    for slash in ('/', ''):
        monkeypatch.setenv('DATA_ROOT', '/datasets/lvis_v1' + slash)
        monkeypatch.setenv('CHECKPOINT_ROOT', '/weights' + slash)
        texts.append(Config.fromfile(ROOT / path).pretty_text)
    assert texts[0] == texts[1]
    assert '/datasets/lvis_v1/' in texts[0]


@pytest.mark.parametrize('path', REAL)
def test_real_recipes_wait_two_hours_for_rank_0s_evaluation(path):
    """The official runtime's distributed timeout: rank 0 scores LVIS or
    V3Det alone while the other ranks wait in a collective."""
    assert Config.fromfile(ROOT / path).env_cfg.dist_cfg == dict(
        backend='nccl', timeout=7200)


@pytest.mark.parametrize(
    'path', [p for p in REAL if p.startswith('configs/lvis/')])
def test_lvis_recipes_evaluate_with_fast_lvis_metric(path):
    cfg = Config.fromfile(ROOT / path)
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.type == 'FastLVISMetric'


@pytest.mark.parametrize('path', REAL)
def test_real_recipes_randomness_is_what_the_runner_takes(path):
    """mmengine's Runner calls set_randomness(**randomness), whose seed has
    no default."""
    import inspect

    from mmengine.runner import Runner
    randomness = Config.fromfile(ROOT / path).randomness
    inspect.signature(Runner.set_randomness).bind(None, **randomness)


@pytest.mark.parametrize('path', REAL)
def test_real_recipes_draw_per_rank_random_numbers(path):
    cfg = Config.fromfile(ROOT / path)
    assert cfg.randomness.diff_rank_seed is True
    assert dict(type='IterationSeedHook') in cfg.custom_hooks
    assert dict(type='SharedCollectDirHook') in cfg.custom_hooks


@pytest.mark.parametrize('head', ['', 'wclinear_'])
def test_bfloat16_autocast_training_step_of_the_v3det_faster_rcnn(head):
    """The CPU-sized V3Det Faster R-CNN, with mmdet's V3Det classifier and
    with the official WCLinear one, trains under bfloat16 autocast:
    autocast reaches the neck and every parameter gets a finite gradient."""
    cfg = Config.fromfile(
        ROOT / f'configs/synthetic/faster-rcnn_se-r50-apa-tiny_fpn_{head}'
        'synthetic-v3det.py')
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(cfg.model))
    model.init_weights()
    model.train()
    neck_dtypes = []
    model.neck.register_forward_hook(
        lambda module, args, outs: neck_dtypes.extend(o.dtype for o in outs))
    packed = demo_mm_inputs(2, [[3, 96, 96], [3, 80, 112]], num_items=[3, 2],
                            num_classes=12)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(**model.data_preprocessor(packed, True), mode='loss')
    assert set(neck_dtypes) == {torch.bfloat16}
    values = [v for name, value in losses.items() if 'loss' in name
              for v in (value if isinstance(value, list) else [value])]
    total = sum(v.sum() for v in values)
    assert torch.isfinite(total)
    total.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        # sites after bn3 (zero-initialised) get exactly zero at first
        if name.endswith(('lambda_param', 'kappa_param')) and not any(
                part in name for part in ('unirect1.', 'unirect2.', 'se.')):
            assert param.grad.any(), name


def test_coco_2x_is_mmdets_2x_schedule():
    ours = Config.fromfile(ROOT / 'configs/coco/mask-rcnn_se-r50-apa_fpn_2x_coco.py')
    one_x = Config.fromfile(ROOT / 'configs/coco/mask-rcnn_se-r50-apa_fpn_1x_coco.py')
    import mmdet
    mmdet_2x = Config.fromfile(Path(mmdet.__file__).parent / '.mim/configs/'
                               '_base_/schedules/schedule_2x.py')

    def unscoped(cfg):  # mmdet:: bases carry their registry scope
        return {k: v for k, v in cfg.items() if k != '_scope_'}

    assert unscoped(ours.train_cfg) == mmdet_2x.train_cfg
    assert [unscoped(s) for s in ours.param_scheduler] == \
        mmdet_2x.param_scheduler
    assert ours.model == one_x.model
    assert ours.optim_wrapper == one_x.optim_wrapper
