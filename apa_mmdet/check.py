# Copyright (c) apa_mmdet contributors.
"""Install check: what works on this machine, on every device it has.

``python -m apa_mmdet.check [--config CONFIG] [--device DEVICE]`` (or
``tools/check_install.py``) prints the stack's versions, then on every
device (the CPU and each visible GPU): mmcv's NMS, RoIAlign and CARAFE, APA
and AGLU on the implementation that serves the device against the float64
formula, and one training step (forward, backward) of the CPU-sized APA
Mask R-CNN. With ``--config`` it also builds that config's model and checks
on the device it would train on (the first GPU, else the CPU) the mmcv ops
the model contains, one training step of it, and the data and weight files
the config names. Exit status 1 when anything needed fails or is missing;
each such line says what.
"""
import argparse
import contextlib
import os.path as osp
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

from .utils import without_file_reads

TINY_CONFIG = ('configs/synthetic/'
               'mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py')
PACKAGES = ('torch', 'triton', 'mmcv', 'mmengine', 'mmdet', 'apa_mmdet',
            'numpy', 'pycocotools', 'lvis', 'faster-coco-eval',
            'opencv-python-headless')
OPS_NEEDED_EVERYWHERE = {'cpu': ('nms', 'RoIAlign', 'CARAFE'),
                         'cuda': ('nms', 'RoIAlign', 'CARAFE')}


class Report:
    """Prints one line per check and remembers the failures."""

    def __init__(self) -> None:
        self.failures: List[str] = []

    def line(self, status: str, what: str, detail: str = '') -> None:
        sys.stdout.write(f'  {status:5} {what}{": " + detail if detail else ""}'
                         '\n')
        sys.stdout.flush()
        if status == 'FAIL':
            self.failures.append(what)

    def run(self, what: str, check: Callable[[], str],
            needed: bool = True) -> bool:
        """``check()`` returns a detail or raises; a failure of a check
        that is not ``needed`` is reported as unavailable."""
        try:
            self.line('ok', what, check())
            return True
        except Exception as error:  # a check names what it could not do
            reason = f'{type(error).__name__}: {str(error).splitlines()[0]}'
            self.line('FAIL' if needed else 'n/a', what,
                      reason if needed else f'not available here ({reason})')
            return False


def stack_versions() -> Dict[str, str]:
    """Installed version of each package of the stack ('-': missing)."""
    versions = {'python': platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = '-'
    versions['torch CUDA'] = torch.version.cuda or 'none (CPU build)'
    try:
        from mmcv.ops import get_compiling_cuda_version
        versions['mmcv ops CUDA'] = get_compiling_cuda_version()
    except ImportError as error:
        versions['mmcv ops CUDA'] = f'no ops ({error})'
    return versions


def devices() -> List[str]:
    """'cpu' and every visible CUDA device."""
    return ['cpu'] + [f'cuda:{i}' for i in range(torch.cuda.device_count())]


def probe_nms(device: str) -> str:
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]], device=device)
    scores = torch.tensor([0.9, 0.8, 0.7], device=device)
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    if keep.tolist() != [0, 2]:
        raise RuntimeError(f'kept {keep.tolist()}, expected [0, 2]')
    return 'kept the right boxes'


def probe_roi_align(device: str) -> str:
    from mmcv.ops import RoIAlign
    feats = torch.full((1, 2, 8, 8), 3., device=device, requires_grad=True)
    rois = torch.tensor([[0., 1., 1., 6., 6.]], device=device)
    out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2)(feats, rois)
    if not torch.allclose(out, torch.full_like(out, 3.)):
        raise RuntimeError('pooled a constant map to other values')
    out.sum().backward()
    return 'forward and backward'


def probe_carafe(device: str) -> str:
    """The ``carafe`` upsampler as mmdet builds it: mmcv's kernel on CUDA,
    torch ops on the CPU."""
    from .models.layers import AnyDeviceCARAFEPack
    layer = AnyDeviceCARAFEPack(channels=4, scale_factor=2).to(device)
    x = torch.randn(1, 4, 5, 5, device=device, requires_grad=True)
    out = layer(x)
    if out.shape != (1, 4, 10, 10):
        raise RuntimeError(f'output shape {tuple(out.shape)}')
    out.sum().backward()
    return 'forward and backward'


OP_PROBES = {'nms': probe_nms, 'RoIAlign': probe_roi_align,
             'CARAFE': probe_carafe}


# largest relative error of APA/AGLU outputs and gradients per input dtype
# (against the formula on the same, rounded, input)
ACTIVATION_TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 1.6e-2,
                        torch.float16: 2e-3}


