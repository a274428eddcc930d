# Copyright (c) apa_mmdet contributors.
"""One run of a comparison (``tools/analysis_tools/compare_heads.py``): its
config (seed, work dir, one evaluation), where its record is kept, and what
the record holds once it has trained and been tested: unrounded metrics,
per-category AP, each category's frequency group and, for a learnable APA
classifier, its λ (as used and as stored), κ per class at the end and per
group over training, with the rate λ, κ learn at. A run's checkpoint tested
again with a test-time calibration (:data:`CALIBRATIONS`) has a record of
its own."""
import copy
import gc
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from .comparison import variant_labels


def config_stem(config: str) -> str:
    return osp.splitext(osp.basename(config))[0]


def load_config(config: str, cfg_options: Optional[dict]) -> Config:
    """``config`` with ``cfg_options`` merged, a copy of its own.

    A config is parsed once per file (and its modification time), options
    and environment (the configs read ``DATA_ROOT``, ``LT_DATA_SEED``,
    ...): mmengine reads every metafile of mmdet for each ``mmdet::`` base,
    about 1 s a config.
    """
    key = (osp.abspath(config), osp.getmtime(config), repr(cfg_options),
           tuple(sorted(os.environ.items())))
    if key not in _PARSED_CONFIGS:
        cfg = Config.fromfile(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        _PARSED_CONFIGS[key] = cfg
    return copy.deepcopy(_PARSED_CONFIGS[key])


_PARSED_CONFIGS: Dict[tuple, Config] = {}


def data_variation(cfg: Config) -> str:
    """The long-tail set's variation ('none' for other configs)."""
    return cfg.get('data_variation') or 'none'


# test-time calibrations of a trained run's checkpoint, their parameters
# fixed before any validation image is scored (the official or the
# methods' default values; NorCal's γ halfway in its published range)
CALIBRATIONS = dict(
    LogitAdjustment=dict(type='LogitAdjustment', tau=1.),
    NorCal=dict(type='NorCal', gamma=0.5),
    FRACAL=dict(type='FRACAL'))


def record_path(results: str, config: str, cfg: Config, seed: int,
                calibration: Optional[str] = None) -> str:
    """<config>_data<D>[-<variation>]_seed<S>[+<calibration>].json in
    ``results``."""
    variation = data_variation(cfg)
    data = f'{cfg.get("data_seed", 0)}' + (
        '' if variation == 'none' else f'-{variation}')
    suffix = f'+{calibration}' if calibration else ''
    return osp.join(
        results, f'{config_stem(config)}_data{data}_seed{seed}{suffix}.json')


def train_ann_file(cfg: Config) -> str:
    """The training set's annotation file (inside dataset wrappers)."""
    dataset = cfg.train_dataloader.dataset
    while 'dataset' in dataset:
        dataset = dataset.dataset
    return osp.join(dataset.get('data_root', ''), dataset.ann_file)


def calibrated_config(cfg: Config, seed: int, calibration: str,
                      checkpoint: str, work_dir: str) -> Config:
    """``cfg`` testing ``checkpoint`` with ``CALIBRATIONS[calibration]`` on
    its box head (statistics from its training annotation file)."""
    cfg = run_config(cfg, seed, work_dir)
    cfg.model.roi_head.bbox_head.calibration = dict(
        CALIBRATIONS[calibration], ann_file=train_ann_file(cfg))
    cfg.load_from = checkpoint
    return cfg


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint a run in ``work_dir`` saved last (mmengine's
    ``last_checkpoint`` file names it, by the path it had then; a work dir
    moved since, e.g. copied from a cluster, has it beside the file)."""
    try:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            path = f.read().strip()
    except OSError:
        path = ''
    if path and not osp.isfile(path):
        path = osp.join(work_dir, osp.basename(path))
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'no checkpoint of the run in {work_dir} to calibrate: train it '
            'again (--rerun) in this work dir')
    return path


def run_config(cfg: Config, seed: int, work_dir: str) -> Config:
    """``cfg`` for one run: ``seed``, its own work dir, one evaluation (by
    the test loop after training)."""
    cfg = copy.deepcopy(cfg)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)  # + the Runner's time
    if cfg.get('visualizer'):  # a new one: its backends write to work_dir
        cfg.visualizer.name = cfg.experiment_name
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    return cfg


def classifier_apa(model):
    """The bbox head's learnable APA classifier activation (per class), or
    None."""
    from mmengine.model import is_model_wrapper

    from apa_mmdet.models.layers import APA
    model = model.module if is_model_wrapper(model) else model
    for module in model.roi_head.modules():
        if isinstance(module, APA) and module.num_parameters > 1:
            return module
    return None


def apa_quartiles(apa, groups: List[str]) -> dict:
    """Per frequency group, the quartiles of the classes' λ as used
    (floored), as stored (``lambda_raw``, before the floor) and κ, and how
    many classes' stored λ is at or below the floor: ``{'lambda': {'r': [q1,
    median, q3], ...}, 'lambda_raw': ..., 'kappa': ..., 'at_floor': {'r':
    n, ...}}``."""
    import numpy as np

    from apa_mmdet.ops import LAMBDA_MIN
    lam, raw, kappa = apa_values(apa)
    groups = np.array(groups)
    present = [g for g in 'rcf' if (groups == g).any()]
    quartiles = {
        name: {g: np.percentile(values[groups == g], [25, 50, 75]).tolist()
               for g in present}
        for name, values in (('lambda', lam), ('lambda_raw', raw),
                             ('kappa', kappa))}
    quartiles['at_floor'] = {g: int((raw[groups == g] <= LAMBDA_MIN).sum())
                             for g in present}
    return quartiles


def apa_values(apa):
    """(λ as used, λ as stored, κ) of each class, as float64 arrays: the
    forward floors the stored λ at ``LAMBDA_MIN``."""
    from apa_mmdet.ops import LAMBDA_MIN
    raw = apa.lambda_param.detach().double()
    return (raw.clamp(min=LAMBDA_MIN).numpy(), raw.numpy(),
            apa.kappa_param.detach().double().numpy())


def parameter_lr(optimizer, parameter) -> float:
    """The learning rate the optimizer applies to ``parameter`` now (its
    group's: the base rate × the config's ``lr_mult``)."""
    for group in optimizer.param_groups:
        if any(p is parameter for p in group['params']):
            return group['lr']
    raise KeyError('the parameter is not in the optimizer')


def train_and_test(cfg: Config, apa_interval: int) -> dict:
    """Train ``cfg`` in this process, evaluate it; the record's results:
    unrounded metrics, per-category AP, each category's group and, for a
    learnable APA classifier, its λ, κ (per class at the end, per group
    every ``apa_interval`` iterations)."""
    from mmengine.hooks import Hook
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from .recorders import frequency_groups
    groups = frequency_groups(cfg.test_evaluator.ann_file)
    history = []

    class APAHistory(Hook):
        priority = 'LOW'

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            apa = classifier_apa(runner.model)
            if apa is not None and self.every_n_train_iters(
                    runner, apa_interval):
                lr = parameter_lr(runner.optim_wrapper.optimizer,
                                  apa.learnt_lambda())
                history.append(dict(iter=runner.iter + 1, lr=lr,
                                    **apa_quartiles(apa, groups)))

    runner = (RUNNERS.build(cfg) if 'runner_type' in cfg else
              Runner.from_cfg(cfg))
    runner.register_hook(APAHistory())
    runner.train()
    results = test_results(runner)
    apa = classifier_apa(runner.model)
    if apa is not None:
        lam, raw, kappa = apa_values(apa)
        results['apa_classifier'] = dict(
            lambda_=lam.tolist(), lambda_raw=raw.tolist(),
            kappa=kappa.tolist(), history=history)
    del runner
    gc.collect()
    return results


def test_only(cfg: Config) -> dict:
    """Test ``cfg`` (its ``load_from`` checkpoint) in this process: the
    record's results, as :func:`train_and_test`'s without training."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    runner = (RUNNERS.build(cfg) if 'runner_type' in cfg else
              Runner.from_cfg(cfg))
    results = test_results(runner)
    del runner
    gc.collect()
    return results


