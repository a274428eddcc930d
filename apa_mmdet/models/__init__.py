# Copyright (c) apa_mmdet contributors.
from .layers import *  # noqa: F401,F403
