# Copyright (c) apa_mmdet contributors.
"""tools/setup/mmcv_build_settings.py: how setup_venv.sh builds mmcv per torch."""
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = runpy.run_path(str(ROOT / 'tools' / 'setup' / 'mmcv_build_settings.py'),
                      run_name='mmcv_build_settings')
settings, SettingsError = TOOL['settings'], TOOL['SettingsError']
HOPPER_TORCH = ('cp311', '2.13.0+cu124', '12.4')


def test_cpu_torch_builds_cpu_ops_under_its_own_key():
    result = settings('cp311', '2.13.0+cpu', None, [], [], {})
    assert result['FORCE_CUDA'] == '0'
    assert result['MMCV_CACHE_TAG'] == 'cp311-torch2.13.0+cpu'
    with pytest.raises(SettingsError, match='APA_MMDET_CUDA=1 but torch '
                       '2.13.0\\+cpu has no CUDA.*TORCH_INDEX'):
        settings('cp311', '2.13.0+cpu', None, [], [], {'APA_MMDET_CUDA': '1'})


def test_cuda_torch_builds_cuda_ops_for_the_visible_gpus():
    result = settings(*HOPPER_TORCH, ['9.0', '8.0', '9.0'], ['sm_50'], {})
    assert result['FORCE_CUDA'] == '1'
    assert result['TORCH_CUDA_ARCH_LIST'] == '8.0;9.0'
    assert result['MMCV_CACHE_TAG'] == \
        'cp311-torch2.13.0+cu124-cuda12.4-arch8.0_9.0'
    assert 'CUDA 12.4' in result['MMCV_BUILD_KIND']


def test_the_users_arch_list_wins_and_keys_the_cache():
    result = settings(*HOPPER_TORCH, ['9.0'], [],
                      {'TORCH_CUDA_ARCH_LIST': '8.6 9.0+PTX'})
    assert result['TORCH_CUDA_ARCH_LIST'] == '8.6 9.0+PTX'
    assert result['MMCV_CACHE_TAG'].endswith('-arch8.6_9.0+PTX')


def test_without_a_visible_gpu_torchs_architectures_are_built():
    """A login node: no GPU, a CUDA torch."""
    result = settings(*HOPPER_TORCH, [],
                      ['sm_50', 'sm_80', 'sm_90', 'sm_90a', 'compute_90'], {})
    assert result['TORCH_CUDA_ARCH_LIST'] == '5.0;8.0;9.0'


def test_cpu_ops_on_a_cuda_torch_get_a_key_of_their_own():
    result = settings(*HOPPER_TORCH, ['9.0'], [], {'APA_MMDET_CUDA': '0'})
    assert result['FORCE_CUDA'] == '0'
    assert result['MMCV_CACHE_TAG'] == 'cp311-torch2.13.0+cu124-cpu-ops'
    with pytest.raises(SettingsError, match="APA_MMDET_CUDA='yes'"):
        settings(*HOPPER_TORCH, [], [], {'APA_MMDET_CUDA': 'yes'})
