# Copyright (c) apa_mmdet contributors.
"""Two gloo processes through mmengine's pytorch and slurm launchers."""
import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

from apa_mmdet.datasets.synthetic import generate_lvis
from apa_mmdet.engine.runner import init_cpu_process_group
from apa_mmdet.engine.runner.device_agnostic_runner import \
    _export_slurm_environment
from tests.helpers.configs import CONFIG_ROOT

ROOT = CONFIG_ROOT.parent
TINY = CONFIG_ROOT / 'synthetic' / 'mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'

DUMP_HOOK = '''
import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


def bare(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class DumpRankStateHook(Hook):
    """Saves this rank's parameters and the SE-dropout masks of each
    iteration (layer4.0's excitation dropout, 512 channels) after the
    run."""

    def before_run(self, runner):
        self.masks = []
        dropout = bare(runner.model).backbone.layer4[0].se.excitation[3]
        dropout.register_forward_hook(
            lambda module, args, out: self.masks.append(
                (out == 0) & (args[0] != 0)) if module.training else None)

    def after_run(self, runner):
        torch.save(dict(wrapper=type(runner.model).__name__,
                        world_size=get_world_size(),
                        params=dict(bare(runner.model).named_parameters()),
                        masks=self.masks),
                   f'{runner.work_dir}/rank{get_rank()}.pth')
'''


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    root = tmp_path_factory.mktemp('ddp')
    data_root = root / 'data'
    generate_lvis(str(data_root), num_train=16, num_val=12, image_size=96)
    (root / 'dump_rank_state.py').write_text(DUMP_HOOK)
    path = root / 'ddp.py'
    path.write_text(textwrap.dedent(f'''
        _base_ = '{TINY}'
        custom_imports = dict(imports=['apa_mmdet', 'dump_rank_state'],
                              allow_failed_imports=False)
        data_root = '{data_root}/'
        model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(
            ann_file=data_root + 'annotations/lvis_v1_train.json'))))
        train_dataloader = dict(
            batch_size=1, num_workers=0, persistent_workers=False,
            dataset=dict(dataset=dict(data_root=data_root)))
        train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                         max_iters=4, val_interval=4)
        val_cfg = None
        val_dataloader = None
        val_evaluator = None
        test_dataloader = dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            dataset=dict(data_root=data_root))
        test_evaluator = dict(
            ann_file=data_root + 'annotations/lvis_v1_val.json')
        param_scheduler = []
        default_hooks = dict(logger=dict(interval=1),
                             checkpoint=dict(by_epoch=False, interval=2))
        log_processor = dict(by_epoch=False, window_size=1)
        custom_hooks = [dict(type='IterationSeedHook'),
                        dict(type='DumpRankStateHook')]
        find_unused_parameters = False
        randomness = dict(seed=0)
        '''))
    return path


def launch(launcher, config, work_dir, *train_args):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PYTHONPATH=f'{config.parent}{os.pathsep}{ROOT}')
    args = [str(config), '--work-dir', str(work_dir), *train_args]
    port = free_port()
    if launcher == 'pytorch':
        return [subprocess.run(
            ['bash', 'tools/dist_train.sh', *args[:1], '2', *args[1:]],
            cwd=ROOT, env=dict(env, PORT=str(port)), capture_output=True,
            text=True)]
    procs = [subprocess.Popen(
        [sys.executable, 'tools/train.py', *args, '--launcher', 'slurm'],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=dict(env, SLURM_PROCID=str(rank), SLURM_NTASKS='2',
                            SLURM_LOCALID=str(rank), SLURM_NODELIST='node0',
                            MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port)))
             for rank in range(2)]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=600),
                                        p.stdout.read(), '') for p in procs]


@pytest.fixture(scope='module')
def pytorch_run(config, tmp_path_factory):
    """One 2-process training through the pytorch launcher, shared by the
    tests that read it: (the processes' results, the work dir)."""
    work_dir = tmp_path_factory.mktemp('pytorch')
    return launch('pytorch', config, work_dir), work_dir


