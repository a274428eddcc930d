# Copyright (c) apa_mmdet contributors.
"""mmdet's own tools/test.py (shipped in mmdet's .mim), unchanged.

Every apa_mmdet config carries ``custom_imports=dict(imports=['apa_mmdet'])``,
so mmdet's script needs nothing more; ``mim test mmdet CONFIG
--checkpoint CKPT`` is the same.
Usage: ``python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]``.
"""
import os.path as osp
import runpy

import mmdet

if __name__ == '__main__':
    runpy.run_path(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'test.py'),
        run_name='__main__')
