# Copyright (c) apa_mmdet contributors.
"""Journey: ``tools/dist_test.sh`` on two "nodes" (NNODES=2, one process
each, gloo on this machine), each launched from a directory of its own, the
work directory shared: rank 0 gathers both halves and prints the metrics."""
import os
import re
import socket
import subprocess

import torch
from mmdet.registry import MODELS

from apa_mmdet.datasets.synthetic import generate_lvis
from tests.helpers.configs import CONFIG_ROOT, config_on_data

ROOT = CONFIG_ROOT.parent
TINY = CONFIG_ROOT / 'synthetic' / 'mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_nodes_launched_from_their_own_directories_gather(tmp_path):
    data = tmp_path / 'data'
    generate_lvis(str(data), num_train=4, num_val=12, image_size=64)
    torch.manual_seed(0)
    model = MODELS.build(config_on_data(TINY, data).model)
    checkpoint = tmp_path / 'weights.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    work_dir = tmp_path / 'shared_work_dir'
    port = str(free_port())
    nodes = []
    for rank in range(2):
        launch_dir = tmp_path / f'node{rank}'
        launch_dir.mkdir()
        env = dict(os.environ, DATA_ROOT=str(data), NNODES='2',
                   NODE_RANK=str(rank), PORT=port, OMP_NUM_THREADS='1')
        nodes.append(subprocess.Popen(
            ['bash', str(ROOT / 'tools' / 'dist_test.sh'), str(TINY),
             str(checkpoint), '1', '--work-dir', str(work_dir),
             '--cfg-options', 'test_dataloader.num_workers=0',
             'test_dataloader.persistent_workers=False'],
            cwd=launch_dir, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    logs = [node.communicate(timeout=600)[0] for node in nodes]
    for node, log in zip(nodes, logs):
        assert node.returncode == 0, log[-3000:]
    metrics = dict(re.findall(r'(lvis/\w+):\s+(-?[\d.]+)', logs[0]))
    assert 'lvis/segm_APr' in metrics and 'lvis/bbox_AP' in metrics
    # nothing under the launch directories, the gathering went through the
    # shared work directory
    assert not any((tmp_path / f'node{rank}' / '.dist_test').exists()
                   for rank in range(2))
