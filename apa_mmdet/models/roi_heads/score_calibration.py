# Copyright (c) apa_mmdet contributors.
"""Test-time calibration of a box head's class scores by training-set
statistics, with no retraining: logit adjustment (Menon et al., ICLR 2021),
NorCal (Pan et al., NeurIPS 2021) and FRACAL (Alexandridis et al., CVPR
2025).

Each calibrator is one bias b (C,) added to the class logits before the
head's own activation, so that every head keeps its scores' form: a
softmax head (C classes + background) gives softmax(z_c + b_c, z_bg), the
background logit untouched; Seesaw's classes are renormalised among
themselves, its objectness untouched; the loss's independent class scores
(Gumbel, sigmoid, APA) give act(z_c + b_c). Statistics come from the
training annotation file (:func:`~apa_mmdet.datasets.load_class_frequency`,
cached): n_img (images with the class), n_obj (objects) and D (the
box-counting dimension of the class's box centres). Counts below 1 count
as 1.

Switched on in the box head's config, e.g.::

    model = dict(roi_head=dict(bbox_head=dict(
        calibration=dict(type='NorCal', ann_file=TRAIN_ANN, gamma=0.5))))

on a head that takes it (:class:`CalibratedBBoxHeadMixin`).
"""
import math
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmdet.registry import MODELS
from torch import Tensor, nn

from ...datasets.class_frequency import ClassFrequency, load_class_frequency

SOFTMAX, INDEPENDENT = 'softmax', 'independent'


def score_form(head) -> str:
    """How ``head`` turns logits into scores: ``'softmax'`` (a softmax
    over the classes, background apart: mmdet's softmax heads, Seesaw) or
    ``'independent'`` (one activation per class), as a loss of mmdet's
    custom-loss protocol declares in its ``score_form`` (``APADropLoss``
    does; losses without it, e.g. Seesaw, are softmax)."""
    if not head.custom_cls_channels:
        return SOFTMAX
    return getattr(head.loss_cls, 'score_form', SOFTMAX)


class ScoreCalibrator(nn.Module):
    """A per-class logit bias from training statistics.

    Args:
        ann_file (str): The training annotation file (LVIS, COCO or
            V3Det format) the statistics are read from.
    """

    def __init__(self, ann_file: str) -> None:
        super().__init__()
        self.ann_file = ann_file
        self.register_buffer('bias', torch.zeros(0), persistent=False)

    def statistics(self) -> ClassFrequency:
        return load_class_frequency(self.ann_file)

    def class_bias(self, stats: ClassFrequency, form: str) -> np.ndarray:
        """(C,) float64 bias of the class logits for heads of ``form``."""
        raise NotImplementedError

    @property
    def fitted(self) -> bool:
        return self.bias.numel() > 0

    def fit(self, head) -> None:
        """Compute the bias for ``head`` (its classes and score form);
        raises ValueError where the statistics or the head do not fit."""
        stats = self.statistics()
        if stats.num_classes != head.num_classes:
            raise ValueError(
                f'{type(self).__name__}: {self.ann_file} has '
                f'{stats.num_classes} categories but the box head has '
                f'num_classes={head.num_classes}')
        bias = self.class_bias(stats, score_form(head))
        self.bias = torch.as_tensor(bias, dtype=torch.float32,
                                    device=self.bias.device)

    def forward(self, cls_score: Tensor) -> Tensor:
        """(N, K) logits, K ≥ C, with the bias added to the first C."""
        classes = self.bias.numel()
        return torch.cat([cls_score[:, :classes] + self.bias.to(cls_score),
                          cls_score[:, classes:]], dim=1)

    def extra_repr(self) -> str:
        return f'ann_file={self.ann_file!r}'


def _counts(values: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(values, dtype=np.float64), 1.)


@MODELS.register_module()
class LogitAdjustment(ScoreCalibrator):
    """b_c = −τ · log(C · π_c), π the classes' share of the training
    objects (``prior='objects'``) or of their images (``'images'``): the
    logits of a uniform prior are unchanged, rare classes' raised.

    Args:
        ann_file (str): The training annotation file.
        tau (float): τ (1: Menon et al.'s post-hoc adjustment).
        prior (str): ``'objects'`` or ``'images'``.
    """

    def __init__(self, ann_file: str, tau: float = 1.,
                 prior: str = 'objects') -> None:
        super().__init__(ann_file)
        if prior not in ('objects', 'images'):
            raise ValueError(f"LogitAdjustment prior must be 'objects' or "
                             f"'images', got {prior!r}")
        self.tau, self.prior = float(tau), prior

    def class_bias(self, stats, form):
        counts = _counts(stats.instance_count if self.prior == 'objects'
                         else stats.image_count)
        share = counts / counts.sum()
        return -self.tau * np.log(len(counts) * share)


