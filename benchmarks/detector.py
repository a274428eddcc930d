# Copyright (c) apa_mmdet contributors.
"""Detector cost: Mask R-CNN train-step time and peak memory, side by side.

The LVIS recipe's Mask R-CNN (Gumbel classifier with rare-negative dropping,
cosine mask predictor; deconv upsampling in place of CARAFE, which has no
CPU kernel) on mmdet's ResNet-50, the SE-ResNet-50 with ReLU (the ReLU
ablation config) and the official SE-ResNet-50-APA (the recipe), also with
``freeze_stem_act=True``. Every model trains in a fresh process on the same
seeded batch: a warm-up SGD step, then the timed steps; only the
ground-truth boxes are positive RoIs, so the heads' work does not depend on
the random weights. Reported: the median step time and the peak memory of a
step (peak RSS growth over the steps, beyond the built model and batch).
Processes are interleaved over rounds; ratios are to the SE-ResNet-50 with
ReLU from the same run.

Usage: ``python -m benchmarks.detector [--size 384] [--batch 2]
[--steps 2] [--rounds 2] [--bf16]``
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from ._common import ROOT, fix_allocator, worker_command

RECIPE = 'configs/lvis/mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
RELU_SE = 'configs/lvis/mask-rcnn_se-r50_fpn_sample1e-3_ms-2x_lvis-v1.py'
# mmcv's CPU nms/roi_align have no bfloat16 kernels (same modules in fp32)
FP32_ROI_OPS = 'configs/_base_/models/fp32-roi-ops.py'
MODELS = ('R50 (ReLU)', 'SE-R50 (ReLU)', 'SE-R50-APA', 'SE-R50-APA frozen stem')
NUM_CLASSES = 1203


def write_frequencies(path: str) -> None:
    """LVIS-style category counts (Zipf) for the Gumbel loss's tail."""
    categories = [dict(id=i + 1, name=f'c{i}', image_count=max(1, 5000 //
                                                               (i + 1)))
                  for i in range(NUM_CLASSES)]
    annotations = [dict(id=i, image_id=i, category_id=1) for i in range(5000)]
    with open(path, 'w') as f:
        json.dump(dict(categories=categories, annotations=annotations), f)


def build(name: str, ann_file: str):
    from mmdet.registry import MODELS as REGISTRY
    from mmengine.config import Config
    apa = name.startswith('SE-R50-APA')
    cfg = Config.fromfile(os.path.join(ROOT, RECIPE if apa else RELU_SE))
    model = cfg.model
    model.merge(Config.fromfile(os.path.join(ROOT, FP32_ROI_OPS)).fp32_roi_ops)
    model.roi_head.mask_head.upsample_cfg = dict(type='deconv',
                                                 scale_factor=2)
    model.roi_head.bbox_head.loss_cls.ann_file = ann_file
    model.backbone.init_cfg = None
    if name == 'SE-R50-APA frozen stem':
        model.backbone.freeze_stem_act = True
    # only the ground truth (added as proposals) is positive: every model
    # does the same RoI-head work whatever its random initialisation
    model.train_cfg.rcnn.assigner.update(pos_iou_thr=0.9999,
                                         min_pos_iou=0.9999)
    if name == 'R50 (ReLU)':
        model.backbone = dict(
            type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
            frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=True),
            norm_eval=True, style='pytorch')
    return REGISTRY.build(model)


def rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def worker(args) -> None:
    """One model: warm-up step, timed steps; prints a JSON line."""
    import torch
    from mmdet.testing import demo_mm_inputs

    import apa_mmdet  # noqa: F401
    torch.manual_seed(0)
    model = build(args.worker, args.ann_file)
    model.train()
    packed = demo_mm_inputs(
        args.batch, [[3, args.size, args.size]] * args.batch,
        num_items=[8] * args.batch, num_classes=NUM_CLASSES, with_mask=True)
    data = model.data_preprocessor(packed, True)
    # the recipe's SGD at its first warm-up rate (0.02 x 0.001): from
    # random weights a full rate diverges within steps and empties the
    # RoI heads, which would time a different workload per model
    optimizer = torch.optim.SGD(model.parameters(), lr=2e-5, momentum=0.9,
                                weight_decay=1e-4)

    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=args.bf16):
            losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    before = rss_bytes()
    step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sys.stdout.write(json.dumps(dict(times=times, peak=peak - before)) + '\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=384)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--steps', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--bf16', action='store_true',
                        help='train under CPU bfloat16 autocast')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--ann-file', help=argparse.SUPPRESS)
    args = parser.parse_args()
    fix_allocator()
    if args.worker:
        return worker(args)
    times = {name: [] for name in MODELS}
    peaks = {name: [] for name in MODELS}
    with tempfile.TemporaryDirectory() as tmp:
        ann_file = os.path.join(tmp, 'lvis_frequencies.json')
        write_frequencies(ann_file)
        for _ in range(args.rounds):
            for name in MODELS:
                command = worker_command(
                    __spec__.name, '--worker', name, '--ann-file', ann_file,
                    '--size', str(args.size), '--batch', str(args.batch),
                    '--steps', str(args.steps),
                    *(['--bf16'] if args.bf16 else []))
                out = subprocess.run(command, check=True, capture_output=True,
                                     text=True, cwd=ROOT).stdout
                result = json.loads(out.strip().splitlines()[-1])
                times[name] += result['times']
                peaks[name].append(result['peak'])
    import torch
    sys.stdout.write(
        f'Mask R-CNN train step (LVIS recipe heads, 1203 classes), batch '
        f'{args.batch} x {args.size}x{args.size}, '
        f'{"bf16 autocast" if args.bf16 else "float32"}, '
        f'{torch.get_num_threads()} threads, {args.rounds} interleaved '
        f'processes x {args.steps} steps per model\n\n'
        f'{"backbone":24}{"step s":>8}{"x SE-R50":>10}{"x R50":>7}'
        f'{"peak MB":>9}{"x SE-R50":>10}{"x R50":>7}\n')
    step = {n: statistics.median(v) for n, v in times.items()}
    peak = {n: max(v) for n, v in peaks.items()}
    for name in MODELS:
        sys.stdout.write(
            f'{name:24}{step[name]:8.2f}'
            f'{step[name] / step["SE-R50 (ReLU)"]:10.2f}'
            f'{step[name] / step["R50 (ReLU)"]:7.2f}'
            f'{peak[name] / 2**20:9.0f}'
            f'{peak[name] / peak["SE-R50 (ReLU)"]:10.2f}'
            f'{peak[name] / peak["R50 (ReLU)"]:7.2f}\n')


if __name__ == '__main__':
    main()
