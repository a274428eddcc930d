# Copyright (c) apa_mmdet contributors.
"""Forward hooks that record what a detector's activation sites and RoI
classifier see during inference."""
import json
from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_overlaps
from torch import Tensor, nn

from ..models.layers import AdaptiveActivation
from .statistics import GroupScoreStats, ValueStats


class _HookOwner:
    """Holds hook handles; :meth:`remove` (or leaving a ``with``) removes
    them."""

    def __init__(self):
        self._handles = []

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class SiteInputRecorder(_HookOwner):
    """Moments and a histogram of the input z of every APA/AGLU module of
    ``model``, over every call (forward pre-hooks).

    While the hooks are on, the SE-block ends call their activation on
    x·gate + identity (:class:`~apa_mmdet.models.layers.SEResidualEnd`
    does not fuse a watched activation), so every site's input is its
    call's argument; a learnable class score (``APAClassScore``) is seen
    where it scores logits at inference. Use as a context manager (removes
    the hooks).

    Attributes:
        sites (OrderedDict[str, ValueStats]): Per module name, in the
            model's order.
        acts (dict[str, str]): 'apa' or 'aglu' per site.
        calls (dict[str, int]): Calls seen per site.
    """

    def __init__(self, model: nn.Module,
                 value_range: Tuple[float, float] = (-8., 8.),
                 bins: int = 160):
        super().__init__()
        self.sites: Dict[str, ValueStats] = OrderedDict()
        self.acts: Dict[str, str] = {}
        self.calls: Dict[str, int] = {}
        for name, module in model.named_modules():
            if isinstance(module, AdaptiveActivation):
                self.sites[name] = ValueStats(value_range, bins)
                self.acts[name] = module.act
                self.calls[name] = 0
                self._handles.append(
                    module.register_forward_pre_hook(self._hook(name)))

    def _hook(self, name: str):

        def record(module, args):
            with torch.no_grad():
                self.sites[name].update(args[0].float())
            self.calls[name] += 1

        return record


def frequency_groups(ann_file: str) -> List[str]:
    """LVIS frequency group ('r', 'c' or 'f') of each class, in the label
    order of mmdet's LVIS datasets (the file's ``categories`` order); one
    group 'all' for files whose categories have no ``frequency``."""
    with open(ann_file) as f:
        categories = json.load(f)['categories']
    if all('frequency' in c for c in categories):
        return [c['frequency'] for c in categories]
    return ['all'] * len(categories)


def dataset_ground_truth(dataset) -> Dict[int, Tuple[Tensor, Tensor]]:
    """img_id -> (bboxes (G, 4), labels (G,)) of a built mmdet detection
    data set, in original image coordinates, ignored instances left out."""
    ground_truth = {}
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        kept = [i for i in info['instances'] if not i.get('ignore_flag', 0)]
        ground_truth[info['img_id']] = (
            torch.tensor([i['bbox'] for i in kept],
                         dtype=torch.float32).reshape(-1, 4),
            torch.tensor([i['bbox_label'] for i in kept], dtype=torch.long))
    return ground_truth


def assign_roi_labels(rois: Tensor, gt_bboxes: Tensor, gt_labels: Tensor,
                      iou_thr: float = 0.5) -> Tensor:
    """Class of the ground truth each RoI overlaps most, if its IoU is at
    least ``iou_thr``, else -1 (background).

    Args:
        rois (Tensor): (K, 4) boxes, x1 y1 x2 y2.
        gt_bboxes (Tensor): (G, 4) boxes in the same coordinates.
        gt_labels (Tensor): (G,) their classes.
    """
    labels = gt_labels.new_full((len(rois),), -1)
    if len(rois) and len(gt_bboxes):
        iou, index = bbox_overlaps(rois, gt_bboxes).max(dim=1)
        matched = iou >= iou_thr
        labels[matched] = gt_labels[index[matched]]
    return labels


class ClassifierRecorder(_HookOwner):
    """Logits and scores of the RoI classifier of a two-stage detector on
    its test-time RoIs, per class group, positives and negatives apart.

    Hooks the (last stage's) ``bbox_roi_extractor`` for the RoIs and
    ``bbox_head`` for their class logits; :meth:`add_batch` then labels the
    RoIs of each image by IoU ≥ 0.5 with its ground truth (in original image
    coordinates) and updates :attr:`stats`. Scores are the head's own: its
    loss's ``get_activation`` when the loss defines the class outputs
    (Gumbel, sigmoid, APA, Seesaw), else the softmax, as mmdet's
    ``BBoxHead`` does at inference.

    Args:
        roi_head (nn.Module): A ``StandardRoIHead`` or ``CascadeRoIHead``.
        class_groups (Sequence[str]): Group of each class (label order).
        ground_truth (dict): img_id -> (bboxes (G, 4), labels (G,)).
    """

    def __init__(self, roi_head: nn.Module, class_groups: Sequence[str],
                 ground_truth: Dict[int, Tuple[Tensor, Tensor]]):
        super().__init__()
        extractor, head = roi_head.bbox_roi_extractor, roi_head.bbox_head
        if isinstance(head, nn.ModuleList):
            extractor, head = extractor[-1], head[-1]
        self.head = head
        self.num_classes = len(class_groups)
        if head.num_classes != self.num_classes:
            raise ValueError(f'the bbox head has {head.num_classes} classes '
                             f'but the data set {self.num_classes}')
        self.ground_truth = ground_truth
        self.stats = GroupScoreStats(class_groups)
        self._rois = None
        self._pending: List[Tuple[Tensor, Tensor]] = []
        self._handles += [
            extractor.register_forward_hook(self._record_rois),
            head.register_forward_hook(self._record_logits)
        ]

    def _record_rois(self, module, args, output) -> None:
        self._rois = args[1]

    def _record_logits(self, module, args, output) -> None:
        self._pending.append((self._rois, output[0]))

    def scores(self, cls_score: Tensor) -> Tensor:
        """(K, C) class scores from the head's outputs, as at inference."""
        if self.head.custom_cls_channels:
            scores = self.head.loss_cls.get_activation(cls_score)
        else:
            scores = F.softmax(cls_score, dim=-1)
        return scores[:, :self.num_classes].float()

    def add_batch(self, data_samples: Sequence[DetDataSample]) -> None:
        """Label and record the RoIs the hooks saw for this batch."""
        with torch.no_grad():
            for rois, cls_score in self._pending:
                scores = self.scores(cls_score)
                for index, sample in enumerate(data_samples):
                    mine = rois[:, 0] == index
                    boxes = rois[mine, 1:].float() / rois.new_tensor(
                        sample.metainfo['scale_factor']).repeat(2)
                    gt_bboxes, gt_labels = self.ground_truth[
                        sample.metainfo['img_id']]
                    labels = assign_roi_labels(boxes, gt_bboxes.to(boxes),
                                               gt_labels.to(boxes.device))
                    self.stats.update(
                        cls_score[mine, :self.num_classes].float(),
                        scores[mine], labels)
        self._pending = []
