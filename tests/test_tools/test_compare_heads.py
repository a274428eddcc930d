# Copyright (c) apa_mmdet contributors.
"""tools/analysis_tools/compare_heads.py: the long-tail benchmark's variant
configs make the LVIS ablation configs' changes; a two-iteration comparison
of three of them on the generated long-tailed set keeps one record per run
(unrounded metrics, per-category AP, APA's λ, κ), reports from the records,
resumes, and writes and checks a document's tables."""
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from apa_mmdet.analysis.comparison import (contrast, differences_table,
                                           factorial_table, summary_table,
                                           variant_labels)
from tests.helpers.configs import CONFIG_ROOT

ROOT = CONFIG_ROOT.parent
TOOL = ROOT / 'tools/analysis_tools/compare_heads.py'
LT = 'mask-rcnn_se-r50-apa-tiny_fpn_{}synthetic-lvis-lt.py'
LVIS = 'mask-rcnn_se-r50-apa_fpn_{}sample1e-3_ms-2x_lvis-v1.py'
ABLATIONS = ['sigmoid-cls_', 'apa-cls_', 'softmax-ce_', 'seesaw-loss_']


def head_delta(cfg: Config) -> dict:
    """What a head variant changes: the classifier and its loss, without
    the data set's numbers (classes, annotation file, tail threshold)."""
    head = cfg.model.roi_head.bbox_head
    loss = {k: v for k, v in head.loss_cls.items()
            if k not in ('num_classes', 'ann_file', 'tail_thr')}
    loss.get('act_cfg', {}).pop('num_parameters', None)
    inits = head.get('init_cfg') or []
    fc_cls = [i for i in (inits if isinstance(inits, list) else [inits])
              if i.get('override', {}).get('name') == 'fc_cls']
    return dict(loss=loss, predictor=head.get('cls_predictor_cfg'),
                fc_cls_bias=[i.get('bias') for i in fc_cls],
                backbone=(cfg.model.backbone.act_cfg,
                          cfg.model.backbone.se_cfg))


@pytest.mark.parametrize('variant', [''] + ABLATIONS)
def test_long_tail_variants_make_the_lvis_ablations_changes(variant):
    lt = Config.fromfile(CONFIG_ROOT / 'synthetic' / LT.format(variant))
    lvis = Config.fromfile(CONFIG_ROOT / 'lvis' / LVIS.format(variant))
    assert head_delta(lt) == head_delta(lvis)


def test_relu_backbone_variant_is_the_plain_se_ablation():
    lt = Config.fromfile(
        CONFIG_ROOT / 'synthetic/mask-rcnn_se-r50-tiny_fpn_synthetic-lvis-lt.py')
    lvis = Config.fromfile(
        CONFIG_ROOT / 'lvis/mask-rcnn_se-r50_fpn_sample1e-3_ms-2x_lvis-v1.py')
    assert head_delta(lt) == head_delta(lvis)
    assert lt.model.backbone.act_cfg.type == 'ReLU'


@pytest.mark.parametrize('variant,expected', [
    ('no-drop_', dict(act='GumbelClassScore', tail_thr=0.)),
    ('sigmoid-cls_no-drop_', dict(act='SigmoidClassScore', tail_thr=0.)),
    ('apa-cls-from-sigmoid_', dict(act='APAClassScore', lambda_init=1.,
                                   kappa_init=1., bias=-7.389)),
])
def test_drop_loss_and_apa_start_variants(variant, expected):
    head = Config.fromfile(CONFIG_ROOT / 'synthetic' /
                           LT.format(variant)).model.roi_head.bbox_head
    base = Config.fromfile(CONFIG_ROOT / 'synthetic' /
                           LT.format('')).model.roi_head.bbox_head
    assert head.loss_cls.act_cfg.type == expected['act']
    assert head.loss_cls.tail_thr == expected.get('tail_thr',
                                                  base.loss_cls.tail_thr)
    for key in ('lambda_init', 'kappa_init'):
        if key in expected:
            assert head.loss_cls.act_cfg[key] == expected[key]
    if 'bias' in expected:
        assert head.init_cfg[0].bias == expected['bias']


