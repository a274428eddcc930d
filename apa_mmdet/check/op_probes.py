# Copyright (c) apa_mmdet contributors.
"""mmcv's ops the detectors run (NMS, RoIAlign, CARAFE), probed on a
device."""
from typing import List

import torch

OPS_NEEDED_EVERYWHERE = {'cpu': ('nms', 'RoIAlign', 'CARAFE'),
                         'cuda': ('nms', 'RoIAlign', 'CARAFE')}


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
    from ..models.layers import AnyDeviceCARAFEPack
    layer = AnyDeviceCARAFEPack(channels=4, scale_factor=2).to(device)
    x = torch.randn(1, 4, 5, 5, device=device, requires_grad=True)
    out = layer(x)
    if out.shape != (1, 4, 10, 10):
        raise RuntimeError(f'output shape {tuple(out.shape)}')
    out.sum().backward()
    return 'forward and backward'


OP_PROBES = {'nms': probe_nms, 'RoIAlign': probe_roi_align,
             'CARAFE': probe_carafe}


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
