# Copyright (c) apa_mmdet contributors.
"""Convert an official APA (kostas1515/AGLU) checkpoint for apa_mmdet.

Usage: ``python tools/model_converters/aglu2apa.py SRC DST [--config CONFIG]``

SRC is an official SE-ResNet (APA or plain SE) ImageNet checkpoint (bare
backbone keys, possibly under ``module.`` and/or wrapped in ``state_dict``/
``model``), an official detector checkpoint (``backbone.``, ``neck.``,
``rpn_head.``, ``roi_head.``; LVIS and V3Det alike) or an official Swin
ImageNet checkpoint with AGLU MLPs. SRC is read without running any of its
code: its tensors and plain data load, and an object of any other type (the
Swin trainer's yacs ``config``, say) is replaced by a placeholder and named
in the report.

DST is an mmengine checkpoint ``{'state_dict': ..., 'meta': ...}`` for
the way mmdet loads it:
- SE-ResNet ImageNet weights: bare backbone keys, for
  ``backbone.init_cfg=dict(type='Pretrained', checkpoint=DST)``;
- Swin ImageNet weights: mmdet's key names under ``backbone.`` (the only
  keys mmdet's ``SwinTransformer.init_weights`` loads), the MLP activation
  where mmcv's FFN holds it, for ``convert_weights=False``;
- detectors: full keys for ``load_from``, and in ``meta.dataset_meta`` the
  class names and palette (the official file's, or else ``--config``'s test
  set's) that mmdet's ``DetInferencer`` and visualiser read.

Exit status 1 (and every offending key named) when SRC is not a checkpoint
or its backbone does not match an SE-ResNet-50/101/152 key for key. With
``--config``, the result must also load strictly into that config's model
(detector checkpoints) or its backbone (ImageNet ones; Swin's per-output
norms, which mmdet adds, excepted): otherwise every missing and unexpected
key and every shape mismatch is named, nothing is written and the exit
status is 1 (e.g. an R50 detector, with CARAFE and a learnable mask
temperature, against the R101 config).
"""
import argparse
import re
import sys

import torch

from apa_mmdet.converters import (OFFICIAL_SAFE_GLOBALS, ConversionError,
                                  convert_official, key_mismatches)
from apa_mmdet.utils import (build_model_without_file_reads,
                             config_dataset_meta, load_weights,
                             unloaded_entries)
from apa_mmdet.version import __version__


def config_mismatches(state_dict: dict, report: dict, config: str) -> list:
    """What keeps ``state_dict`` from loading strictly into ``config``'s
    model (a detector checkpoint) or its backbone (an ImageNet one, keys
    after ``report['key_prefix']`` if any), but keys that only the mmdet
    model has (``report['mmdet_only']``)."""
    model = build_model_without_file_reads(config)
    target = model if report['kind'] == 'detector' else model.backbone
    prefix = report.get('key_prefix', '')
    state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
    mmdet_only = report.get('mmdet_only')
    return [p for p in key_mismatches(state_dict, target.state_dict())
            if not (mmdet_only and re.match(f'missing {mmdet_only}', p))]


def dataset_meta(checkpoint: dict, args) -> tuple:
    """The class names and palette for a converted detector, from the
    official file's ``meta.dataset_meta`` (mmdet's runner saved it) or else
    from ``--config``'s test set, and the report line that says which."""
    meta = checkpoint.get('meta')
    official = meta.get('dataset_meta') if isinstance(meta, dict) else None
    if isinstance(official, dict) and official.get('classes'):
        return official, (f'class names: {len(official["classes"])} from '
                          "the file's meta.dataset_meta")
    if args.config:
        try:
            found = config_dataset_meta(args.config)
        except OSError as err:  # V3Det reads its names from a label file
            return None, (f'class names: none (the test set of {args.config} '
                          f'names them in a file that is not here: {err}); '
                          'convert again where the data is')
        return found, (f'class names: {len(found["classes"])} from the test '
                       f'set of {args.config}')
    return None, ("class names: none (the file has no meta.dataset_meta); "
                  "mmdet's DetInferencer and visualiser would show COCO's: "
                  'convert with --config CONFIG to take them from its data '
                  'set')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output mmengine checkpoint')
    parser.add_argument('--config', help='check that the result loads '
                        "strictly into this config's model")
    args = parser.parse_args(argv)
    try:
        checkpoint = load_weights(
            args.src, map_location='cpu',
            extra_safe_globals=OFFICIAL_SAFE_GLOBALS)
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        sys.stderr.write(f'aglu2apa: {args.src} is not a PyTorch checkpoint '
                         f'({type(err).__name__}: {err})\n')
        return 1
    try:
        state_dict, report = convert_official(checkpoint)
    except ConversionError as err:
        sys.stderr.write(f'aglu2apa: {args.src}: {err}\n')
        return 1
    cfg = report['backbone_cfg']
    if args.config:
        problems = config_mismatches(state_dict, report, args.config)
        if problems:
            target = 'model' if report['kind'] == 'detector' else 'backbone'
            sys.stderr.write(
                f'aglu2apa: {args.src} does not fit the {target} of '
                f'{args.config} ({len(problems)} problems; nothing '
                'written):\n' + ''.join(f'  {p}\n' for p in problems))
            return 1
    meta = dict(converted_from=args.src, kind=report['kind'],
                backbone_cfg=cfg, apa_mmdet_version=__version__)
    lines = [f'{args.src}: official {report["kind"]} checkpoint, backbone '
             f'{report["architecture"]}, {len(state_dict)} keys -> '
             f'{args.dst}']
    if report['kind'] == 'detector':
        meta['dataset_meta'], line = dataset_meta(checkpoint, args)
        lines.append(line)
        if meta['dataset_meta'] is None:
            del meta['dataset_meta']
    torch.save(dict(state_dict=state_dict, meta=meta), args.dst)
    unloaded = unloaded_entries(checkpoint)
    if unloaded:
        lines.append('not loaded (objects of types outside the allow-list; '
                     'nothing of them ran): ' + ', '.join(
                         f'{entry} ({name})' for entry, name in unloaded))
    if report['dropped']:
        lines.append('dropped (classifier head and what mmdet rebuilds): '
                     f'{", ".join(report["dropped"])}')
    if report['unmapped']:
        lines.append('not mapped (outside backbone/neck/rpn_head/roi_head), '
                     f'left out: {", ".join(report["unmapped"])}')
    if args.config:
        lines.append(f'loads strictly into {args.config}')
    if report['low_lambda']:
        lines.append(
            'λ below the 1e-4 floor (used as 1e-4, the Gumbel limit): '
            f'{", ".join(report["low_lambda"])}')
    sys.stdout.write('\n'.join(lines) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