@pytest.mark.parametrize('variant,lr_mult', [
    ('apa-cls-from-sigmoid_no-decay_', 1.),
    ('apa-cls-from-sigmoid_no-decay_lr10x_', 10.)])
def test_room_to_move_variants_change_only_the_classifiers_groups(
        variant, lr_mult):
    """λ, κ of the classifier out of decay at lr_mult × the base rate; the
    backbone's AGLU λ, κ and the rest keep the recipe's rate and decay."""
    from mmengine.optim import build_optim_wrapper

    from apa_mmdet.analysis.comparison_runs import parameter_lr
    from mmdet.registry import MODELS
    cfg = Config.fromfile(CONFIG_ROOT / 'synthetic' / LT.format(variant))
    start = Config.fromfile(CONFIG_ROOT / 'synthetic' /
                            LT.format('apa-cls-from-sigmoid_'))
    assert cfg.model == start.model
    model = MODELS.build(cfg.model)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    base = cfg.optim_wrapper.optimizer
    decay = {id(p): group['weight_decay'] for group in optimizer.param_groups
             for p in group['params']}
    for name, parameter in model.named_parameters():
        classifier = name.startswith('roi_head.bbox_head.loss_cls.act.')
        assert parameter_lr(optimizer, parameter) == pytest.approx(
            base.lr * (lr_mult if classifier else 1.)), name
        assert decay[id(parameter)] == (
            0. if classifier else base.weight_decay), name
    assert 'backbone.relu.lambda_param' in dict(model.named_parameters())
    with pytest.raises(KeyError, match='not in the optimizer'):
        parameter_lr(optimizer, torch.nn.Parameter(torch.zeros(1)))


def test_second_set_thresholds_come_from_its_own_image_count(monkeypatch):
    from apa_mmdet.datasets.synthetic_long_tail import long_tail_train_images
    monkeypatch.setenv('LT_DATA_SEED', '1')
    cfg = Config.fromfile(CONFIG_ROOT / 'synthetic' / LT.format('sigmoid-cls_'))
    images = long_tail_train_images(1)
    assert cfg.data_seed == 1 and images != 2307
    assert cfg.data_root == 'data/synthetic_lvis_lt_seed1/'
    assert cfg.model.roi_head.bbox_head.loss_cls.tail_thr * images == \
        pytest.approx(0.0011 * 99388)
    assert cfg.train_dataloader.dataset.oversample_thr * images == \
        pytest.approx(1e-3 * 99388)


def test_hard_variant_has_its_own_folder_records_and_same_thresholds(
        monkeypatch):
    base = Config.fromfile(CONFIG_ROOT / 'synthetic' / LT.format(''))
    tool = runpy.run_path(str(TOOL), run_name='compare_heads')
    monkeypatch.setenv('LT_VARIATION', 'hard')
    config = CONFIG_ROOT / 'synthetic' / LT.format('sigmoid-cls_')
    hard = Config.fromfile(config)
    assert hard.data_root == 'data/synthetic_lvis_lt_hard/'
    assert hard.model.roi_head.bbox_head.loss_cls.tail_thr == \
        base.model.roi_head.bbox_head.loss_cls.tail_thr
    assert tool['record_path']('r', str(config), hard, 1) == (
        f'r/{config.stem}_data0-hard_seed1.json')
    assert tool['record_path']('r', str(config), base, 1) == (
        f'r/{config.stem}_data0_seed1.json')
    monkeypatch.setenv('LT_DATA_SEED', '1')
    assert Config.fromfile(config).data_root == \
        'data/synthetic_lvis_lt_hard_seed1/'
    monkeypatch.setenv('LT_VARIATION', 'harder')
    with pytest.raises(ValueError, match="variation must be one of .*"
                       "'harder'"):
        Config.fromfile(config)


def test_variant_labels_drop_the_shared_parts():
    stems = [LT.format(v)[:-3] for v in ('', 'sigmoid-cls_',
                                         'sigmoid-cls_no-drop_')]
    assert variant_labels(stems) == ['base', 'sigmoid-cls',
                                     'sigmoid-cls_no-drop']