@pytest.mark.parametrize('launcher', ['pytorch', 'slurm'])
def test_two_cpu_processes_train_in_lockstep(launcher, config, tmp_path,
                                             request):
    if launcher == 'pytorch':
        results, work_dir = request.getfixturevalue('pytorch_run')
    else:
        work_dir = tmp_path / launcher
        results = launch(launcher, config, work_dir)
    for result in results:
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    ranks = [torch.load(work_dir / f'rank{r}.pth') for r in range(2)]
    assert [r['world_size'] for r in ranks] == [2, 2]
    assert {r['wrapper'] for r in ranks} == {'DeviceAgnosticDDP'}
    # find_unused_parameters=False: DDP fails from the second iteration on
    # if any parameter (every APA λ, κ included) missed a gradient
    # (BN running statistics are per rank: broadcast_buffers=False)
    assert any('lambda_param' in key for key in ranks[0]['params'])
    for key, value in ranks[0]['params'].items():
        assert torch.equal(value, ranks[1]['params'][key]), key
    scalars = next(work_dir.glob('*/vis_data/scalars.json'))
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    assert [r['iter'] for r in records] == [1, 2, 3, 4]
    for record in records:
        assert all(v == v and abs(v) < 1e4 for k, v in record.items()
                   if k.startswith('loss'))


def test_ranks_draw_their_own_numbers_and_resume_exactly(config, tmp_path):
    """The recipes' randomness.diff_rank_seed: each rank draws its own SE
    dropout masks in every iteration, and a 2-process run resumed from
    its iteration-2 checkpoint ends with the uninterrupted run's weights."""
    full, resumed = tmp_path / 'full', tmp_path / 'resumed'
    # augmentations in a data worker, which mmengine seeds per rank and
    # the resumed loop replays (IterationSeedHook's docstring)
    workers = ['--cfg-options', 'train_dataloader.num_workers=1']
    for result in launch('pytorch', config, full, *workers):
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    for result in launch('pytorch', config, resumed, '--resume',
                         str(full / 'iter_2.pth'), *workers):
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    ranks = [torch.load(full / f'rank{r}.pth') for r in range(2)]
    assert len(ranks[0]['masks']) == 4
    # iteration 1: the zero-initialised norm3 gives the SE layer zeros
    for mask0, mask1 in zip(ranks[0]['masks'][1:], ranks[1]['masks'][1:]):
        assert mask0.any() and not torch.equal(mask0, mask1)
    for rank, uninterrupted in enumerate(ranks):  # every rank
        after_resume = torch.load(resumed / f'rank{rank}.pth')
        assert len(after_resume['masks']) == 2
        for mask, expected in zip(after_resume['masks'],
                                  uninterrupted['masks'][2:]):
            assert torch.equal(mask, expected), rank
        for key, value in uninterrupted['params'].items():
            assert torch.equal(after_resume['params'][key], value), (rank,
                                                                     key)


def test_distributed_test_collects_every_image(config, pytorch_run,
                                               tmp_path):
    results, work_dir = pytorch_run
    for result in results:
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PORT=str(free_port()),
               PYTHONPATH=f'{config.parent}{os.pathsep}{ROOT}')
    checkpoint = str(work_dir / 'iter_4.pth')
    fast = ['--cfg-options', 'test_evaluator.type=FastLVISMetric']
    runs = {}
    dist_test = ['bash', 'tools/dist_test.sh', str(config), checkpoint, '2']
    test = [sys.executable, 'tools/test.py', str(config), checkpoint]
    # (FastLVISMetric equals mmdet's LVISMetric: tests/test_evaluation)
    for name, command in (('FastLVISMetric, 2 processes', dist_test + fast),
                          ('FastLVISMetric, 1 process', test + fast)):
        work = ['--work-dir', str(tmp_path / str(len(runs)))]
        result = subprocess.run(command + work, cwd=ROOT, env=env,
                                capture_output=True, text=True)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
        if name.endswith('2 processes'):  # 12 images: 2 ranks x 2 x 3
            assert 'Iter(test) [3/3]' in output
        runs[name] = dict(re.findall(r'(lvis/\w+):\s+(-?[\d.]+)', output))
    reference = runs['FastLVISMetric, 1 process']
    assert 'lvis/segm_APr' in reference
    # rank 0 gathers every image's compact results: the same numbers
    assert runs['FastLVISMetric, 2 processes'] == reference


