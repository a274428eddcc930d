# Copyright (c) apa_mmdet contributors.
"""Benchmarks, run from the repository root as modules:
``python -m benchmarks.<name> --help`` (see README.md here)."""