def fake_run(seed, shift, rare_ap):
    """A record with 4 categories (two rare) and consistent metrics."""
    category_ap = {'1': rare_ap[0], '2': rare_ap[1], '3': 0.5 + shift,
                   '4': float('nan')}
    metrics = dict(AP=np.nanmean(list(category_ap.values())),
                   APr=float(np.mean(rare_ap)), APc=0.5 + shift, APf=-1.)
    return dict(seed=seed, metrics=dict(bbox=metrics),
                category_ap=dict(bbox=category_ap),
                category_frequency={'1': 'r', '2': 'r', '3': 'c', '4': 'f'})


def test_paired_differences_and_interval_follow_the_records():
    reference = [fake_run(0, 0., (0.2, 0.4)), fake_run(1, 0., (0.3, 0.3))]
    variant = [fake_run(1, .1, (0.5, 0.5)), fake_run(0, .1, (0.4, 0.6))]
    per_seed, diffs = contrast([(1, variant), (-1, reference)], 'bbox',
                               'APr')
    assert per_seed == pytest.approx({0: 0.2, 1: 0.2})  # paired by seed
    np.testing.assert_allclose(diffs, [0.2, 0.2])
    # its mean is the mean over seeds of the APr difference
    assert diffs.mean() == pytest.approx(np.mean(list(per_seed.values())))
    table = differences_table(dict(ref=reference, var=variant), 'APr')
    # every category moved by 0.2: a zero-width interval
    assert '| var | +0.200 (seed 0), +0.200 (seed 1) | +0.200 [+0.200, ' \
        '+0.200] |' in table
    assert contrast([(1, variant), (-1, reference)], 'bbox',
                    'AP')[1].size == 3  # the category without AP left out
    assert contrast([(1, variant[1:]), (-1, reference[1:])], 'bbox',
                    'APr')[0] == {}  # no seed in common
    summary = summary_table(dict(ref=reference, var=variant[:1]), [0, 1])
    assert '| var (1 of 2 seeds) | ' in summary
    assert '| ref | 0.367 ± 0.000 | 0.300 ± 0.000 | 0.500 ± 0.000 |' in summary


def test_factorial_table_gives_margins_and_interaction_per_seed():
    """A 2 × 2 whose rare categories move by known amounts: the column
    factor +0.1, the row factor +0.3, +0.05 more where both are second."""
    def cell(shift):
        return [fake_run(0, 0., (0.2 + shift, 0.4 + shift)),
                fake_run(1, 0., (0.3 + shift, 0.1 + shift))]

    cells = {('g', 'kept'): cell(0.), ('g', 'off'): cell(.1),
             ('s', 'kept'): cell(.3), ('s', 'off'): cell(.45)}
    table = factorial_table(cells, ('g', 's'), ('kept', 'off'), 'APr')
    assert table.startswith('| bbox APr | kept | off | off − kept |')
    assert '| g | 0.250 ± 0.071 | 0.350 ± 0.071 | +0.100 [+0.100, ' \
        '+0.100] (+0.100, +0.100) |' in table
    assert '| s | 0.550 ± 0.071 | 0.700 ± 0.071 | +0.150 [+0.150, ' \
        '+0.150] (+0.150, +0.150) |' in table
    assert '| s − g | +0.300 [+0.300, +0.300] (+0.300, +0.300) | +0.350 ' \
        '[+0.350, +0.350] (+0.350, +0.350) | +0.050 [+0.050, +0.050] ' \
        '(+0.050, +0.050) |' in table


def test_grid_needs_four_configs_and_two_levels_each(capsys):
    tool = runpy.run_path(str(TOOL), run_name='compare_heads')
    with pytest.raises(SystemExit):
        tool['parse_args'](['a.py', 'b.py', '--grid', 'g,s', 'kept,off'])
    assert "--grid R0,R1 C0,C1 takes two levels per factor and four " \
        "CONFIGs, got (('g', 's'), ('kept', 'off')) and 2 CONFIGs" in \
        capsys.readouterr().err
    args = tool['parse_args'](['a.py', 'b.py', 'c.py', 'd.py', '--grid',
                               'g,s', 'kept,off'])
    assert args.grid == (('g', 's'), ('kept', 'off'))


