# Copyright (c) apa_mmdet contributors.
"""Every relative link and picture in the Markdown documents points at a
file of the repository."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    p for p in [ROOT / 'README.md', ROOT / 'CHANGELOG.md',
                ROOT / 'benchmarks/README.md', ROOT / 'tests/README.md',
                *ROOT.glob('docs/*.md'), *ROOT.glob('configs/*/README.md')]
    if p.is_file())


@pytest.mark.parametrize('document', DOCUMENTS,
                         ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_relative_links_resolve(document):
    text = document.read_text()
    targets = [m.group(1) for m in re.finditer(r'\]\(([^)#\s]+)[^)]*\)', text)
               if not m.group(1).startswith(('http://', 'https://'))]
    missing = [t for t in targets if not (document.parent / t).exists()]
    assert not missing, missing
    outside = [t for t in targets
               if ROOT not in (document.parent / t).resolve().parents]
    assert not outside, f'links out of the repository: {outside}'
