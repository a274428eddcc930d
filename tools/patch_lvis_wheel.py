# Copyright (c) apa_mmdet contributors.
"""Rewrite the lvis-api 0.5.3 wheel so that it works on today's stack.

lvis 0.5.3 is the last release and is broken in two ways that apa_mmdet's
set-up fixes once, at install time, instead of patching at run time:

* ``lvis/eval.py`` casts with ``np.float``, removed in NumPy 2, so
  ``LVISEval.accumulate`` (and mmdet's ``LVISMetric``) crash after inference.
  It is replaced by ``np.float64`` (what ``np.float`` meant).
* Its metadata requires ``opencv-python``, a second OpenCV beside the
  headless one that mmcv uses; it needs only ``cv2`` for its optional
  visualiser. The requirement becomes ``opencv-python-headless``; ``Cython``,
  which lvis never imports, is dropped; ``pycocotools``, which it imports
  but never declared, is added.

The result keeps version 0.5.3 and gets build tag 1, so every requirement on
``lvis`` is satisfied by it. Usage: ``python patch_lvis_wheel.py SRC_WHEEL
OUT_DIR``; prints the path of the written wheel.
"""
import base64
import hashlib
import sys
import zipfile
from pathlib import Path

EVAL_FIX = (b'.astype(dtype=np.float)', b'.astype(dtype=np.float64)')
REQUIRES_FIX = {
    b'Requires-Dist: opencv-python (>=4.1.0.25)':
    b'Requires-Dist: opencv-python-headless (>=4.1.0.25)',
    b'Requires-Dist: Cython (>=0.29.12)':
    b'Requires-Dist: pycocotools (>=2.0.8)',
}
BUILD_TAG = '1'


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return f'{name},sha256={digest.rstrip(b"=").decode()},{len(data)}'


def _replace_all(data: bytes, old: bytes, new: bytes, where: str) -> bytes:
    if old not in data:
        raise SystemExit(f'patch_lvis_wheel: {old!r} not found in {where}; '
                         'is this the lvis 0.5.3 wheel?')
    return data.replace(old, new)


def patch(src: Path, out_dir: Path) -> Path:
    name, version = src.name.split('-')[:2]
    if (name, version) != ('lvis', '0.5.3'):
        raise SystemExit(f'patch_lvis_wheel: expected lvis-0.5.3-*.whl, '
                         f'got {src.name}')
    info = f'lvis-{version}.dist-info'
    dst = out_dir / f'lvis-{version}-{BUILD_TAG}-py3-none-any.whl'
    records = []
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(
            dst, 'w', zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == f'{info}/RECORD':
                continue
            if item.filename == 'lvis/eval.py':
                data = _replace_all(data, *EVAL_FIX, item.filename)
            elif item.filename == f'{info}/METADATA':
                for old, new in REQUIRES_FIX.items():
                    data = _replace_all(data, old, new, item.filename)
            elif item.filename == f'{info}/WHEEL':
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
