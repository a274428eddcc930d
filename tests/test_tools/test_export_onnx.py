# Copyright (c) apa_mmdet contributors.
"""tools/deployment/export_onnx.py: from a checkpoint as the runner saves
it to an ONNX file of standard operators that onnxruntime runs equal to
PyTorch (the tool's --verify), for each exportable part: the CPU-sized
LVIS detector's features (APA SE-ResNet, FPN, RPN head), its box head with
the Gumbel and the learned-APA class scores, and V3Det's WCLinear head."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from mmengine.logging import HistoryBuffer
from torch import nn

from apa_mmdet.deployment import exportable_part, worst_relative_error
from apa_mmdet.utils import build_model_without_file_reads

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools' / 'deployment' / 'export_onnx.py'
SYNTHETIC = ROOT / 'configs' / 'synthetic'
LVIS = SYNTHETIC / 'mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'
APA_CLS = (SYNTHETIC /
           'mask-rcnn_se-r50-apa-tiny_fpn_apa-cls_synthetic-lvis-lt.py')
WCLINEAR = (SYNTHETIC /
            'faster-rcnn_se-r50-apa-tiny_fpn_wclinear_synthetic-v3det.py')
spec = importlib.util.spec_from_file_location('export_onnx_tool', SCRIPT)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def runner_checkpoint(path, config, seed=0):
    """The config's model as mmengine's runner saves it (meta, state_dict,
    message_hub, optimizer), weights perturbed away from their init so
    that every parameter matters (APA λ, κ included)."""
    torch.manual_seed(seed)
    model = build_model_without_file_reads(str(config))
    state = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point()
             and 'lambda' not in k else v
             for k, v in model.state_dict().items()}
    loss = HistoryBuffer()
    loss.update(1.2)
    torch.save(dict(meta=dict(dataset_meta=dict(classes=('a', 'b')),
                              mmdet_version='3.3.0', epoch=12, iter=400),
                    state_dict=state,
                    message_hub=dict(log_scalars={'train/loss': loss}),
                    optimizer=dict(state={}, param_groups=[dict(lr=0.02)])),
               path)
    return path


def standard_graph(path):
    graph = onnx.load(str(path)).graph
    assert all(node.domain in ('', 'ai.onnx') for node in graph.node)
    return {node.op_type for node in graph.node}


def test_detector_features_export_and_verify_from_the_command_line(
        tmp_path):
    """The user's command on a runner's checkpoint of the CPU-sized LVIS
    recipe: backbone, FPN and RPN head in one graph, batch and size
    dynamic, equal in onnxruntime on another batch."""
    checkpoint = runner_checkpoint(tmp_path / 'epoch_12.pth', LVIS)
    out = tmp_path / 'deploy' / 'features.onnx'
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(LVIS), str(checkpoint), str(out),
         '--shape', '64', '96', '--verify'],
        cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    # checked on another batch, height and width than traced
    assert 'onnxruntime vs PyTorch on input (2, 3, 96, 128)' in run.stdout
    assert run.stdout.rstrip().endswith(': ok')
    ops = standard_graph(out)
    assert {'Conv', 'Softplus', 'Exp'} <= ops  # AGLU as its formula
    graph = onnx.load(str(out)).graph
    assert [i.name for i in graph.input] == ['image']
    assert [o.name for o in graph.output] == [
        f'{kind}_{level}' for kind in ('fpn', 'rpn_cls', 'rpn_reg')
        for level in range(5)]


def test_backbone_alone_is_the_detectors_backbone_in_eval_mode():
    """(Its graph is the features' first part, exported above.)"""
    detector = build_model_without_file_reads(str(LVIS)).train()
    part = exportable_part(detector, 'backbone', (2, 3, 64, 64))
    assert part['module'] is detector.backbone
    assert not detector.training and not part['module'].training
    assert part['output_names'] == [f'backbone_{i}' for i in range(4)]
    assert tuple(part['example'].shape) == (2, 3, 64, 64)


@pytest.mark.parametrize('config,head_op', [
    (LVIS, 'Exp'),  # Gumbel scores: exp(−exp(−z))
    (APA_CLS, 'Softplus'),  # learned APA scores with their λ, κ
    (WCLINEAR, 'Softmax'),  # V3Det's wrapped-Cauchy cosine classifier
], ids=['gumbel', 'apa-cls', 'wclinear'])
def test_box_head_scores_export_as_standard_operators(tmp_path, capsys,
                                                      config, head_op):
    checkpoint = runner_checkpoint(tmp_path / 'model.pth', config)
    out = tmp_path / 'bbox.onnx'
    code = tool.main([str(config), str(checkpoint), str(out),
                             '--part', 'bbox-scores', '--verify'])
    assert code == 0, capsys.readouterr().out
    assert '(17, ' in capsys.readouterr().out  # 2 × 8 + 1 RoIs
    assert head_op in standard_graph(out)


@pytest.mark.parametrize('options,message', [
    (['--shape', '64', '90'], 'multiples of 32, got 64 90'),
    (['--batch', '0'], '--batch: 1 to 64, got 0'),
    (['--part', 'mask'], "invalid choice: 'mask'"),
])
def test_bad_requests_name_the_value(tmp_path, capsys, options, message):
    with pytest.raises(SystemExit) as stop:
        tool.main([str(LVIS), 'none', str(tmp_path / 'a.onnx'), *options])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / 'a.onnx').exists()


