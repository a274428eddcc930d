# Copyright (c) apa_mmdet contributors.
"""The parts of an mmdet detector that leave PyTorch as standard ONNX
operators, and their export and check.

torch's exporter (``torch.onnx.export(dynamo=True)``, opset 18) takes the
tensor programs: the backbone, the neck, the RPN head's convolutions and
the box head's fully connected layers with the class scores' activation
(APA/AGLU become their formula while exporting). What lies between them in
mmdet (anchor decoding, NMS, RoIAlign on mmcv's ops, the per-image Python
loops) is not a tensor program, so the parts are exported one by one.

The image parts take what mmdet's data preprocessor gives the backbone:
(N, 3, H, W) float, normalised by the config's mean and std, in its channel
order, padded to multiples of 32.
"""
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

PARTS = ('features', 'backbone', 'bbox-scores')
SIZE_DIVISOR = 32  # mmdet's detectors pad images to multiples of 32
MAX_BATCH = 64
MAX_ROIS = 100000


class DetectorFeatures(nn.Module):
    """The detector's test-time feature maps and RPN outputs.

    img (N, 3, H, W) → the neck's L levels (N, C, H/s, W/s), then, with an
    RPN head (and ``with_rpn``), its L class-score maps (N, A, H/s, W/s) and
    L box-delta maps (N, 4A, H/s, W/s): one flat tuple, ``extract_feat``
    and ``rpn_head.forward`` as mmdet runs them before decoding.
    """

    def __init__(self, detector: nn.Module, with_rpn: bool = True) -> None:
        super().__init__()
        self.detector = detector
        self.with_rpn = with_rpn and getattr(detector, 'with_rpn', False)

    def forward(self, img: Tensor) -> Tuple[Tensor, ...]:
        feats = self.detector.extract_feat(img)
        outs = tuple(feats)
        if self.with_rpn:
            cls_scores, bbox_preds = self.detector.rpn_head(feats)
            outs += tuple(cls_scores) + tuple(bbox_preds)
        return outs

    def output_names(self, levels: int) -> List[str]:
        """fpn_i, then rpn_cls_i and rpn_reg_i for the ``levels`` levels."""
        names = [f'fpn_{i}' for i in range(levels)]
        if self.with_rpn:
            names += [f'rpn_cls_{i}' for i in range(levels)]
            names += [f'rpn_reg_{i}' for i in range(levels)]
        return names


class BBoxScores(nn.Module):
    """The box head on pooled RoI features, scored as mmdet's test does.

    roi_feats (R, C, 7, 7) → scores (R, K) and box deltas (R, 4·K'), with
    scores = the loss's activation (``loss_cls.get_activation``: the
    Gumbel, sigmoid or learned-APA class scores) where the loss has custom
    class channels, else the softmax, as ``BBoxHead.predict_by_feat``; a
    head's test-time ``calibration`` (its per-class logit bias) included.
    """

    def __init__(self, bbox_head: nn.Module) -> None:
        super().__init__()
        self.bbox_head = bbox_head
        self.calibration = getattr(bbox_head, 'calibration', None)
        if self.calibration is not None and not self.calibration.fitted:
            self.calibration.fit(bbox_head)  # its statistics file is needed

    def forward(self, roi_feats: Tensor) -> Tuple[Tensor, Tensor]:
        cls_score, bbox_pred = self.bbox_head(roi_feats)
        if self.calibration is not None:
            cls_score = self.calibration(cls_score)
        if self.bbox_head.custom_cls_channels:
            scores = self.bbox_head.loss_cls.get_activation(cls_score)
        else:
            scores = F.softmax(cls_score, dim=-1)
        return scores, bbox_pred


def image_dynamic_shapes(height: int, width: int) -> Dict[int, object]:
    """Dynamic batch (up to 64), height and width (multiples of 32, up to
    2048 or the example's size if larger) of an image input."""
    steps = max(2048, height, width) // SIZE_DIVISOR
    return {
        0: torch.export.Dim('batch', max=MAX_BATCH),
        2: SIZE_DIVISOR * torch.export.Dim('h', min=1, max=steps),
        3: SIZE_DIVISOR * torch.export.Dim('w', min=1, max=steps)
    }


def _box_head(detector: nn.Module) -> nn.Module:
    head = getattr(getattr(detector, 'roi_head', None), 'bbox_head', None)
    if head is None:
        raise ValueError(f'{type(detector).__name__} has no '
                         'roi_head.bbox_head to export')
    if isinstance(head, nn.ModuleList):
        raise ValueError(
            f'{type(detector).__name__} has {len(head)} box heads (a '
            'cascade): its test averages their scores over stages fed '
            "each other's boxes, which one graph of a head does not give")
    return head


