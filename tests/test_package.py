# Copyright (c) apa_mmdet contributors.
"""Installation and registration: what `import apa_mmdet` does and needs."""
import subprocess
import sys
import textwrap
from importlib.metadata import distributions

import torch


def run_python(code, cwd=None):
    result = subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                            capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_custom_imports_registers_the_layers(tmp_path):
    (tmp_path / 'cfg.py').write_text(textwrap.dedent('''
        _base_ = 'mmdet::_base_/default_runtime.py'
        custom_imports = dict(imports=['apa_mmdet'], allow_failed_imports=False)
        gate = dict(type='APA')
        act = dict(type='AGLU', num_parameters=8)
        '''))
    out = run_python(
        '''
        import sys
        from mmengine.config import Config
        from mmdet.registry import MODELS
        assert 'apa_mmdet' not in sys.modules
        cfg = Config.fromfile('cfg.py')
        print(type(MODELS.build(cfg.gate)).__name__,
              type(MODELS.build(cfg.act)).__name__)
        ''', cwd=tmp_path)
    assert out.split() == ['APA', 'AGLU']


def test_import_is_light():
    run_python('''
        import sys, torch
        import lvis.eval
        from mmengine.runner.checkpoint import CheckpointLoader
        safe_before = torch.serialization.get_safe_globals()
        import apa_mmdet
        assert not torch.cuda.is_initialized()
        assert torch.serialization.get_safe_globals() == safe_before
        assert 'cv2' in sys.modules  # mmcv's own import
        ''')


def test_exactly_one_headless_opencv():
    names = sorted(d.metadata['Name'].lower() for d in distributions()
                   if d.metadata['Name'].lower().startswith('opencv'))
    assert names == ['opencv-python-headless']


def test_mmcv_ops_work_on_cpu():
    from mmcv.ops import RoIAlign, nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    feats = torch.arange(64.).view(1, 1, 8, 8)
    rois = torch.tensor([[0., 0., 0., 7., 7.]])
    out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2)(feats, rois)
    assert out.shape == (1, 1, 2, 2)


def test_no_hard_coded_device_in_the_package():
    import re
    from pathlib import Path
    pattern = re.compile(
        r"device=['\"]cuda|\.cuda\(|torch\.cuda\.\w*Tensor|['\"]cuda:\d")
    package = Path(__file__).resolve().parents[1] / 'apa_mmdet'
    hits = [f'{path}:{number}: {line.strip()}'
            for path in package.rglob('*.py')
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if pattern.search(line)]
    assert not hits, hits
