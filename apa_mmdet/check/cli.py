# Copyright (c) apa_mmdet contributors.
"""The command line: the general checks on every device, then a config's."""
import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch

from ..utils import without_file_reads
from .activation_probe import probe_activations
from .config_audit import check_config
from .op_probes import OP_PROBES, OPS_NEEDED_EVERYWHERE
from .report import Report, devices, stack_versions
from .training import build_model, training_step

TINY_CONFIG = ('configs/synthetic/'
               'mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py')


def check_device(report: Report, device: str,
                 tiny_cfg: Optional[dict]) -> Dict[str, bool]:
    """The general checks on ``device``; returns which mmcv ops work."""
    sys.stdout.write(f'{device}'
                     + (f' ({torch.cuda.get_device_name(device)})'
                        if device.startswith('cuda') else '') + '\n')
    kind = device.split(':')[0]
    working = {
        name: report.run(f'mmcv {name}', lambda probe=probe: probe(device),
                         needed=name in OPS_NEEDED_EVERYWHERE[kind])
        for name, probe in OP_PROBES.items()
    }
    report.run('APA/AGLU', lambda: probe_activations(device))
    if tiny_cfg is None:
        report.line('n/a', 'CPU-sized APA Mask R-CNN training step',
                    f'{TINY_CONFIG} not found (apa_mmdet installed without '
                    'its repository)')
    else:
        report.run('CPU-sized APA Mask R-CNN training step',
                   lambda: training_step(build_model(tiny_cfg), device))
    return working


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description='Install check: what works on this machine, on every '
        'device it has.')
    parser.add_argument('--config', help='also check this config')
    parser.add_argument('--device', help='device the config would train on '
                        '(default: cuda:0 if there is a GPU, else cpu)')
    args = parser.parse_args(argv)
    from mmengine.config import Config
    sys.stdout.write('stack\n')
    for name, value in stack_versions().items():
        sys.stdout.write(f'  {name:24}{value}\n')
    tiny_path = Path(__file__).resolve().parents[2] / TINY_CONFIG
    tiny_cfg = without_file_reads(Config.fromfile(
        tiny_path).model.to_dict()) if tiny_path.is_file() else None
    report = Report()
    working = {device: check_device(report, device, tiny_cfg)
               for device in devices()}
    if args.config:
        gpus = devices()[1:]
        device = args.device or (gpus[0] if gpus else 'cpu')
        if device not in working:
            working[device] = check_device(report, device, tiny_cfg)
        check_config(report, args.config, device, working[device])
    if report.failures:
        sys.stdout.write(f'\n{len(report.failures)} problem(s): '
                         f'{"; ".join(report.failures)}\n')
        return 1
    sys.stdout.write('\neverything checked works\n')
    return 0