def test_unknown_launcher_is_named():
    with pytest.raises(ValueError, match="launcher='mpi' has no CPU path"):
        init_cpu_process_group('mpi')


def test_slurm_variables_become_torch_ones(monkeypatch):
    monkeypatch.setattr(os, 'environ', {  # a copy, restored afterwards
        k: v for k, v in os.environ.items()
        if k not in ('MASTER_PORT', 'WORLD_SIZE', 'RANK', 'LOCAL_RANK')})
    monkeypatch.setenv('MASTER_ADDR', 'node7')
    monkeypatch.setenv('SLURM_NTASKS', '8')
    monkeypatch.setenv('SLURM_PROCID', '5')
    monkeypatch.setenv('SLURM_LOCALID', '1')
    _export_slurm_environment(port=None)
    assert [os.environ[k] for k in (
        'MASTER_ADDR', 'MASTER_PORT', 'WORLD_SIZE', 'RANK', 'LOCAL_RANK')
            ] == ['node7', '29500', '8', '5', '1']
    _export_slurm_environment(port=1234)
    assert os.environ['MASTER_PORT'] == '1234'


def test_slurm_master_address_is_the_first_node(monkeypatch):
    from apa_mmdet.engine.runner import device_agnostic_runner as module
    monkeypatch.setattr(os, 'environ', {
        k: v for k, v in os.environ.items() if k not in (
            'MASTER_ADDR', 'MASTER_PORT', 'WORLD_SIZE', 'RANK',
            'LOCAL_RANK')})
    monkeypatch.setenv('SLURM_NODELIST', 'gpu[3-4]')
    monkeypatch.setenv('SLURM_NTASKS', '16')
    monkeypatch.setenv('SLURM_PROCID', '9')
    commands = []
    monkeypatch.setattr(module.subprocess, 'getoutput',
                        lambda command: commands.append(command) or 'gpu3')
    _export_slurm_environment(port=None)
    assert commands == ['scontrol show hostname gpu[3-4] | head -n1']
    assert os.environ['MASTER_ADDR'] == 'gpu3'
    assert os.environ['LOCAL_RANK'] == '0'  # SLURM_LOCALID absent


def test_dist_cfg_becomes_a_gloo_group_with_its_timeout(monkeypatch):
    import datetime

    from apa_mmdet.engine.runner import device_agnostic_runner as module
    calls = []
    monkeypatch.setattr(module.torch_dist, 'init_process_group',
                        lambda **kwargs: calls.append(kwargs))
    init_cpu_process_group('pytorch', backend='nccl', timeout=7200)
    assert calls == [dict(backend='gloo',
                          timeout=datetime.timedelta(seconds=7200))]


def test_with_an_accelerator_the_runner_is_mmengines(monkeypatch):
    """On a GPU the runner leaves set-up and wrapping to mmengine: no gloo
    group, mmengine's own DDP wrapper."""
    from mmengine.runner import Runner

    from apa_mmdet.engine.runner import device_agnostic_runner as module
    monkeypatch.setattr(module, 'get_device', lambda: 'cuda')
    monkeypatch.setattr(module, 'init_cpu_process_group', lambda *a, **k: (
        _ for _ in ()).throw(AssertionError('a CPU group on a GPU')))
    seen = []
    monkeypatch.setattr(Runner, 'setup_env',
                        lambda self, env_cfg: seen.append(('setup', env_cfg)))
    monkeypatch.setattr(Runner, 'wrap_model',
                        lambda self, cfg, model: seen.append(('wrap', cfg)))
    runner = object.__new__(module.DeviceAgnosticRunner)
    runner._distributed = True
    runner.setup_env(dict(dist_cfg=dict(backend='nccl')))
    runner.wrap_model(None, torch.nn.Linear(1, 1))
    assert seen == [('setup', dict(dist_cfg=dict(backend='nccl'))),
                    ('wrap', None)]
