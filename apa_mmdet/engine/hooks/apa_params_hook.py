# Copyright (c) apa_mmdet contributors.
"""Log what APA learns: every site's λ and κ through mmengine's visualiser."""
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ...models.layers import AdaptiveActivation
from ...ops import LAMBDA_MIN


def apa_parameter_scalars(model: torch.nn.Module) -> Dict[str, float]:
    """λ (as used, max(λ, 1e-4)) and κ of every APA/AGLU module of
    ``model``, keyed ``apa/{module}/lambda`` and ``apa/{module}/kappa``;
    per-channel (or per-class) sites as their median, min and max
    (``.../lambda_median`` ...)."""
    scalars = {}
    for name, module in model.named_modules():
        if not isinstance(module, AdaptiveActivation):
            continue
        for key, value in (
                ('lambda', module.lambda_param.detach().clamp(min=LAMBDA_MIN)),
                ('kappa', module.kappa_param.detach())):
            value = value.float().cpu()
            if value.numel() == 1:
                scalars[f'apa/{name}/{key}'] = value.item()
            else:
                scalars.update({
                    f'apa/{name}/{key}_median': value.median().item(),
                    f'apa/{name}/{key}_min': value.min().item(),
                    f'apa/{name}/{key}_max': value.max().item()})
    return scalars


@HOOKS.register_module()
class APAParamsHook(Hook):
    """Every ``interval`` training iterations, send every APA/AGLU site's
    λ and κ (see :func:`apa_parameter_scalars`) to ``runner.visualizer``,
    so TensorBoard, W&B or the local backend plot them during training.

    Off unless a config adds it, e.g. with TensorBoard::

        custom_hooks = [dict(type='APAParamsHook', interval=50)]
        visualizer = dict(vis_backends=[dict(type='LocalVisBackend'),
                                        dict(type='TensorboardVisBackend')])

    Args:
        interval (int): Iterations between two logs. Defaults to 50.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 50) -> None:
        if interval < 1:
            raise ValueError(f'interval={interval} must be >= 1')
        self.interval = interval

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        runner.visualizer.add_scalars(
            apa_parameter_scalars(model), step=runner.iter + 1)
