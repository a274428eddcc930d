# Copyright (c) apa_mmdet contributors.
"""What a config needs: its model's mmcv ops and a training step on the
device it would train on, and the data and weight files it names."""
import os.path as osp
import sys
from typing import Dict, List

import torch

from ..utils import without_file_reads
from .op_probes import needed_ops
from .report import Report
from .training import build_model, training_step


def config_files(cfg) -> Dict[str, List[str]]:
    """The data and weight files a config reads: path -> what reads it."""
    files: Dict[str, List[str]] = {}

    def add(what: str, path: str) -> None:
        files.setdefault(path, []).append(what)

    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        dataset = loader and loader.get('dataset')
        while dataset is not None and 'dataset' in dataset:
            dataset = dataset['dataset']  # dataset wrappers (RFS)
        if dataset is not None:
            root = dataset.get('data_root', '')
            add(f'{split} annotations',
                osp.join(root, dataset.get('ann_file', '')))
            add(f'{split} images',
                osp.join(root, dataset.get('data_prefix', {}).get('img', '')))
    for name in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(name)
        if isinstance(evaluator, dict) and evaluator.get('ann_file'):
            add(name, evaluator['ann_file'])

    def visit(node, path):
        if isinstance(node, dict):
            if node.get('type') == 'Pretrained':
                add(f'{path} weights', node['checkpoint'])
            if node.get('type') == 'APADropLoss' and node.get('ann_file'):
                add(f'{path} class frequencies', node['ann_file'])
            for key, value in node.items():
                visit(value, f'{path}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                visit(value, f'{path}[{i}]')

    visit(cfg.model.to_dict(), 'model')
    if cfg.get('load_from'):
        add('load_from', cfg.load_from)
    return files


def check_config(report: Report, path: str, device: str,
                 working: Dict[str, bool]) -> None:
    """What the config needs on ``device``; ``working``: which mmcv ops
    work there."""
    from mmengine.config import Config
    sys.stdout.write(f'{path} on {device}\n')
    cfg = Config.fromfile(path)
    built: List[torch.nn.Module] = []
    ops: List[str] = []

    def build() -> str:
        built.append(build_model(without_file_reads(cfg.model.to_dict())))
        ops.extend(needed_ops(built[0]))
        return 'runs mmcv ' + ', '.join(ops) if ops else 'no mmcv ops'

    if not report.run('builds its model', build):
        return
    for name in ops:
        if working[name]:
            report.line('ok', f'needs mmcv {name}', f'works on {device}')
        else:
            report.line('FAIL', f'needs mmcv {name}',
                        f'not available on {device} (see above)')
    if all(working[name] for name in ops):
        report.run('training step of its model',
                   lambda: training_step(built[0], device))
    else:
        report.line('skip', 'training step of its model',
                    'an mmcv op it needs is missing')
    for file, uses in config_files(cfg).items():
        what = ', '.join(uses)
        if osp.exists(file):
            report.line('ok', what, file)
        else:
            report.line('FAIL', what, f'{file} is missing')
