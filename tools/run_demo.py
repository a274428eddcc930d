# Copyright (c) apa_mmdet contributors.
"""The main job: train and evaluate APA Mask R-CNN on generated LVIS data.

1. generates the long-tailed LVIS v1-format set in ``data/synthetic_lvis``
   (if missing);
2. trains the CPU-sized SE-R50-APA Mask R-CNN
   (``configs/synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py``)
   with mmdet's ``tools/train.py``, showing its progress;
3. evaluates the last checkpoint with mmdet's ``tools/test.py`` (LVIS bbox
   and segm through the fixed lvis-api) and prints AP, APr, APc and APf.

Usage: ``python tools/run_demo.py [--work-dir work_dirs/demo] [--record
FILE]``; the full logs stay in the work dir. ``--record`` keeps the run's
record (config, seed, commit, wall time, metrics) as JSON: the model zoo's
and the README's demo numbers are written from the committed one
(``docs/results/demo/``).
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(
    ROOT, 'configs/synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py')
DATA_ROOT = 'data/synthetic_lvis'
METRIC = re.compile(r'lvis/(bbox|segm)_(AP[rcf]?):\s+(-?[\d.]+)')


def run(step: str, args: list, log_file: str, show) -> str:
    """Run a tool, echo the lines ``show`` accepts, keep the whole log."""
    sys.stdout.write(f'\n== {step}\n')
    sys.stdout.flush()
    lines = []
    with open(log_file, 'w') as log, subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=dict(os.environ, DATA_ROOT=DATA_ROOT + '/'),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True) as proc:
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            if show(line):
                sys.stdout.write(line)
                sys.stdout.flush()
    if proc.returncode:
        sys.stdout.write(''.join(lines[-30:]))
        raise SystemExit(f'{step} failed (exit {proc.returncode}); log: '
                         f'{log_file}')
    return ''.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--record', metavar='FILE',
                        help='keep the run\'s record (JSON) here')
    args = parser.parse_args()
    from mmengine.config import Config

    from apa_mmdet.evaluation.metrics.lvis_summary import group_table
    from apa_mmdet.utils import source_commit
    work_dir = osp.join(ROOT, args.work_dir)
    if not osp.isfile(osp.join(ROOT, DATA_ROOT, 'annotations',
                               'lvis_v1_val.json')):
        sys.stdout.write(f'generating the synthetic LVIS v1 set in '
                         f'{DATA_ROOT}\n')
        from apa_mmdet.datasets.synthetic import generate_lvis
        generate_lvis(osp.join(ROOT, DATA_ROOT))
    train_log = osp.join(work_dir, 'train.log')
    test_log = osp.join(work_dir, 'test.log')
    os.makedirs(work_dir, exist_ok=True)
    commit = source_commit(ROOT)  # the code that trains, taken at the start
    start = time.time()
    run('training with tools/train.py (8 epochs, a few minutes on 2 cores)',
        ['tools/train.py', CONFIG, '--work-dir', work_dir], train_log,
        lambda line: 'Epoch(train)' in line or 'Error' in line)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    output = run('evaluating with tools/test.py',
                 ['tools/test.py', CONFIG, checkpoint, '--work-dir', work_dir],
                 test_log, lambda line: 'Error' in line)
    metrics = {}
    for iou_type, key, value in METRIC.findall(output):
        metrics.setdefault(iou_type, {})[key] = float(value)
    sys.stdout.write('\nLVIS-format evaluation of the trained model '
                     f'({checkpoint}):\n{group_table(metrics)}')
    if args.record:
        record = dict(
            config=osp.relpath(CONFIG, ROOT),
            seed=Config.fromfile(CONFIG).randomness.seed, commit=commit,
            wall_time_s=round(time.time() - start, 1),
            cpu_count=os.cpu_count(), metrics=metrics)
        os.makedirs(osp.dirname(osp.abspath(args.record)), exist_ok=True)
        with open(args.record, 'w') as f:
            json.dump(record, f, indent=1)
        sys.stdout.write(f'record: {args.record}\n')


if __name__ == '__main__':
    main()