def test_out_of_tolerance_exits_3(tmp_path, capsys):
    code = tool.main([str(LVIS), 'none', str(tmp_path / 'b.onnx'), '--part',
                      'bbox-scores', '--verify', '--tolerance', '-1'])
    assert code == 3 and 'FAILED' in capsys.readouterr().out


def test_a_nan_is_never_within_tolerance():
    expected = [torch.ones(3)]
    assert worst_relative_error([np.array([np.nan, 1., 1.])],
                                expected) == float('inf')
    assert worst_relative_error([np.ones(3)],
                                [torch.tensor([1., np.nan, 1.])]) == float(
                                    'inf')
    assert worst_relative_error([np.array([1., 1., 1.1])], expected) == \
        pytest.approx(0.1)


def test_a_cascade_box_head_is_refused_with_the_reason():
    detector = nn.Module()
    detector.roi_head = nn.Module()
    detector.roi_head.bbox_head = nn.ModuleList([nn.Linear(2, 2)] * 3)
    with pytest.raises(ValueError, match='3 box heads .a cascade.'):
        exportable_part(detector, 'bbox-scores')


def test_a_calibrated_box_head_exports_its_calibrated_scores(tmp_path,
                                                             capsys):
    """``calibration`` on the box head (a one-line config option): the
    exported scores are the calibrated ones, as mmdet's test takes them."""
    import onnxruntime

    from apa_mmdet.datasets.synthetic import generate_lvis
    from apa_mmdet.utils import safe_load
    ann_file = generate_lvis(str(tmp_path / 'set'), num_classes=12,
                             num_train=24, num_val=12,
                             image_size=48)['train']
    checkpoint = runner_checkpoint(tmp_path / 'model.pth', LVIS)
    out = tmp_path / 'bbox.onnx'
    code = tool.main([
        str(LVIS), str(checkpoint), str(out), '--part', 'bbox-scores',
        '--verify', '--cfg-options',
        'model.roi_head.bbox_head.calibration.type=NorCal',
        f'model.roi_head.bbox_head.calibration.ann_file={ann_file}',
        'model.roi_head.bbox_head.calibration.gamma=1.0'])
    assert code == 0, capsys.readouterr().out
    session = onnxruntime.InferenceSession(str(out))
    feats = torch.randn(5, 64, 7, 7)  # the tiny FPN's channels
    scores = session.run(None, {session.get_inputs()[0].name:
                                feats.numpy()})[0]
    detector = build_model_without_file_reads(str(LVIS)).eval()
    detector.load_state_dict(safe_load(str(checkpoint))['state_dict'])
    head = detector.roi_head.bbox_head
    with torch.no_grad():
        cls_score, _ = head(feats)
        counts = torch.tensor([c['image_count'] for c in json.loads(
            Path(ann_file).read_text())['categories']], dtype=torch.float32)
        expected = head.loss_cls.get_activation(
            cls_score - torch.log(counts.clamp(min=1)))
    np.testing.assert_allclose(scores, expected.numpy(), rtol=1e-4,
                               atol=1e-6)
