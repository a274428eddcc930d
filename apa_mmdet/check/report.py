# Copyright (c) apa_mmdet contributors.
"""The check's report lines and what the machine has."""
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Callable, Dict, List

import torch

PACKAGES = ('torch', 'triton', 'mmcv', 'mmengine', 'mmdet', 'apa_mmdet',
            'numpy', 'pycocotools', 'lvis', 'faster-coco-eval',
            'opencv-python-headless')


class Report:
    """Prints one line per check and remembers the failures."""

    def __init__(self) -> None:
        self.failures: List[str] = []

    def line(self, status: str, what: str, detail: str = '') -> None:
        sys.stdout.write(f'  {status:5} {what}{": " + detail if detail else ""}'
                         '\n')
        sys.stdout.flush()
        if status == 'FAIL':
            self.failures.append(what)

    def run(self, what: str, check: Callable[[], str],
            needed: bool = True) -> bool:
        """``check()`` returns a detail or raises; a failure of a check
        that is not ``needed`` is reported as unavailable."""
        try:
            self.line('ok', what, check())
            return True
        except Exception as error:  # a check names what it could not do
            reason = f'{type(error).__name__}: {str(error).splitlines()[0]}'
            self.line('FAIL' if needed else 'n/a', what,
                      reason if needed else f'not available here ({reason})')
            return False


def stack_versions() -> Dict[str, str]:
    """Installed version of each package of the stack ('-': missing)."""
    versions = {'python': platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = '-'
    versions['torch CUDA'] = torch.version.cuda or 'none (CPU build)'
    try:
        from mmcv.ops import get_compiling_cuda_version
        versions['mmcv ops CUDA'] = get_compiling_cuda_version()
    except ImportError as error:
        versions['mmcv ops CUDA'] = f'no ops ({error})'
    return versions


def devices() -> List[str]:
    """'cpu' and every visible CUDA device."""
    return ['cpu'] + [f'cuda:{i}' for i in range(torch.cuda.device_count())]
