# Copyright (c) apa_mmdet contributors.
"""What works on this machine: ``python tools/check_install.py [--config
CONFIG] [--device DEVICE]`` (same as ``python -m apa_mmdet.check``)."""
import sys

from apa_mmdet.check import main

if __name__ == '__main__':
    sys.exit(main())
