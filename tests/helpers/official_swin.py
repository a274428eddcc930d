# Copyright (c) apa_mmdet contributors.
"""Official Swin-AGLU ImageNet checkpoints (microsoft/Swin-Transformer
layout, as the official APA code trained them), written out from that
layout: the state dict and the file its trainer saves."""
import torch


class SwinTrainerConfig(dict):
    """Stands for the official Swin trainer's yacs ``CfgNode`` (a dict
    subclass with instance state) in its checkpoints: a type the safe
    loader refuses. Unpickling it runs ``__setstate__``, which raises: a
    loader that runs the file's code fails."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.immutable = True

    def __setstate__(self, state):
        raise AssertionError('code from the checkpoint ran')


def official_swin_aglu_state(embed_dims=48, depths=(2, 2, 6, 2),
                             num_heads=(3, 6, 12, 24), window=7, seed=0):
    """An official Swin (microsoft/Swin-Transformer layout) ImageNet state
    dict with a scalar AGLU in every MLP (``mlp.act.*``), written out from
    that layout, with random values."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {'patch_embed.proj.weight': (embed_dims, 3, 4, 4),
              'patch_embed.proj.bias': (embed_dims, ),
              'patch_embed.norm.weight': (embed_dims, ),
              'patch_embed.norm.bias': (embed_dims, )}
    for i, (depth, heads) in enumerate(zip(depths, num_heads)):
        c = embed_dims * 2**i
        for j in range(depth):
            block = f'layers.{i}.blocks.{j}'
            shapes.update({
                f'{block}.norm1.weight': (c, ), f'{block}.norm1.bias': (c, ),
                f'{block}.attn.relative_position_bias_table':
                ((2 * window - 1)**2, heads),
                f'{block}.attn.qkv.weight': (3 * c, c),
                f'{block}.attn.qkv.bias': (3 * c, ),
                f'{block}.attn.proj.weight': (c, c),
                f'{block}.attn.proj.bias': (c, ),
                f'{block}.norm2.weight': (c, ), f'{block}.norm2.bias': (c, ),
                f'{block}.mlp.fc1.weight': (4 * c, c),
                f'{block}.mlp.fc1.bias': (4 * c, ),
                f'{block}.mlp.act.lambda_param': (1, ),
                f'{block}.mlp.act.kappa_param': (1, ),
                f'{block}.mlp.fc2.weight': (c, 4 * c),
                f'{block}.mlp.fc2.bias': (c, )})
            if j % 2:
                shapes[f'{block}.attn_mask'] = (16, window**2, window**2)
        if i < len(depths) - 1:
            shapes.update({f'layers.{i}.downsample.reduction.weight':
                           (2 * c, 4 * c),
                           f'layers.{i}.downsample.norm.weight': (4 * c, ),
                           f'layers.{i}.downsample.norm.bias': (4 * c, )})
    last = embed_dims * 2**(len(depths) - 1)
    shapes.update({'norm.weight': (last, ), 'norm.bias': (last, ),
                   'head.weight': (1000, last), 'head.bias': (1000, )})
    state = {k: torch.rand(s, generator=gen) + 0.1 for k, s in shapes.items()}
    coords = torch.stack(torch.meshgrid(torch.arange(window),
                                        torch.arange(window),
                                        indexing='ij')).flatten(1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    index = (relative[..., 0] + window - 1) * (2 * window - 1) + \
        relative[..., 1] + window - 1
    for i, depth in enumerate(depths):
        for j in range(depth):
            state[f'layers.{i}.blocks.{j}.attn.relative_position_index'] = \
                index
    return state


def save_official_swin_trainer_file(path, state):
    """Save ``state`` as the official Swin trainer does: ``model``,
    ``optimizer``, ``lr_scheduler``, ``max_accuracy``, ``epoch`` and its
    ``config``."""
    torch.save(
        dict(model=state,
             optimizer=dict(state={}, param_groups=[dict(lr=1e-3)]),
             lr_scheduler=dict(last_epoch=300),
             max_accuracy=83.1,
             epoch=299,
             config=SwinTrainerConfig(MODEL=dict(TYPE='swin'))), path)
