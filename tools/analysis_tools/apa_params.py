# Copyright (c) apa_mmdet contributors.
"""What a checkpoint's APA/AGLU sites learned: λ and κ over depth, and the
learned curves beside ReLU, SiLU, GELU, the sigmoid and the Gumbel CDF.

Usage: ``python tools/analysis_tools/apa_params.py CHECKPOINT [--config
CONFIG] [--out-dir DIR]``

CHECKPOINT is an apa_mmdet checkpoint or an official one (same key names;
``module.`` prefixes and ``state_dict``/``model`` wrappers are unwrapped as
the converter does). Sites are listed in network order (the state dict's),
λ as used (max(λ, 1e-4)); per-channel and per-class sites as median
[min, max]. A site is an AGLU (z·APA(z)) unless it is a gate or a class
score (``uniact``, ``loss_cls``), which ``--config`` decides from the
model's own modules instead. Writes ``lambda_kappa_over_depth.png``,
``activation_curves.png`` and ``apa_params.json`` (per site: act, and
min/median/max of λ and κ) to DIR (default ``work_dirs/apa_params``).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, NamedTuple

import torch

from apa_mmdet.analysis import saved_figure
from apa_mmdet.converters import OFFICIAL_SAFE_GLOBALS, unwrap_state_dict
from apa_mmdet.ops import LAMBDA_MIN, aglu, apa
from apa_mmdet.utils import safe_load


class Site(NamedTuple):
    name: str
    act: str  # 'apa' or 'aglu'
    lam: torch.Tensor  # as used, (C,)
    kappa: torch.Tensor  # (C,)


def read_sites(state: Dict[str, torch.Tensor],
               acts: Dict[str, str]) -> List[Site]:
    """Every (λ, κ) pair of ``state`` in its order; ``acts``: the function
    of sites whose module is known (else guessed from the name)."""
    sites = []
    for key, value in state.items():
        if not key.endswith('.lambda_param'):
            continue
        name = key[:-len('.lambda_param')]
        act = acts.get(name) or ('apa' if name.endswith(
            ('uniact', 'loss_cls.act')) else 'aglu')
        sites.append(Site(name, act,
                          value.float().clamp(min=LAMBDA_MIN).reshape(-1),
                          state[f'{name}.kappa_param'].float().reshape(-1)))
    return sites


def config_acts(config: str) -> Dict[str, str]:
    """Site name -> 'apa' or 'aglu', from the config's built model."""
    from apa_mmdet.models.layers import AdaptiveActivation
    from apa_mmdet.utils import build_model_without_file_reads
    model = build_model_without_file_reads(config)
    names = {name: module.act for name, module in model.named_modules()
             if isinstance(module, AdaptiveActivation)}
    # ImageNet checkpoints hold backbone keys without the prefix
    names.update({name[len('backbone.'):]: act for name, act in names.items()
                  if name.startswith('backbone.')})
    return names


def describe(values: torch.Tensor) -> str:
    if values.numel() == 1:
        return f'{values.item():.4f}'
    return (f'{values.median().item():.4f} [{values.min().item():.4f}, '
            f'{values.max().item():.4f}]')


def summary(sites: List[Site]) -> dict:
    """Per site (network order): its act and the min, median and max of λ
    (as used) and κ."""
    return {site.name: dict(act=site.act, **{
        f'{label}_{stat}': getattr(values, stat)().item()
        for label, values in (('lambda', site.lam), ('kappa', site.kappa))
        for stat in ('min', 'median', 'max')}) for site in sites}


