# Copyright (c) apa_mmdet contributors.
"""Journey: ``pip install -e .`` (and ``.[deploy]``) into an environment
that already runs mmdet 3.3 — this one — adds apa_mmdet and nothing else:
pip resolves offline against what is installed, so no other torch, mmcv or
mmdet is pulled in (README, "Install")."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('extras', ['', '[deploy]'])
def test_pip_install_into_an_mmdet_environment_adds_only_apa_mmdet(
        tmp_path, extras):
    report = tmp_path / 'report.json'
    result = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-index',
         '--no-build-isolation', '--quiet', '--report', str(report), '-e',
         f'{ROOT}{extras}'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    installs = json.loads(report.read_text())['install']
    names = [i['metadata']['name'].replace('-', '_') for i in installs]
    assert names == ['apa_mmdet'], names
