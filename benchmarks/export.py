# Copyright (c) apa_mmdet contributors.
"""CPU inference latency of exported backbones + FPN: SE-R50-APA against
SE-R50 (ReLU), PyTorch eager against onnxruntime, side by side.

Both come from the LVIS recipes (the APA model and its ReLU SE-ResNet
ablation), built without data files, initial weights (latency does not
depend on them), eval mode. Each is exported by ``apa_mmdet.deployment``
(torch's ONNX exporter, opset 18, dynamic batch and size) and checked in
onnxruntime (worst error relative to each output's scale, on another batch and
size). Then rounds of
one forward per model and runtime, interleaved; medians. Eager APA runs the
fused CPU kernel; the ONNX graph holds the formula in standard operators.
torch and onnxruntime use the same number of threads.

Usage: ``python -m benchmarks.export [--shape 1x3x800x1216] [--reps 5]
[--out-dir work_dirs/export_benchmark]``
"""
import argparse
import statistics
import sys
import time

from ._common import ROOT, fix_allocator

MODELS_BY_NAME = {
    'SE-R50 (ReLU)': 'configs/lvis/mask-rcnn_se-r50_fpn_sample1e-3_ms-2x_'
    'lvis-v1.py',
    'SE-R50-APA': 'configs/lvis/mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_'
    'lvis-v1.py',
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--shape', default='1x3x800x1216')
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--out-dir', default='work_dirs/export_benchmark')
    args = parser.parse_args()
    fix_allocator()
    import onnxruntime
    import torch
    from mmengine.model import revert_sync_batchnorm

    from apa_mmdet.deployment import (DetectorFeatures, check_input,
                                      export_onnx, image_dynamic_shapes,
                                      onnx_session, verify)
    from apa_mmdet.utils import build_model_without_file_reads

    torch.manual_seed(0)
    shape = tuple(int(v) for v in args.shape.split('x'))
    x = torch.randn(shape)
    threads = torch.get_num_threads()
    eager, sessions, errors, export_s = {}, {}, {}, {}
    for name, config in MODELS_BY_NAME.items():
        detector = revert_sync_batchnorm(
            build_model_without_file_reads(f'{ROOT}/{config}')).eval()
        module = DetectorFeatures(detector, with_rpn=False).eval()
        path = f'{args.out_dir}/{name.split()[0]}_fpn.onnx'
        start = time.perf_counter()
        export_onnx(module, x, path, (image_dynamic_shapes(*shape[2:]), ))
        export_s[name] = time.perf_counter() - start
        sessions[name] = onnx_session(path, threads)
        errors[name] = verify(path, module, check_input('features', x))
        eager[name] = module
    feed = x.numpy()
    times = {(n, r): [] for n in eager for r in ('eager', 'onnxruntime')}
    with torch.no_grad():
        for rep in range(args.reps + 1):
            for name in eager:
                start = time.perf_counter()
                eager[name](x)
                middle = time.perf_counter()
                session = sessions[name]
                session.run(None, {session.get_inputs()[0].name: feed})
                end = time.perf_counter()
                if rep:  # the first round warms up
                    times[name, 'eager'].append(middle - start)
                    times[name, 'onnxruntime'].append(end - middle)
    median = {k: statistics.median(v) for k, v in times.items()}
    base = 'SE-R50 (ReLU)'
    sys.stdout.write(
        f'torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, '
        f'{threads} threads; backbone + FPN, input {args.shape}, float32, '
        f'median of {args.reps} interleaved forwards\n\n'
        f'{"model":16}{"eager s":>9}{"ORT s":>8}{"ORT/eager":>11}'
        f'{"x ReLU eager":>14}{"x ReLU ORT":>12}{"max rel err":>13}'
        f'{"export s":>10}\n')
    for name in eager:
        e, o = median[name, 'eager'], median[name, 'onnxruntime']
        sys.stdout.write(
            f'{name:16}{e:9.3f}{o:8.3f}{o / e:11.2f}'
            f'{e / median[base, "eager"]:14.2f}'
            f'{o / median[base, "onnxruntime"]:12.2f}'
            f'{errors[name]:13.1e}{export_s[name]:10.0f}\n')


if __name__ == '__main__':
    main()
