# Copyright (c) apa_mmdet contributors.
"""APAParamsHook: λ, κ of every site through mmengine's visualiser."""
import json
from types import SimpleNamespace

import pytest
import torch
from mmengine.registry import HOOKS
from mmengine.visualization import Visualizer
from torch import nn

from apa_mmdet.engine import APAParamsHook
from apa_mmdet.models.layers import AGLU, APA


def sites():
    model = nn.Sequential(AGLU(), nn.Conv2d(3, 3, 1), APA(num_parameters=3))
    with torch.no_grad():
        model[0].lambda_param.fill_(1e-6)  # logged as used: the 1e-4 floor
        model[0].kappa_param.fill_(1.25)
        model[2].lambda_param.copy_(torch.tensor([0.2, 0.5, 0.9]))
        model[2].kappa_param.copy_(torch.tensor([-1., 0., 2.]))
    return model


def test_logs_every_site_through_the_local_backend(tmp_path):
    hook = HOOKS.build(dict(type='APAParamsHook', interval=2))
    assert isinstance(hook, APAParamsHook)
    visualizer = Visualizer(name='apa_params_hook_test',
                            vis_backends=[dict(type='LocalVisBackend')],
                            save_dir=str(tmp_path))
    runner = SimpleNamespace(model=sites(), visualizer=visualizer, iter=0)
    for iteration in range(5):
        runner.iter = iteration
        hook.after_train_iter(runner, iteration)
    path = next(tmp_path.rglob('scalars.json'))
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r['step'] for r in records] == [2, 4]
    record = records[0]
    assert record['apa/0/lambda'] == pytest.approx(1e-4)
    assert record['apa/0/kappa'] == 1.25
    assert record['apa/2/lambda_median'] == pytest.approx(0.5)
    assert (record['apa/2/kappa_min'], record['apa/2/kappa_max']) == (
        -1., 2.)
    assert not [k for k in record if k.startswith('apa/1')]


def test_interval_is_checked():
    with pytest.raises(ValueError, match='interval=0'):
        APAParamsHook(interval=0)


def test_a_ddp_wrapped_model_logs_its_sites_names(tmp_path):
    """Under DDP (the runner's wrapper in a one-process gloo group) the
    sites keep the model's own names, not the wrapper's ``module.``."""
    import socket

    import torch.distributed as dist

    from apa_mmdet.engine.runner.device_agnostic_runner import \
        DeviceAgnosticDDP
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=0, world_size=1)
    try:
        wrapped = DeviceAgnosticDDP(sites())
        visualizer = Visualizer(name='apa_params_hook_ddp_test',
                                vis_backends=[dict(type='LocalVisBackend')],
                                save_dir=str(tmp_path))
        runner = SimpleNamespace(model=wrapped, visualizer=visualizer,
                                 iter=0)
        APAParamsHook(interval=1).after_train_iter(runner, 0)
    finally:
        dist.destroy_process_group()
    record = json.loads(next(tmp_path.rglob('scalars.json')).read_text())
    assert record['apa/0/kappa'] == 1.25
    assert record['apa/2/lambda_median'] == pytest.approx(0.5)
    assert not [k for k in record if 'module.' in k]
