# Copyright (c) apa_mmdet contributors.
from .metrics import *  # noqa: F401,F403
