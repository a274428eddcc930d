# Copyright (c) apa_mmdet contributors.
"""Every benchmark module answers --help with its options and runs
nothing (a module that ignored it would start a long measurement)."""
import runpy
import sys
from pathlib import Path
from unittest import mock

import pytest

MODULES = sorted(p.stem for p in (Path(__file__).resolve().parents[2] /
                                  'benchmarks').glob('*.py')
                 if not p.stem.startswith('_'))


def test_the_modules_are_found():
    assert {'activation', 'eval_lvis', 'host_overhead',
            'kernel_instructions'} <= set(MODULES)


@pytest.mark.parametrize('module', MODULES)
def test_help_prints_the_usage_and_exits(module, capsys):
    with mock.patch.object(sys, 'argv', [module, '--help']), \
            pytest.raises(SystemExit) as exit_info:
        runpy.run_module(f'benchmarks.{module}', run_name='__main__')
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith('usage: ') and 'show this help message' in out
