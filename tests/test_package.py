# Copyright (c) apa_mmdet contributors.
"""Installation and registration: what `import apa_mmdet` does and needs."""
import configparser
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def test_ops_need_only_torch():
    """``apa_mmdet.ops`` (what benchmarks/activation.py uses on a machine
    with torch alone) imports and computes with mmcv, mmengine and mmdet
    made unimportable."""
    run_python('''
        import sys
        for name in ('mmcv', 'mmengine', 'mmdet'):
            sys.modules[name] = None  # as if not installed
        import torch
        import apa_mmdet
        from apa_mmdet.ops import aglu, apa
        assert not hasattr(apa_mmdet, 'models')
        x = torch.linspace(-3, 3, 7, requires_grad=True)
        one = torch.ones(1)
        torch.testing.assert_close(apa(x, one, one), torch.sigmoid(x))
        aglu(x, one, one).sum().backward()
        assert not [m for m, module in sys.modules.items() if module
                    and m.split('.')[0] in ('mmcv', 'mmengine', 'mmdet')]
        ''')


def test_the_licence_file_is_the_one_setup_cfg_names():
    setup = configparser.ConfigParser()
    setup.read(ROOT / 'setup.cfg')
    assert setup['metadata']['license'] == 'Apache-2.0'
    assert setup['metadata']['license_files'].split() == ['LICENSE']
    text = (ROOT / 'LICENSE').read_text()
    assert text.lstrip().startswith('Apache License\n')
    assert 'Version 2.0, January 2004' in text