def plot_over_depth(sites: List[Site], path: str) -> None:
    with saved_figure(path, 2, 1, figsize=(max(8, len(sites) * 0.16), 6),
                      sharex=True) as (fig, axes):
        index = range(len(sites))
        for axis, attr, label in ((axes[0], 'lam', 'λ (as used)'),
                                  (axes[1], 'kappa', 'κ')):
            for act, marker in (('aglu', 'o'), ('apa', 's')):
                chosen = [i for i in index if sites[i].act == act]
                values = [getattr(sites[i], attr) for i in chosen]
                axis.errorbar(
                    chosen, [v.median().item() for v in values],
                    yerr=[[(v.median() - v.min()).item() for v in values],
                          [(v.max() - v.median()).item() for v in values]],
                    fmt=marker, markersize=4, capsize=2,
                    label=f'{act.upper()} sites (median, min–max)')
            axis.set_ylabel(label)
            axis.grid(alpha=0.3)
        axes[0].set_yscale('log')
        axes[0].legend(loc='best', fontsize=8)
        axes[1].set_xlabel('site, in network order')
        step = max(1, len(sites) // 24)
        axes[1].set_xticks(list(index)[::step])
        axes[1].set_xticklabels([s.name for s in sites][::step], rotation=90,
                                fontsize=6)


def plot_curves(sites: List[Site], path: str) -> None:
    import torch.nn.functional as F

    from apa_mmdet.models.layers import GumbelClassScore, SigmoidClassScore
    z = torch.linspace(-6, 6, 601, dtype=torch.float64)
    with saved_figure(path, 1, 2, figsize=(12, 5)) as (fig, axes):
        from matplotlib import colormaps
        colours = colormaps['viridis']
        for axis, act, function in zip(axes, ('aglu', 'apa'), (aglu, apa)):
            chosen = [s for s in sites if s.act == act]
            for i, site in enumerate(chosen):
                lam, kappa = site.lam.median(), site.kappa.median()
                curve = function(z, lam.double().view(1),
                                 kappa.double().view(1))
                axis.plot(z, curve, color=colours(i / max(1, len(chosen) - 1)),
                          linewidth=0.8, alpha=0.7)
            references = {
                'aglu': (('ReLU', F.relu(z)), ('SiLU', F.silu(z)),
                         ('GELU', F.gelu(z))),
                'apa': (('sigmoid', SigmoidClassScore()(z)),
                        ('Gumbel CDF', GumbelClassScore()(z)))}[act]
            for (label, curve), style in zip(references, ('--', ':', '-.')):
                axis.plot(z, curve, 'k' + style, linewidth=1.5, label=label)
            axis.set_title(f'{act.upper()} sites ({len(chosen)}), shallow '
                           '(purple) to deep (yellow), median λ, κ')
            axis.set_xlabel('z')
            axis.grid(alpha=0.3)
            axis.legend(loc='upper left', fontsize=8)
        axes[0].set_ylim(-1, 6)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint')
    parser.add_argument('--config', help='decide APA vs AGLU per site from '
                        "this config's model")
    parser.add_argument('--out-dir', default='work_dirs/apa_params')
    args = parser.parse_args(argv)
    state = unwrap_state_dict(safe_load(
        args.checkpoint, map_location='cpu',
        extra_safe_globals=OFFICIAL_SAFE_GLOBALS))
    sites = read_sites(state, config_acts(args.config) if args.config
                       else {})
    if not sites:
        sys.stderr.write(f'apa_params: {args.checkpoint} has no APA/AGLU '
                         'parameters (no *.lambda_param key)\n')
        return 1
    width = max(len(s.name) for s in sites)
    sys.stdout.write(f'{"site":{width}}  act   {"λ (as used)":32}κ\n')
    for site in sites:
        sys.stdout.write(f'{site.name:{width}}  {site.act:5} '
                         f'{describe(site.lam):32}{describe(site.kappa)}\n')
    os.makedirs(args.out_dir, exist_ok=True)
    plot_over_depth(sites, osp.join(args.out_dir,
                                    'lambda_kappa_over_depth.png'))
    plot_curves(sites, osp.join(args.out_dir, 'activation_curves.png'))
    with open(osp.join(args.out_dir, 'apa_params.json'), 'w') as f:
        json.dump(dict(checkpoint=args.checkpoint, sites=summary(sites)), f,
                  indent=1)
    sys.stdout.write(f'{len(sites)} sites; plots and apa_params.json in '
                     f'{args.out_dir}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