@MODELS.register_module()
class NorCal(ScoreCalibrator):
    """b_c = −γ · log n_img(c): each class's score divided by its training
    images to the power γ. On a softmax head this is NorCal exactly, the
    background kept apart and the scores renormalised over classes and
    background: p_c = e^{z_c} n_c^{−γ} / (e^{z_bg} + Σ_k e^{z_k} n_k^{−γ}).
    On independent class scores (Gumbel, sigmoid, APA) the same logit
    shift, act(z_c − γ log n_c), with nothing to renormalise.

    Args:
        ann_file (str): The training annotation file.
        gamma (float): γ ≥ 0, to be chosen on training data.
    """

    def __init__(self, ann_file: str, gamma: float) -> None:
        super().__init__(ann_file)
        if gamma < 0:
            raise ValueError(f'NorCal gamma must be >= 0, got {gamma}')
        self.gamma = float(gamma)

    def class_bias(self, stats, form):
        return -self.gamma * np.log(_counts(stats.image_count))


@MODELS.register_module()
class FRACAL(ScoreCalibrator):
    """Frequency and where classes lie (FRACAL): with p_c the share of
    training images holding class c and D_c its box-counting dimension
    (:mod:`~apa_mmdet.datasets.fractal_dimension`),

    * w_c = −α · log(C · p_c), the frequency term (α = 1/ln 10: the
      official ``base10`` variant, −log10(C · p_c));
    * softmax heads: b_c = w_c − λ · log D_c: the softmax of z + w, each
      class's score divided by D_c^λ and renormalised with the background;
    * independent class scores: with f_c = −α · log(C · W_c), W = D^λ /
      Σ D^λ, the official score is act(z_c) · act(z_c + w_c + f_c); for the
      Gumbel CDF that is exactly act(z_c + b_c) with b_c = −log(1 +
      exp(−(w_c + f_c))), the bias applied here to every activation (for
      the sigmoid and APA an approximation of the official product).

    Args:
        ann_file (str): The training annotation file; it needs boxes and
            image sizes.
        spatial_exponent (float): λ (official: 2).
        frequency_scale (float): α (official: 1/ln 10).
    """

    def __init__(self, ann_file: str, spatial_exponent: float = 2.,
                 frequency_scale: Optional[float] = None) -> None:
        super().__init__(ann_file)
        self.spatial_exponent = float(spatial_exponent)
        self.frequency_scale = (1 / math.log(10) if frequency_scale is None
                                else float(frequency_scale))

    def class_bias(self, stats, form):
        if stats.fractal_dimension is None:
            raise ValueError(f'FRACAL needs where the objects lie, but '
                             f'{self.ann_file}: {stats.missing}')
        classes = stats.num_classes
        share = _counts(stats.image_count) / max(stats.num_images, 1)
        frequency = -self.frequency_scale * np.log(classes * share)
        spread = stats.fractal_dimension**self.spatial_exponent
        if form == SOFTMAX:
            return frequency - np.log(spread)
        spatial = -self.frequency_scale * np.log(classes * spread /
                                                 spread.sum())
        return -np.logaddexp(0., -(frequency + spatial))


class CalibratedBBoxHeadMixin:
    """A box head whose test-time class logits go through a
    :class:`ScoreCalibrator` (``calibration=dict(type=...)``; none by
    default: the head's own scores) before its own activation, so that
    its scores, the boxes kept by NMS and the mask head's class choice all
    use the calibrated scores. The statistics are read when the head is
    built (a calibrator that does not fit the head fails there), or, where
    the annotation file is not there yet, at the first prediction. Put it
    before the mmdet head class."""

    def __init__(self, *args, calibration: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calibration = None
        if calibration is not None:
            self.calibration = MODELS.build(calibration)
            if not isinstance(self.calibration, ScoreCalibrator):
                raise TypeError(f'calibration {calibration}: '
                                f'{type(self.calibration).__name__} is '
                                'not a ScoreCalibrator')
            if osp.isfile(self.calibration.ann_file):
                self.calibration.fit(self)

    def _predict_by_feat_single(self, roi, cls_score, *args, **kwargs):
        if self.calibration is not None and cls_score is not None:
            if not self.calibration.fitted:
                self.calibration.fit(self)
            cls_score = self.calibration(cls_score)
        return super()._predict_by_feat_single(roi, cls_score, *args,
                                               **kwargs)