def probe_activations(device: str) -> str:
    """APA and AGLU (per channel, on feature maps (N, C, H, W) and on
    channels-last tokens (B, L, C)) forward and backward on the
    implementation dispatch picks, against the float64 formula: float32,
    and on CUDA bfloat16 and float16 too (each Triton variant)."""
    from .ops import aglu, apa, dispatch, use_eager_formula
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 8, 6, 7, generator=gen) * 4).to(device)
    lam = torch.empty(8).uniform_(0.05, 2., generator=gen).to(device)
    kappa = torch.empty(8).uniform_(-1.5, 2., generator=gen).to(device)
    grad = torch.randn(2, 8, 6, 7, generator=gen).to(device)
    layouts = ((x, grad, 1),
               (x.flatten(2).transpose(1, 2).contiguous(),
                grad.flatten(2).transpose(1, 2).contiguous(), -1))

    def outputs_and_gradients(fn, layout, dtype, reference=False):
        """fn's output and gradients for the layout's input in ``dtype``;
        the reference: the formula in float64 on the same (rounded) x."""
        inp, g, dim = layout
        z = inp.to(dtype)
        params = [lam, kappa]
        if reference:
            z, params = z.double(), [t.double() for t in params]
        inputs = [t.clone().requires_grad_() for t in (z, *params)]
        with use_eager_formula() if reference else contextlib.nullcontext():
            out = fn(*inputs, dim=dim)
        return (out, *torch.autograd.grad(out, inputs, g.to(out.dtype)))

    dtypes = [torch.float32]
    if device != 'cpu':
        dtypes += [torch.bfloat16, torch.float16]
    report = []
    for dtype in dtypes:
        worst = max(((got.double() - ref).abs().max() /
                     ref.abs().max().clamp(min=1e-30)).item()
                    for fn in (apa, aglu) for layout in layouts
                    for got, ref in zip(
                        outputs_and_gradients(fn, layout, dtype),
                        outputs_and_gradients(fn, layout, dtype,
                                              reference=True)))
        name = str(dtype).replace('torch.', '')
        if not worst < ACTIVATION_TOLERANCE[dtype]:
            raise RuntimeError(f'{name}: largest relative error {worst:.1e}')
        report.append(f'{name} on the {dispatch.select(x.to(dtype)).name} '
                      f'implementation {worst:.1e}')
    return ('largest relative error of outputs and gradients (feature maps '
            'and tokens): ' + ', '.join(report))


def _demo_inputs(model, device: str, num_classes: int, with_mask: bool):
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(2, [[3, 128, 128], [3, 96, 112]],
                            num_items=[3, 2], num_classes=num_classes,
                            with_mask=with_mask)
    return model.data_preprocessor(packed, True)


def build_model(model_cfg: dict) -> torch.nn.Module:
    """``model_cfg`` built with the same random weights every time."""
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(model_cfg)


def training_step(model: torch.nn.Module, device: str) -> str:
    """One forward (loss) and backward of ``model`` on ``device``: finite
    losses, and a gradient for every APA/AGLU parameter."""
    model = model.to(device)
    model.train()
    head = model.roi_head.bbox_head
    heads = head if isinstance(head, (list, torch.nn.ModuleList)) else [head]
    data = _demo_inputs(model, device, heads[0].num_classes,
                        getattr(model.roi_head, 'with_mask', False))
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    if not torch.isfinite(total):
        raise RuntimeError(f'loss {total.item()}')
    total.backward()
    missing = [name for name, p in model.named_parameters()
               if name.endswith(('lambda_param', 'kappa_param'))
               and p.requires_grad and p.grad is None]
    if missing:
        raise RuntimeError(f'no gradient for {", ".join(missing[:5])}')
    return f'loss {total.item():.3f}, every λ, κ has a gradient'


def needed_ops(model: torch.nn.Module) -> List[str]:
    """The mmcv ops ``model`` runs."""
    from mmcv.ops import CARAFEPack, RoIAlign
    modules = list(model.modules())
    ops = []
    if hasattr(model, 'rpn_head') or hasattr(model, 'roi_head'):
        ops.append('nms')
    if any(isinstance(m, RoIAlign) for m in modules):
        ops.append('RoIAlign')
    if any(isinstance(m, CARAFEPack) for m in modules):
        ops.append('CARAFE')
    return ops


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


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', help='also check this config')
    parser.add_argument('--device', help='device the config would train on '
                        '(default: cuda:0 if there is a GPU, else cpu)')
    args = parser.parse_args(argv)
    import apa_mmdet  # noqa: F401  (registers the modules)
    from mmengine.config import Config
    sys.stdout.write('stack\n')
    for name, value in stack_versions().items():
        sys.stdout.write(f'  {name:24}{value}\n')
    tiny_path = Path(__file__).resolve().parents[1] / TINY_CONFIG
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


if __name__ == '__main__':
    sys.exit(main())
