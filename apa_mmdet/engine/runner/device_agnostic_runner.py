# Copyright (c) apa_mmdet contributors.
"""Multi-process training without accelerators, through mmengine's
``pytorch`` and ``slurm`` launchers.

mmengine 0.10.7 assumes an accelerator once distributed: ``init_dist`` calls
``torch.cuda.set_device`` and ``Runner.wrap_model`` gives DDP
``device_ids=[LOCAL_RANK]``, both of which fail on CPU. Select the runner in
a config (``runner_type = 'DeviceAgnosticRunner'``); with an accelerator it
is mmengine's ``Runner`` unchanged, on CPU it starts a gloo process group
from the launcher's environment and wraps the model with
``DeviceAgnosticDDP``.
"""
import datetime
import os
import subprocess
from typing import Optional

import torch.distributed as torch_dist
from mmengine.device import get_device
from mmengine.dist import is_distributed
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS, RUNNERS
from mmengine.runner import Runner


@MODEL_WRAPPERS.register_module()
class DeviceAgnosticDDP(MMDistributedDataParallel):
    """mmengine's ``MMDistributedDataParallel`` that drops ``device_ids``
    for a module on the CPU (DDP only takes them for accelerator modules)."""

    def __init__(self, module, device_ids: Optional[list] = None, **kwargs):
        if next(module.parameters()).device.type == 'cpu':
            device_ids = None
        super().__init__(module=module, device_ids=device_ids, **kwargs)


def _export_slurm_environment(port: Optional[int]) -> None:
    """Translate SLURM's variables into torch's ``env://`` ones, as
    mmengine's slurm launcher does (without choosing a GPU)."""
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def init_cpu_process_group(launcher: str, port: Optional[int] = None,
                           timeout: Optional[int] = None, **kwargs) -> None:
    """Start a gloo process group for ``launcher`` ('pytorch' or 'slurm').

    Args:
        launcher (str): mmengine launcher name.
        port (int, optional): Master port for 'slurm' (else MASTER_PORT or
            29500), as mmengine's ``dist_cfg``.
        timeout (int, optional): Seconds, as mmengine's ``dist_cfg``.
        **kwargs: Other ``dist_cfg`` keys; ``backend`` is replaced by gloo.
    """
    if launcher == 'slurm':
        _export_slurm_environment(port)
    elif launcher != 'pytorch':
        raise ValueError(
            f"launcher={launcher!r} has no CPU path: use 'pytorch' "
            "(torchrun, tools/dist_train.sh) or 'slurm' "
            '(tools/slurm_train.sh)')
    kwargs.pop('backend', None)
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(backend='gloo', **kwargs)


@RUNNERS.register_module()
class DeviceAgnosticRunner(Runner):
    """mmengine's ``Runner``; distributed on CPU through gloo (see module)."""

    def setup_env(self, env_cfg: dict) -> None:
        if (self.distributed and not is_distributed()
                and get_device() == 'cpu'):
            init_cpu_process_group(self.launcher,
                                   **env_cfg.get('dist_cfg', {}))
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[dict], model):
        if (self.distributed and model_wrapper_cfg is None
                and get_device() == 'cpu'):
            model_wrapper_cfg = dict(
                type='DeviceAgnosticDDP',
                broadcast_buffers=False,
                find_unused_parameters=self.cfg.get('find_unused_parameters',
                                                    False))
        return super().wrap_model(model_wrapper_cfg, model)
