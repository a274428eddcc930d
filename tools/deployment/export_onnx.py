# Copyright (c) apa_mmdet contributors.
"""Export a detector's exportable part to ONNX and check it in onnxruntime.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx \
        [--part features|backbone|bbox-scores] [--shape H W] [--batch N] \
        [--verify] [--cfg-options KEY=VALUE ...]

CHECKPOINT is an mmdet checkpoint (a runner's file, or one converted by
``tools/model_converters/aglu2apa.py``), or ``none`` for the config's
initial weights (to check that a config exports before weights exist).
The model is built without reading the data set's files. ``--verify`` runs
onnxruntime and PyTorch on another generated input (one more image, or
twice the RoIs plus one: the dynamic dims at work), prints the worst
relative error and exits 1 if it exceeds ``--tolerance``. Parts, and why a
whole detector is not one graph: README.md, "Export".
"""
import argparse
import sys
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.runner import load_checkpoint

from apa_mmdet.deployment import (PARTS, export_onnx, exportable_part,
                                  run_onnx, worst_relative_error)
from apa_mmdet.utils import without_file_reads


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="a checkpoint file, or 'none'")
    parser.add_argument('out', help='the .onnx file to write')
    parser.add_argument('--part', choices=PARTS, default='features')
    parser.add_argument('--shape', type=int, nargs=2, default=(800, 1216),
                        metavar=('H', 'W'),
                        help='example image size, multiples of 32 '
                        '(dynamic in the graph)')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--verify', action='store_true')
    parser.add_argument('--tolerance', type=float, default=1e-4)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def build_detector(config: str, checkpoint: str, cfg_options=None):
    """The config's detector on CPU in eval mode, SyncBN as BN, weights
    from ``checkpoint`` ('none': as initialised)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = revert_sync_batchnorm(
        MODELS.build(without_file_reads(cfg.model.to_dict())))
    if checkpoint != 'none':
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return model.eval()


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.manual_seed(0)
    detector = build_detector(args.config, args.checkpoint,
                              args.cfg_options)
    module, example, dynamic = exportable_part(
        detector, args.part, (args.batch, 3, *args.shape))
    start = time.perf_counter()
    path = export_onnx(module, example, args.out, dynamic, args.opset)
    print(f'wrote {path} ({args.part}, {path.stat().st_size / 2**20:.1f} '
          f'MiB) in {time.perf_counter() - start:.0f} s')
    if not args.verify:
        return 0
    if args.part == 'bbox-scores':
        check = torch.randn(2 * example.shape[0] + 1, *example.shape[1:])
    else:
        check = torch.randn(example.shape[0] + 1, *example.shape[1:]) * 2
    with torch.no_grad():
        expected = module(check)
    error = worst_relative_error(run_onnx(path, check), expected)
    verdict = 'ok' if error <= args.tolerance else 'FAILED'
    print(f'onnxruntime vs PyTorch on input {tuple(check.shape)}: worst '
          f'relative error {error:.1e} over {len(expected)} outputs '
          f'(tolerance {args.tolerance:.0e}): {verdict}')
    return 0 if error <= args.tolerance else 1


if __name__ == '__main__':
    sys.exit(main())
