# Copyright (c) apa_mmdet contributors.
"""mmdet's own tools/test.py (shipped in mmdet's .mim), unchanged, with
glibc's mmap threshold pinned (``apa_mmdet.utils.pin_mmap_threshold``): the
per-image mask buffers of LVIS/COCO evaluation then go back to the OS
instead of growing the process by about an image's masks per image; and the
process group ended by every rank together
(``apa_mmdet.utils.end_process_group``).

Every apa_mmdet config carries ``custom_imports=dict(imports=['apa_mmdet'])``,
so mmdet's script needs nothing more; ``mim test mmdet CONFIG
--checkpoint CKPT`` is the same.
Usage: ``python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]``.
"""
import os.path as osp
import runpy

import mmdet

from apa_mmdet.utils import end_process_group, pin_mmap_threshold

if __name__ == '__main__':
    pin_mmap_threshold()
    runpy.run_path(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'test.py'),
        run_name='__main__')
    end_process_group()
