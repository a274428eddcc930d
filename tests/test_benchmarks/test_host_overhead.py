# Copyright (c) apa_mmdet contributors.
"""benchmarks.host_overhead: it runs on CPU, and the table in
benchmarks/README.md is the one its committed record gives."""
import json
from pathlib import Path

from benchmarks import host_overhead

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / 'benchmarks/results/cpu-2026-12-07/host_overhead.json'


def test_measures_every_row_on_cpu():
    result = host_overhead.measure('cpu', calls=3)
    assert {'SiLU fwd', 'SiLU fwd+bwd', 'AGLU layer fwd', 'AGLU layer fwd+bwd',
            'aglu() fwd+bwd',
            'AGLU layer fwd+bwd, torch formula'} == set(result)
    assert all(row['us'] > 0 for row in result.values())
    # the layer's own Python per forward+backward: module, activation()
    # and the cached choice; the backward runs in C++
    assert result['AGLU layer fwd+bwd']['python_calls'] <= 4


def test_the_readme_table_is_the_record():
    record = json.loads(RECORD.read_text())
    readme = (ROOT / 'benchmarks/README.md').read_text()
    assert host_overhead.table(record['runs']) in readme