def test_bootstrap_interval_covers_the_mean_and_repeats():
    from apa_mmdet.analysis.comparison import bootstrap_interval
    values = np.random.default_rng(3).normal(0.05, 0.1, 56)
    low, high = bootstrap_interval(values)
    assert low < values.mean() < high
    # about ±1.96 standard errors
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert high - low == pytest.approx(2 * half, rel=0.15)
    assert bootstrap_interval(values) == (low, high)


def run_in_process(capsys, argv):
    """The tool's main(argv) in this process (the user's command runs
    once as a subprocess above; the later calls only read records):
    (exit code, stdout, stderr)."""
    capsys.readouterr()
    with mock.patch.dict(os.environ):  # --data sets DATA_ROOT: restored
        code = runpy.run_path(str(TOOL),
                              run_name='compare_heads_tool')['main'](
                                  list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_moved_work_dir_still_gives_its_last_checkpoint(tmp_path):
    """mmengine's ``last_checkpoint`` names the path the run had; a work
    dir copied elsewhere (from a cluster) keeps the file beside it."""
    from apa_mmdet.analysis.comparison_runs import last_checkpoint
    (tmp_path / 'epoch_2.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text('/gone/run/epoch_2.pth')
    assert last_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_2.pth')
    (tmp_path / 'epoch_2.pth').unlink()
    with pytest.raises(FileNotFoundError, match='no checkpoint of the run'):
        last_checkpoint(str(tmp_path))


def test_two_iteration_comparison_keeps_records_reports_and_resumes(
        tmp_path, long_tail_root, capsys, monkeypatch):
    configs = [str(CONFIG_ROOT / 'synthetic' / LT.format(v))
               for v in ('', 'apa-cls-from-sigmoid_no-decay_lr10x_')]
    out, results = tmp_path / 'work', tmp_path / 'results'
    loader = ('num_workers=0', 'persistent_workers=False')
    command = [
        sys.executable, str(TOOL), *configs, '--data', str(long_tail_root),
        '--seeds', '1', '--work-dir', str(out), '--results',
        str(results), '--calibrations', 'NorCal',
        '--apa-log-interval', '1', '--apa-plot',
        str(tmp_path / 'apa.png'), '--cfg-options',
        'train_cfg.max_epochs=1', 'train_dataloader.dataset.oversample_thr=0',
        'train_dataloader.dataset.dataset.indices=8',
        'test_dataloader.dataset.indices=8',
        *[f'{split}_dataloader.{option}' for split in ('train', 'test')
          for option in loader]]
    result = subprocess.run(command, capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    # 8 images in batches of 4: 2 iterations each
    assert len(re.findall(r'Epoch\(train\) +\[1\]\[2/2\]',
                          result.stdout)) == 2
    records = {path.name: json.loads(path.read_text())
               for path in results.glob('*.json')}
    assert sorted(records) == sorted(
        f'{Path(c).stem}_data0_seed1{suffix}.json' for c in configs
        for suffix in ('', '+NorCal'))
    # the trained checkpoint tested again with NorCal's fixed γ
    calibrated = records[f'{Path(configs[0]).stem}_data0_seed1+NorCal.json']
    assert calibrated['calibration'] == dict(type='NorCal', gamma=0.5)
    assert calibrated['checkpoint'] == (
        f'{Path(configs[0]).stem}_data0_seed1/epoch_1.pth')
    assert calibrated['metrics'] != records[
        f'{Path(configs[0]).stem}_data0_seed1.json']['metrics']
    assert '| base+NorCal |' in result.stdout
    record = records[f'{Path(configs[0]).stem}_data0_seed1.json']
    assert record['config'] == str(Path(configs[0]).relative_to(ROOT))
    assert (record['seed'], record['data_seed']) == (1, 0)
    assert re.fullmatch(r'[0-9a-f]{40}(\+uncommitted)?', record['commit'])
    assert record['wall_time_s'] > 0
    frequency = record['category_frequency']
    assert len(frequency) == 200 and set(frequency.values()) == set('rcf')
    for iou in ('bbox', 'segm'):
        aps = np.array([record['category_ap'][iou][c] for c in frequency])
        rare = np.array([g == 'r' for g in frequency.values()])
        # APr is the mean of the rare categories' AP (those with objects)
        assert np.nanmean(aps[rare]) == pytest.approx(
            record['metrics'][iou]['APr'])
    assert 'apa_classifier' not in record
    apa = records[f'{Path(configs[1]).stem}_data0_seed1.json'][
        'apa_classifier']
    assert len(apa['lambda_']) == len(apa['lambda_raw']) == len(
        apa['kappa']) == 200
    assert apa['lambda_'] == [max(raw, 1e-4) for raw in apa['lambda_raw']]
    assert [h['iter'] for h in apa['history']] == [1, 2]
    for moment in apa['history']:
        assert set(moment['lambda']) == set(moment['lambda_raw']) == set(
            moment['at_floor']) == set('rcf')
        # from the sigmoid's λ = 1: nothing at the floor after 2 steps
        assert sum(moment['at_floor'].values()) == 0
        # in the warm-up, at 10 × the base rate (0.01 × 0.01 at its start)
        assert 10 * 0.01 * 0.01 < moment['lr'] < 10 * 0.01
    # the report is computed from the records
    runs = {label + suffix: [records[f'{Path(c).stem}_data0_seed1{suffix}'
                                     '.json']]
            for label, c in zip(
                ('base', 'apa-cls-from-sigmoid_no-decay_lr10x'), configs)
            for suffix in ('', '+NorCal')}
    assert summary_table(runs, [1]) in result.stdout
    assert differences_table(runs, 'APr') in result.stdout
    for picture in (out / 'compare_heads.png', tmp_path / 'apa.png'):
        with Image.open(picture) as image:
            image.load()
            assert min(image.size) >= 400

    monkeypatch.chdir(ROOT)
    code, again, errors = run_in_process(capsys, command[2:])
    assert code == 0, errors[-3000:]
    assert again.count(': kept ') == 4
    assert 'Epoch(train)' not in again
    # a comparison cut short: a seed never run is reported as such
    seeds = command.index('--seeds')
    code, partial, errors = run_in_process(
        capsys, [*command[2:seeds + 1], '0', '1', *command[seeds + 2:],
                 '--kept-only'])
    assert code == 0, errors[-3000:]
    assert partial.count(': not run yet') == 4
    assert '| base (1 of 2 seeds) |' in partial

    # a document's block: written from the records, then checked
    doc = tmp_path / 'doc.md'
    arguments = ' '.join([*configs, '--seeds', '1', '--results',
                          str(results), '--data', str(long_tail_root),
                          '--calibrations', 'NorCal'])
    doc.write_text(f'# Results\n\n<!-- compare_heads {arguments} -->\nold\n'
                   '<!-- /compare_heads -->\n\nafter\n')
    code, _, errors = run_in_process(capsys, ['--check-doc', str(doc)])
    assert code == 1 and 'differs from its records' in errors
    code, _, errors = run_in_process(capsys, ['--update-doc', str(doc)])
    assert code == 0, errors[-3000:]
    text = doc.read_text()
    assert summary_table(runs, [1]) in text and text.endswith('after\n')
    assert run_in_process(capsys, ['--check-doc', str(doc)])[0] == 0


def test_the_long_tail_documents_tables_are_its_records():
    """docs/long_tail_benchmark.md: every block equals what its committed
    records (docs/results/long_tail/) give."""
    doc = ROOT / 'docs' / 'long_tail_benchmark.md'
    assert '<!-- compare_heads ' in doc.read_text()
    result = subprocess.run([sys.executable, str(TOOL), '--check-doc',
                             str(doc)], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_base_record_is_reproduced_by_todays_code():
    """The benchmark's base config, seed 0, trained again at a later commit
    (docs/results/long_tail/reproduced/): the same per-category APs, so
    the variants' records and the base's compare runs of the same code."""
    name = 'mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis-lt_data0_seed0.json'
    kept = json.loads((ROOT / 'docs/results/long_tail' / name).read_text())
    again = json.loads(
        (ROOT / 'docs/results/long_tail/reproduced' / name).read_text())
    assert again['commit'] != kept['commit']
    assert again['category_ap'] == kept['category_ap']
    assert again['metrics'] == kept['metrics']
