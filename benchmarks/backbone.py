# Copyright (c) apa_mmdet contributors.
"""Backbone cost: memory kept for backward and fwd+bwd time, side by side.

Backbones (mmdet ResNet-50 with in-place ReLU as the baseline, the plain
SE-ResNet-50, the official APA SE-ResNet-50 with apa_mmdet's AGLU/APA, also
with the stem activation frozen, with the frozen stem and stage 1
holding their activations, and with the official eager formula) are built with
``frozen_stages=1`` as in the detection configs, fed the same input, and
measured in float32 and under bfloat16 autocast: bytes of distinct
storages captured by ``saved_tensors_hooks`` during the forward (but the
input's, which the caller holds anyway), and the
median fwd+bwd time of interleaved repetitions; on CUDA also the peak of
allocated memory during one fwd+bwd (gradients included), above what the
models and the input take. Ratios are to ResNet-50 in the same run.

Usage: ``python -m benchmarks.backbone [--device cuda] [--shape 2x3x320x480]
[--reps 5]``
"""
import argparse
import statistics
import sys
import time

from ._common import fix_allocator


def official_eager_aglu_cls():
    """Register ``OfficialEagerAGLU``: AGLU's parameters computing the
    official eager formula (not an APA/AGLU module, so a block runs it
    unfused, as the official model does)."""
    from mmengine.registry import MODELS
    from torch import nn

    from apa_mmdet.models.layers import AGLU
    from apa_mmdet.testing.official import official_aglu

    class OfficialEagerAGLU(nn.Module):

        def __init__(self, **kwargs):
            super().__init__()
            initialised = AGLU(**kwargs)
            self.lambda_param = initialised.lambda_param
            self.kappa_param = initialised.kappa_param

        def forward(self, x):
            return official_aglu(x, self.lambda_param, self.kappa_param)

    MODELS.register_module('OfficialEagerAGLU', module=OfficialEagerAGLU)


def backbones():
    apa_se = dict(ratio=16, norm_cfg=dict(type='LN'), dropout=0.1,
                  act_cfg=(dict(type='ReLU'), dict(type='APA')))
    common = dict(depth=50, frozen_stages=1, norm_eval=True, init_cfg=None)
    return {
        'R50 (ReLU)': dict(type='ResNet', **common),
        'SE-R50 (ReLU)': dict(type='APASEResNet', **common),
        'SE-R50-APA': dict(type='APASEResNet', act_cfg=dict(type='AGLU'),
                           se_cfg=apa_se, **common),
        'SE-R50-APA freeze_stem_act': dict(
            type='APASEResNet', act_cfg=dict(type='AGLU'), se_cfg=apa_se,
            freeze_stem_act=True, **common),
        'SE-R50-APA holding frozen': dict(
            type='APASEResNet', act_cfg=dict(type='AGLU'), se_cfg=apa_se,
            recompute_frozen_stages=False, **common),
        'SE-R50-APA official eager': dict(
            type='APASEResNet', act_cfg=dict(type='OfficialEagerAGLU'),
            se_cfg=apa_se, recompute_frozen_stages=False, **common),
    }


def held_bytes(model, x, autocast):
    """Bytes saved for backward, but the input's (the caller holds it
    anyway; a checkpointed region saves it)."""
    import torch

    from apa_mmdet.testing.saved_memory import saved_storage_bytes
    with torch.autocast(x.device.type, dtype=torch.bfloat16,
                        enabled=autocast):
        return saved_storage_bytes(lambda: model(x), exclude=(x, ))[1]


def step(model, x, autocast):
    import torch
    with torch.autocast(x.device.type, dtype=torch.bfloat16,
                        enabled=autocast):
        outs = model(x)
    sum(o.float().mean() for o in outs).backward()


def timed_step(model, x, autocast):
    """Seconds of one fwd+bwd (the device synchronised around it)."""
    import torch
    synchronize = (torch.cuda.synchronize if x.device.type == 'cuda' else
                   (lambda: None))
    synchronize()
    t0 = time.perf_counter()
    step(model, x, autocast)
    synchronize()
    return time.perf_counter() - t0


def peak_bytes(model, x, autocast):
    """Peak CUDA memory allocated during one fwd+bwd (the parameters'
    gradients included), above what was allocated before it (the models
    and the input)."""
    import torch
    model.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    step(model, x, autocast)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - before


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--shape',
                        help='default: 2x3x320x480 on CPU, 8x3x800x1216 on '
                        'CUDA')
    parser.add_argument('--reps', type=int, default=5)
    args = parser.parse_args()
    cuda = args.device == 'cuda'
    if not cuda:
        fix_allocator()
    import torch
    from mmdet.registry import MODELS

    import apa_mmdet  # noqa: F401
    official_eager_aglu_cls()
    torch.manual_seed(0)
    text = args.shape or ('8x3x800x1216' if cuda else '2x3x320x480')
    x = torch.randn(tuple(int(v) for v in text.split('x')),
                    device=args.device)
    models = {name: MODELS.build(cfg).to(args.device)
              for name, cfg in backbones().items()}
    for model in models.values():
        model.train()  # mmdet's ResNet.train returns None
    where = (torch.cuda.get_device_name() if cuda else
             f'{torch.get_num_threads()} threads')
    sys.stdout.write(f'torch {torch.__version__}, {where}; input {text}, '
                     f'frozen_stages=1, median of {args.reps} interleaved '
                     'fwd+bwd\n')
    base = 'R50 (ReLU)'
    for autocast in (False, True):
        held = {n: held_bytes(m, x, autocast) for n, m in models.items()}
        peak = {n: peak_bytes(m, x, autocast)
                for n, m in models.items()} if cuda else {}
        times = {n: [] for n in models}
        for rep in range(args.reps + 1):
            for name, model in models.items():
                seconds = timed_step(model, x, autocast)
                if rep:
                    times[name].append(seconds)
                model.zero_grad(set_to_none=True)
        time_of = {n: statistics.median(t) for n, t in times.items()}
        sys.stdout.write(
            f'\n{"bf16 autocast" if autocast else "float32"}\n'
            f'{"backbone":28}{"held MB":>9}{"x R50":>7}'
            + (f'{"peak MB":>9}{"x R50":>7}' if cuda else '') +
            f'{"fwd+bwd s":>11}{"x R50":>7}\n')
        for name in models:
            sys.stdout.write(
                f'{name:28}{held[name] / 2**20:9.0f}'
                f'{held[name] / held[base]:7.2f}'
                + (f'{peak[name] / 2**20:9.0f}{peak[name] / peak[base]:7.2f}'
                   if cuda else '') +
                f'{time_of[name]:11.3f}{time_of[name] / time_of[base]:7.2f}'
                '\n')


if __name__ == '__main__':
    main()
