# Copyright (c) apa_mmdet contributors.
"""``python -m apa_mmdet.check``."""
import sys

from .cli import main

sys.exit(main())
