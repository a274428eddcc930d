# Copyright (c) apa_mmdet contributors.
"""Export a detector's exportable part to ONNX and check it in onnxruntime.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx \
        [--part features|backbone|bbox-scores] [--shape H W] [--batch N] \
        [--verify] [--cfg-options KEY=VALUE ...]

CHECKPOINT is an mmdet checkpoint (a runner's file, or one converted by
``tools/model_converters/aglu2apa.py``), or ``none`` for the config's
initial weights (to check that a config exports before weights exist).
The model is built without reading the data set's files. The image parts
take the data preprocessor's output (normalised, padded to multiples of
32). ``--verify`` runs onnxruntime and PyTorch on a generated input unlike
the example in every dynamic dim, prints the worst relative error and exits
3 if it exceeds ``--tolerance``. Parts, and why a whole detector is not one
graph: README.md, "Export".
"""
import argparse
import sys
import time

import torch
from mmengine.config import DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.runner import load_checkpoint

from apa_mmdet.deployment import (PARTS, check_input, export_onnx,
                                  exportable_part, verify)
from apa_mmdet.deployment.onnx_export import MAX_BATCH, SIZE_DIVISOR
from apa_mmdet.utils import build_model_without_file_reads

OUT_OF_TOLERANCE = 3


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="a checkpoint file, or 'none'")
    parser.add_argument('out', help='the .onnx file to write')
    parser.add_argument('--part', choices=PARTS, default='features')
    parser.add_argument('--shape', type=int, nargs=2, default=(800, 1216),
                        metavar=('H', 'W'),
                        help='example image size of the image parts, '
                        'multiples of 32 (dynamic in the graph)')
    parser.add_argument('--batch', type=int, default=1,
                        help=f'example batch of the image parts, 1 to '
                        f'{MAX_BATCH} (dynamic in the graph)')
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--verify', action='store_true')
    parser.add_argument('--tolerance', type=float, default=1e-4)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if any(side % SIZE_DIVISOR or side <= 0 for side in args.shape):
        parser.error(f'--shape: height and width must be positive '
                     f'multiples of {SIZE_DIVISOR}, got '
                     f'{args.shape[0]} {args.shape[1]}')
    if not 1 <= args.batch <= MAX_BATCH:
        parser.error(f'--batch: 1 to {MAX_BATCH}, got {args.batch}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.manual_seed(0)
    detector = revert_sync_batchnorm(
        build_model_without_file_reads(args.config, args.cfg_options))
    if args.checkpoint != 'none':
        load_checkpoint(detector, args.checkpoint, map_location='cpu',
                        strict=True)
    part = exportable_part(detector, args.part,
                           (args.batch, 3, *args.shape))
    start = time.perf_counter()
    path = export_onnx(part['module'], part['example'], args.out,
                       part['dynamic_shapes'], args.opset,
                       part['input_names'], part['output_names'])
    print(f'wrote {path} ({args.part}: {", ".join(part["output_names"])}; '
          f'{path.stat().st_size / 2**20:.1f} MiB) in '
          f'{time.perf_counter() - start:.0f} s')
    if not args.verify:
        return 0
    inputs = check_input(args.part, part['example'])
    error = verify(path, part['module'], inputs)
    verdict = 'ok' if error <= args.tolerance else 'FAILED'
    print(f'onnxruntime vs PyTorch on input {tuple(inputs.shape)}: worst '
          f'relative error {error:.1e} over {len(part["output_names"])} '
          f'outputs (tolerance {args.tolerance:.0e}): {verdict}')
    return 0 if error <= args.tolerance else OUT_OF_TOLERANCE


if __name__ == '__main__':
    sys.exit(main())
