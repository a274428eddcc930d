# Copyright (c) apa_mmdet contributors.
"""Write docs/model_zoo.md from the configs' metafiles, and the numbers of
the runs measured here from their records.

A metafile entry with ``Record: docs/results/...json`` (a run's record, e.g.
``tools/run_demo.py --record``) gets its ``Results`` metrics from it, and
the README's demo table is the demo record's. Usage:
``python tools/misc/model_zoo.py [--check]``: writes the page, those
metrics and that table, or with ``--check`` exits 1 where a committed file
differs from what it would write.
"""
import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / 'docs' / 'model_zoo.md'
README = ROOT / 'README.md'
DEMO_RECORD = 'docs/results/demo/mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.json'
# the demo's table in the README: the block that run_demo.py prints
README_TABLE = re.compile(r'(```\n)( +AP +APr +APc +APf\n.*?)(```)', re.S)
METRIC_NAMES = dict(segm='mask', bbox='box')
FOLDERS = ('lvis', 'v3det', 'coco', 'synthetic')
SWITCHES = ('Backbone', 'Activation Sites', 'SE', 'Classifier', 'Loss',
            'Mask Predictor', 'Evaluation', 'Test-time Calibration')

HEADER = """\
# Model zoo

Every config of apa_mmdet, what it switches on, the number it is meant to reproduce and where that
number comes from, the weights it starts from, and how to run it. Generated from the configs'
`metafile.yml` files by `python tools/misc/model_zoo.py` (a test checks the two agree). Official
numbers are the official code's releases, **not measured with apa_mmdet** unless the source says so;
the official detector weights are Google Drive files of the official README, to be converted once
(`tools/model_converters/aglu2apa.py SRC DST --config CONFIG`: unwraps, checks every key against the
config, writes an mmengine checkpoint).

## Commands

With `CONFIG` a config below, `CHECKPOINT` its trained or converted weights, data under `DATA_ROOT`
(mmdet's layout; default `data/<dataset>/`) and converted ImageNet backbones under `CHECKPOINT_ROOT`
(default `checkpoints/`):

```bash
# 1 GPU (the learning rate scaled from the recipe's batch by --auto-scale-lr)
python tools/train.py CONFIG --auto-scale-lr
python tools/test.py CONFIG CHECKPOINT
# 8 GPUs (the recipes' own batch)
bash tools/dist_train.sh CONFIG 8
bash tools/dist_test.sh CONFIG CHECKPOINT 8
# Slurm (the work dir on a file system every node sees)
GPUS=8 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR
GPUS=8 bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT
```

A training run leaves `WORK_DIR/<final checkpoint>` (column "ends at"). The CPU-sized configs run the
same commands on a CPU (`tools/dist_train.sh CONFIG 2` with gloo).
"""


def _metric_text(results) -> str:
    parts = []
    for result in results or []:
        parts += [f'{name} {value}'
                  for name, value in result['Metrics'].items()]
    return ', '.join(parts) or '–'


def record_metrics(record: dict) -> dict:
    """Per metafile task, the metrics line of a record (LVIS keys, in %)."""
    return {
        task: ', '.join(f'{METRIC_NAMES[iou]} {key}: '
                        f'{100 * value:.1f}'
                        for key, value in record['metrics'][iou].items())
        for task, iou in (('Instance Segmentation', 'segm'),
                          ('Object Detection', 'bbox'))}


def metafile_with_records(text: str) -> str:
    """``text`` (a metafile) with each recorded entry's metrics lines
    written from its record."""
    entries = re.split(r'(?m)^(?=  - Name: )', text)
    for index, entry in enumerate(entries):
        found = re.search(r'(?m)^    Record: (\S+)$', entry)
        if not found:
            continue
        record = json.loads((ROOT / found[1]).read_text())
        if f'    Config: {record["config"]}\n' not in entry:
            raise ValueError(f'{found[1]} is a record of {record["config"]}'
                             ', not of the entry that names it')
        for task, metrics in record_metrics(record).items():
            entry = re.sub(
                rf'(- Task: {task}\n.*?Metrics: )\{{[^}}]*\}}',
                lambda m: m[1] + '{' + metrics + '}', entry, count=1,
                flags=re.S)
        entries[index] = entry
    return ''.join(entries)


def readme_with_demo_table(text: str) -> str:
    """The README with its demo table written from the demo's record."""
    from apa_mmdet.evaluation.metrics.lvis_summary import group_table
    record = json.loads((ROOT / DEMO_RECORD).read_text())
    return README_TABLE.sub(
        lambda m: m[1] + group_table(record['metrics']) + m[3], text, count=1)


def page() -> str:
    lines = [HEADER]
    for folder in FOLDERS:
        metafile = yaml.safe_load(
            (ROOT / 'configs' / folder / 'metafile.yml').read_text())
        collection = metafile['Collections'][0]
        meta = collection['Metadata']
        lines += [f'## {collection["Name"]}', '',
                  f'{meta["Training Data"]}; {meta["Training Resources"]}; '
                  f'details in [{collection["README"]}](../'
                  f'{collection["README"]}).', '',
                  '| config | switches on | number to reproduce (source) | '
                  'starts from | ends at |', '|---|---|---|---|---|']
        first = metafile['Models'][0]['Metadata']
        for index, model in enumerate(metafile['Models']):
            info = model['Metadata']
            changed = [key for key in SWITCHES
                       if key in info and (not index or info[key] !=
                                           first.get(key))]
            switches = '; '.join(f'{key.lower()}: {info[key]}'
                                 for key in changed)
            if index:
                switches = (f'as the first row, but {switches}' if switches
                            else 'as the first row')
            start = info['Initialised From']
            if index and start == first['Initialised From']:
                start = 'as the first row'
            weights = (f' [official weights]({model["Weights"]})'
                       if 'Weights' in model else '')
            lines.append(
                f'| [{model["Name"]}](../{model["Config"]}) | {switches} | '
                f'{_metric_text(model["Results"])} ({model["Source"]})'
                f'{weights} | {start} | {info["Final Checkpoint"]} |')
        lines.append('')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true')
    args = parser.parse_args(argv)
    files = {path: metafile_with_records(path.read_text())
             for path in sorted((ROOT / 'configs').glob('*/metafile.yml'))}
    files[README] = readme_with_demo_table(README.read_text())
    stale = [path for path, text in files.items()
             if path.read_text() != text]
    if not args.check:
        for path in stale:
            path.write_text(files[path])
    text = page()
    if not PAGE.is_file() or PAGE.read_text() != text:
        stale.append(PAGE)
        if not args.check:
            PAGE.write_text(text)
    if args.check and stale:
        for path in stale:
            sys.stderr.write(f'{path} is out of date: run python '
                             'tools/misc/model_zoo.py\n')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
