# Copyright (c) apa_mmdet contributors.
"""How ``tools/setup_venv.sh`` builds mmcv for the installed torch.

Prints shell assignments (``NAME=value``, one a line) of the build: mmcv's
CUDA ops when torch has CUDA (``APA_MMDET_CUDA=1`` insists, ``=0`` builds
CPU ops only), for ``TORCH_CUDA_ARCH_LIST`` if set, else the compute
capabilities of the visible GPUs, else every architecture the torch wheel
was built for; and the wheel-cache folder name, keyed by Python, torch
(with its local version, e.g. ``+cu124``), CUDA version and architectures.

Usage: ``python tools/setup/mmcv_build_settings.py`` (with the venv's python).
"""
import os
import re
import sys
from typing import Dict, Optional, Sequence


class SettingsError(ValueError):
    """The requested build cannot be made with this torch."""


def settings(python_tag: str, torch_version: str,
             cuda_version: Optional[str], gpu_capabilities: Sequence[str],
             torch_arch_list: Sequence[str],
             env: Dict[str, str]) -> Dict[str, str]:
    """The build of mmcv for one torch install.

    Args:
        python_tag (str): e.g. 'cp311'.
        torch_version (str): ``torch.__version__``, e.g. '2.13.0+cu124'.
        cuda_version (str, optional): ``torch.version.cuda``; None for a
            CPU-only torch.
        gpu_capabilities (list[str]): Compute capabilities of the visible
            GPUs, e.g. ['9.0'].
        torch_arch_list (list[str]): ``torch.cuda.get_arch_list()``, e.g.
            ['sm_80', 'sm_90'].
        env (dict): The environment (``APA_MMDET_CUDA``,
            ``TORCH_CUDA_ARCH_LIST``).

    Returns:
        dict: ``FORCE_CUDA`` ('0'/'1'), ``TORCH_CUDA_ARCH_LIST`` (CUDA
        builds), ``MMCV_CACHE_TAG`` and ``MMCV_BUILD_KIND`` (for the
        progress lines).
    """
    choice = env.get('APA_MMDET_CUDA', '')
    if choice not in ('', '0', '1'):
        raise SettingsError(f"APA_MMDET_CUDA={choice!r}: use 1 (build "
                            "mmcv's CUDA ops), 0 (CPU ops only) or leave it "
                            'unset (CUDA ops when torch has CUDA)')
    tag = f'{python_tag}-torch{torch_version}'
    if cuda_version is None:
        if choice == '1':
            raise SettingsError(
                f'APA_MMDET_CUDA=1 but torch {torch_version} has no CUDA: '
                'install a CUDA build of torch first (e.g. TORCH_INDEX='
                'https://download.pytorch.org/whl/cu124 bash '
                'tools/setup_venv.sh)')
        return dict(FORCE_CUDA='0', MMCV_CACHE_TAG=tag,
                    MMCV_BUILD_KIND='with CPU ops (torch has no CUDA)')
    if choice == '0':
        return dict(FORCE_CUDA='0', MMCV_CACHE_TAG=f'{tag}-cpu-ops',
                    MMCV_BUILD_KIND='with CPU ops only (APA_MMDET_CUDA=0)')
    arch = env.get('TORCH_CUDA_ARCH_LIST', '').strip()
    source = 'TORCH_CUDA_ARCH_LIST'
    if not arch:
        capabilities = sorted(set(gpu_capabilities), key=float)
        source = 'the visible GPUs'
        if not capabilities:
            capabilities = sorted(
                {f'{m.group(1)}.{m.group(2)}' for m in (re.fullmatch(
                    r'sm_(\d+)(\d)', a) for a in torch_arch_list) if m},
                key=float)
            source = "torch's architectures (no GPU visible)"
        arch = ';'.join(capabilities)
    if not arch:
        raise SettingsError(
            'no CUDA architecture to build for: no GPU is visible and torch '
            'lists none; set TORCH_CUDA_ARCH_LIST, e.g. "8.0;9.0"')
    arch_key = re.sub(r'[^0-9A-Za-z.+]+', '_', arch)
    return dict(
        FORCE_CUDA='1', TORCH_CUDA_ARCH_LIST=arch,
        MMCV_CACHE_TAG=f'{tag}-cuda{cuda_version}-arch{arch_key}',
        MMCV_BUILD_KIND=(f'with CUDA {cuda_version} ops for compute '
                         f'capability {arch} (from {source})'))


def main() -> int:
    import torch
    capabilities = []
    if torch.cuda.is_available():
        capabilities = ['%d.%d' % torch.cuda.get_device_capability(i)
                        for i in range(torch.cuda.device_count())]
    arch_list = torch.cuda.get_arch_list() if torch.version.cuda else []
    try:
        result = settings('cp%d%d' % sys.version_info[:2], torch.__version__,
                          torch.version.cuda, capabilities, arch_list,
                          dict(os.environ))
    except SettingsError as error:
        sys.stderr.write(f'[setup] {error}\n')
        return 1
    sys.stdout.write(''.join(f'{k}={v}\n' for k, v in result.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
