# Copyright (c) apa_mmdet contributors.
"""mmdet's own tools/train.py (shipped in mmdet's .mim), unchanged, with the
process group ended by every rank together
(``apa_mmdet.utils.end_process_group``).

Every apa_mmdet config carries ``custom_imports=dict(imports=['apa_mmdet'])``,
so mmdet's script needs nothing more; ``mim train mmdet CONFIG`` is the same.
Usage: ``python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume]``.
"""
import os.path as osp
import runpy

import mmdet

from apa_mmdet.utils import end_process_group

if __name__ == '__main__':
    runpy.run_path(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py'),
        run_name='__main__')
    end_process_group()