def test_results(runner) -> dict:
    """Run ``runner``'s test loop: unrounded metrics, per-category AP and
    each category's group."""
    runner.test()
    evaluator = runner.test_evaluator.metrics[0]
    if not getattr(evaluator, 'unrounded', None):
        raise RuntimeError(
            'compare_heads needs an evaluator that keeps its unrounded LVIS '
            f'results (FastLVISMetric); the test loop has '
            f'{type(evaluator).__name__}')
    unrounded = evaluator.unrounded
    results = dict(
        metrics={iou: result['stats'] for iou, result in unrounded.items()},
        category_ap={iou: {str(c): ap for c, ap in
                           result['category_ap'].items()}
                     for iou, result in unrounded.items()},
        category_frequency={
            str(c): group for c, group in
            next(iter(unrounded.values()))['category_frequency'].items()})
    return results


def kept_records(configs: Sequence[str], seeds: Sequence[int], results: str,
                 cfg_options: Optional[dict] = None,
                 calibrations: Sequence[str] = ()) -> Dict[str, List[dict]]:
    """Per variant label (:func:`variant_labels`, in the configs' order;
    each followed by its calibrated tests, ``label+Calibration``), the
    records of ``seeds`` kept in ``results`` so far; variants without any
    left out."""
    labels = variant_labels([config_stem(c) for c in configs])
    runs = {}
    for label, config in zip(labels, configs):
        cfg = load_config(config, cfg_options)
        for calibration in (None, *calibrations):
            name = f'{label}+{calibration}' if calibration else label
            runs[name] = []
            for seed in seeds:
                path = record_path(results, config, cfg, seed, calibration)
                if osp.isfile(path):
                    with open(path) as f:
                        runs[name].append(json.load(f))
    return {label: r for label, r in runs.items() if r}