def exportable_part(detector: nn.Module, part: str,
                    image_shape: Sequence[int] = (1, 3, 800, 1216),
                    num_rois: int = 8) -> dict:
    """One exportable part of ``detector`` (set to eval mode), with an
    example input, its dynamic shapes and the graph's names.

    Args:
        detector (nn.Module): An mmdet detector.
        part (str): 'features' (backbone, neck, RPN head: image →
            :class:`DetectorFeatures`' outputs), 'backbone' (image → its
            levels) or 'bbox-scores' (RoI features → :class:`BBoxScores`).
        image_shape (Sequence[int]): (N, 3, H, W) of the example image, H
            and W multiples of 32; batch, height and width stay dynamic.
        num_rois (int): RoIs of the example for 'bbox-scores' (dynamic).

    Returns:
        dict: ``module``, ``example``, ``dynamic_shapes`` (for torch's
        exporters), ``input_names`` and ``output_names``.
    """
    if part not in PARTS:
        raise ValueError(f'part must be one of {PARTS}, got {part!r}')
    detector.eval()  # mmdet's ResNet.train returns None: not chained
    if part == 'bbox-scores':
        head = _box_head(detector)
        size = head.roi_feat_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        module = BBoxScores(head).eval()
        return dict(module=module,
                    example=torch.randn(num_rois, head.in_channels, *size),
                    dynamic_shapes=({
                        0: torch.export.Dim('rois', min=2, max=MAX_ROIS)
                    }, ),
                    input_names=['roi_feats'],
                    output_names=['scores', 'bbox_deltas'])
    n, c, h, w = image_shape
    if h % SIZE_DIVISOR or w % SIZE_DIVISOR:
        raise ValueError(f'image height and width must be multiples of '
                         f'{SIZE_DIVISOR}, got {h}x{w}')
    example = torch.randn(n, c, h, w) * 2
    if part == 'backbone':
        module = detector.backbone
        with torch.no_grad():
            names = [f'backbone_{i}' for i in range(len(module(example)))]
    else:
        module = DetectorFeatures(detector).eval()
        with torch.no_grad():
            names = module.output_names(len(detector.extract_feat(example)))
    return dict(module=module, example=example,
                dynamic_shapes=(image_dynamic_shapes(h, w), ),
                input_names=['image'], output_names=names)


def check_input(part: str, example: Tensor) -> Tensor:
    """A generated input unlike the example in every dynamic dim: one more
    image, 32 px taller and wider; or twice the RoIs plus one."""
    if part == 'bbox-scores':
        return torch.randn(2 * example.shape[0] + 1, *example.shape[1:])
    n, c, h, w = example.shape
    return torch.randn(n + 1, c, h + SIZE_DIVISOR, w + SIZE_DIVISOR) * 2


def export_onnx(module: nn.Module, example: Tensor, path: str,
                dynamic_shapes: tuple, opset: int = 18,
                input_names: Sequence[str] = None,
                output_names: Sequence[str] = None) -> Path:
    """Write ``module`` traced on ``example`` to the ONNX file ``path``
    with torch's exporter (``dynamo=True``), the dims of
    ``dynamic_shapes`` kept dynamic, inputs and outputs named."""
    with torch.no_grad():
        program = torch.onnx.export(module, (example, ), dynamo=True,
                                    opset_version=opset,
                                    dynamic_shapes=dynamic_shapes,
                                    input_names=input_names,
                                    output_names=output_names,
                                    verbose=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    program.save(str(path))
    return path


def onnx_session(path: str, threads: int = 0):
    """An onnxruntime CPU session of the ONNX file ``path`` (``threads``
    within an operator; 0: onnxruntime's choice)."""
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(path), options, providers=['CPUExecutionProvider'])


def run_onnx(path: str, inputs: Tensor) -> list:
    """The outputs of the ONNX file ``path`` in onnxruntime (CPU) on
    ``inputs``, as NumPy arrays."""
    session = onnx_session(path)
    return session.run(None, {session.get_inputs()[0].name: inputs.numpy()})


def worst_relative_error(outputs: Sequence[np.ndarray],
                         expected: Sequence[Tensor]) -> float:
    """max over outputs of max|out − ref| / max|ref|: the error relative to
    each output's scale; inf where either holds a NaN or an infinity
    (raises if the outputs differ in number or shape)."""
    if len(outputs) != len(expected):
        raise ValueError(f'{len(outputs)} outputs, expected '
                         f'{len(expected)}')
    worst = 0.
    for out, ref in zip(outputs, expected):
        ref = ref.detach().double().numpy()
        if out.shape != ref.shape:
            raise ValueError(f'output of shape {out.shape}, expected '
                             f'{ref.shape}')
        if not (np.isfinite(out).all() and np.isfinite(ref).all()):
            return float('inf')
        scale = max(np.abs(ref).max(initial=0.), np.finfo(np.float32).tiny)
        worst = max(worst, float(np.abs(out - ref).max(initial=0.) / scale))
    return worst


def verify(path: str, module: nn.Module, inputs: Tensor) -> float:
    """The worst relative error (:func:`worst_relative_error`) of the ONNX
    file ``path`` in onnxruntime against ``module`` on ``inputs``."""
    with torch.no_grad():
        expected = module(inputs)
    return worst_relative_error(run_onnx(path, inputs), expected)
