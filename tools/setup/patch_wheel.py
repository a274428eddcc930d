# Copyright (c) apa_mmdet contributors.
"""Rewrite two PyPI wheels so that they work on today's stack.

apa_mmdet's set-up fixes these once, at install time, instead of patching
modules at run time:

* lvis-api 0.5.3 (the last release): ``lvis/eval.py`` casts with
  ``np.float``, removed in NumPy 2, so ``LVISEval.accumulate`` (and mmdet's
  ``LVISMetric``) crash after inference; it becomes ``np.float64`` (what
  ``np.float`` meant). Its metadata requires ``opencv-python`` (for its
  optional visualiser) and ``Cython`` (never imported) but not
  ``pycocotools`` (imported): they become ``opencv-python-headless`` and
  ``pycocotools``.
* mmengine 0.10.7: its wheel requires ``opencv-python``, a second OpenCV
  beside the headless one mmcv uses (its setup.py would keep an installed
  headless OpenCV, but the wheel was built without one). The requirement
  becomes ``opencv-python-headless``.

Each result keeps its version and gets build tag 1, so every requirement on
the package is satisfied by it. Usage:
``python patch_wheel.py SRC_WHEEL OUT_DIR``; prints the written wheel's path.
"""
import base64
import hashlib
import sys
import zipfile
from pathlib import Path

BUILD_TAG = '1'
# (name, version) -> {member path: [(old bytes, new bytes), ...]}
PATCHES = {
    ('lvis', '0.5.3'): {
        'lvis/eval.py': [(b'.astype(dtype=np.float)',
                          b'.astype(dtype=np.float64)')],
        'lvis-0.5.3.dist-info/METADATA': [
            (b'Requires-Dist: opencv-python (>=4.1.0.25)',
             b'Requires-Dist: opencv-python-headless (>=4.1.0.25)'),
            (b'Requires-Dist: Cython (>=0.29.12)',
             b'Requires-Dist: pycocotools (>=2.0.8)'),
        ],
    },
    ('mmengine', '0.10.7'): {
        'mmengine-0.10.7.dist-info/METADATA': [
            (b'Requires-Dist: opencv-python>=3\n',
             b'Requires-Dist: opencv-python-headless>=3\n')
        ],
    },
}


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return f'{name},sha256={digest.rstrip(b"=").decode()},{len(data)}'


def patch(src: Path, out_dir: Path) -> Path:
    """Write the patched copy of ``src`` into ``out_dir`` and return it."""
    name, version = src.name.split('-')[:2]
    if (name, version) not in PATCHES:
        raise SystemExit(f'patch_wheel: no patch for {src.name}; known: '
                         f'{", ".join("-".join(k) for k in PATCHES)}')
    edits = PATCHES[name, version]
    info = f'{name}-{version}.dist-info'
    dst = out_dir / f'{name}-{version}-{BUILD_TAG}-py3-none-any.whl'
    records = []
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(
            dst, 'w', zipfile.ZIP_DEFLATED) as zout:
        missing = set(edits) - set(zin.namelist())
        if missing:
            raise SystemExit(f'patch_wheel: {src.name} lacks {missing}')
        for item in zin.infolist():
            if item.filename == f'{info}/RECORD':
                continue
            data = zin.read(item)
            for old, new in edits.get(item.filename, []):
                if old not in data:
                    raise SystemExit(f'patch_wheel: {old!r} not found in '
                                     f'{item.filename} of {src.name}')
                data = data.replace(old, new)
            if item.filename == f'{info}/WHEEL':
                data = data.rstrip(b'\n') + f'\nBuild: {BUILD_TAG}\n'.encode()
            zout.writestr(item.filename, data)
            records.append(_record_line(item.filename, data))
        records.append(f'{info}/RECORD,,')
        zout.writestr(f'{info}/RECORD', '\n'.join(records) + '\n')
    return dst


if __name__ == '__main__':
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.stdout.write(f'{patch(Path(sys.argv[1]), Path(sys.argv[2]))}\n')
