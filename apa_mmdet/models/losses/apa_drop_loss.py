# Copyright (c) apa_mmdet contributors.
"""The Gumbel Optimised Loss (GOL) with rare-negative dropping, generalised
to the APA family (Gumbel, sigmoid, learnable APA)."""
import os.path as osp
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmdet.models.losses import accuracy, weight_reduce_loss
from mmdet.registry import MODELS
from torch import Tensor, nn

from ...datasets.class_frequency import load_class_frequency

# short aliases -> the registered class-score modules
CLASS_SCORES = dict(Gumbel='GumbelClassScore', Sigmoid='SigmoidClassScore',
                    APA='APAClassScore')


@MODELS.register_module()
class APADropLoss(nn.Module):
    """The Gumbel Optimised Loss (GOL), dropping rare negatives: binary
    cross-entropy on an APA-family probability, the official APA
    classification loss made general.

    The head's ``fc_cls`` gives C logits z (no background logit). Each class
    probability is p = act(z) with act the Gumbel CDF exp(−exp(−z)) (the
    official Gumbel Optimised Loss, APA's λ → 0 member), the sigmoid, or a
    learnable APA(z; λ, κ). The loss, computed in log space, is

        L = Σ_{n,c} w_nc · [−t_nc·log p_nc − (1 − t_nc)·log(1 − p_nc)] / N

    with logits first clamped to ±``logit_clamp`` (official: 10). The weights
    w drop negative terms of tail classes (image frequency < ``tail_thr``,
    official 0.0011): always on foreground RoIs; on background RoIs each
    tail negative is kept with probability equal to the share of the batch's
    foreground RoIs whose class is a tail class. Positives are never dropped.

    It plugs into mmdet's ``BBoxHead`` through the custom-loss protocol: C
    classifier channels, ``get_activation`` returns (N, C + 1) scores with a
    zero background column (inference and cascade refinement use the same
    activation), ``get_accuracy`` logs ``acc_classes`` on foreground RoIs.

    Args:
        num_classes (int): C; must equal the head's and the annotation
            file's number of classes.
        ann_file (str, optional): Training annotation file (LVIS, COCO or
            V3Det format) giving the class frequencies. Read at construction
            if it exists, else at the first training step; not needed for
            inference or with ``tail_thr=0``.
        act_cfg (dict): The class-score module, built from the registry:
            ``dict(type='GumbelClassScore')`` (official),
            ``dict(type='SigmoidClassScore')``, or
            ``dict(type='APAClassScore', ...)`` for learnable λ, κ
            (``num_parameters=C`` for one pair per class; λ=0.01, κ=1, next
            to the Gumbel, unless given). ``'Gumbel'``, ``'Sigmoid'`` and
            ``'APA'`` are accepted as aliases of these (not the activation
            layer ``APA`` that backbones' ``act_cfg`` names).
        tail_thr (float): Image-frequency threshold of tail classes.
            Defaults to 0.0011.
        logit_clamp (float, optional): Clamp logits to ±this before the
            loss (outside it the loss is constant, as officially). None
            disables it. Defaults to 10.
        reduction (str): 'mean', 'sum' or 'none' (per-RoI sums), reduced
            with mmdet's ``weight_reduce_loss``. Defaults to 'mean'.
        loss_weight (float): Defaults to 1.0.
    """
    # scores are one activation per class, not a softmax (what score
    # calibration adjusts for, ``roi_heads.score_calibration.score_form``)
    score_form = 'independent'

    def __init__(self,
                 num_classes: int,
                 ann_file: Optional[str] = None,
                 act_cfg: dict = dict(type='GumbelClassScore'),
                 tail_thr: float = 0.0011,
                 logit_clamp: Optional[float] = 10.,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', "
                             f'got {reduction!r}')
        act_cfg = dict(act_cfg)
        act_type = CLASS_SCORES.get(act_cfg.get('type'), act_cfg.get('type'))
        if act_type not in CLASS_SCORES.values():
            raise ValueError(
                f'act_cfg type {act_cfg.get("type")!r} is not one of '
                f'{list(CLASS_SCORES)} (or {list(CLASS_SCORES.values())})')
        try:
            self.act = MODELS.build(dict(act_cfg, type=act_type))
        except TypeError as error:
            raise ValueError(f'act_cfg {act_cfg}: {error}') from error
        self.num_classes = num_classes
        self.ann_file = ann_file
        self.tail_thr = tail_thr
        self.logit_clamp = logit_clamp
        self.reduction = reduction
        self.loss_weight = loss_weight
        # per-device state recomputable from ann_file: not in checkpoints
        self.register_buffer('tail_classes', None, persistent=False)
        if tail_thr <= 0:
            self.tail_classes = torch.zeros(num_classes, dtype=torch.bool)
        elif ann_file is not None and osp.isfile(ann_file):
            self._load_tail_classes()
        self.custom_cls_channels = True
        self.custom_activation = True
        self.custom_accuracy = True

    @staticmethod
    def config_without_file_reads(cfg: dict) -> dict:
        """``cfg`` (this loss's config) without its annotation file: no
        negative is dropped (``tail_thr=0``)."""
        return dict(cfg, ann_file=None, tail_thr=0.)

    def _load_tail_classes(self) -> None:
        """Read the class frequencies of ``ann_file`` and mark tail classes.

        Runs at construction when the file exists (a corrupt file or a
        class-count mismatch fails the build), else at the first training
        step, so configs build and models predict without the data.
        """
        stats = load_class_frequency(self.ann_file)
        if stats.num_classes != self.num_classes:
            raise ValueError(
                f'num_classes={self.num_classes} disagrees with '
                f'{self.ann_file}, which has {stats.num_classes} categories')
        self.tail_classes = torch.from_numpy(stats.frequency < self.tail_thr)

    def get_cls_channels(self, num_classes: int) -> int:
        """C classifier outputs: no background logit."""
        if num_classes != self.num_classes:
            raise ValueError(f'the head has num_classes={num_classes} but '
                             f'its loss_cls has {self.num_classes}')
        return num_classes

    def get_activation(self, cls_score: Tensor) -> Tensor:
        """Scores (N, C + 1): class probabilities and a zero background."""
        scores = self.act(cls_score.float())
        return F.pad(scores, (0, 1)).to(cls_score.dtype)

    def get_accuracy(self, cls_score: Tensor,
                     labels: Tensor) -> Dict[str, Tensor]:
        """Top-1 accuracy of the logits on foreground RoIs."""
        pos = (labels >= 0) & (labels < self.num_classes)
        acc = accuracy(cls_score[pos], labels[pos]) if pos.any() else \
            cls_score.new_zeros(())
        return dict(acc_classes=acc)

    def _keep_mask(self, labels: Tensor) -> Tensor:
        """(N, C) bool, False where a tail class's negative term is dropped:
        on foreground RoIs always, on background RoIs unless a draw with the
        batch's tail share of foreground RoIs keeps it (with no foreground
        RoI, background RoIs keep every term)."""
        if self.tail_classes is None:
            if self.ann_file is None:
                raise RuntimeError(
                    'APADropLoss needs ann_file (the training annotation '
                    'file) to find the tail classes; set it, or tail_thr=0')
            self._load_tail_classes()
        tail = self.tail_classes.to(labels.device)
        keep = torch.ones(labels.numel(), self.num_classes, dtype=torch.bool,
                          device=labels.device)
        fg = labels < self.num_classes
        keep[fg] = ~tail
        bg = ~fg
        if bg.any() and fg.any():
            tail_share = tail[labels[fg]].float().mean()
            drawn = torch.rand(int(bg.sum()), self.num_classes,
                               device=labels.device) <= tail_share
            keep[bg] = ~tail | drawn
        return keep

    def forward(self,
                cls_score: Tensor,
                labels: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of (N, C) logits against labels in [0, C] (C: background).

        Args:
            cls_score (Tensor): (N, C) logits.
            labels (Tensor): (N,) labels; C is background.
            weight (Tensor, optional): (N,) per-RoI weights.
            avg_factor (float, optional): Divisor of the 'mean' reduction;
                defaults to N. With 'sum' it is an error, as in mmdet.
            reduction_override (str, optional): 'none', 'mean' or 'sum'.

        Returns:
            Tensor: Scalar loss, or (N,) per-RoI losses for 'none'.
        """
        if cls_score.shape[-1] != self.num_classes:
            raise ValueError(f'cls_score has {cls_score.shape[-1]} classes, '
                             f'expected {self.num_classes}')
        assert reduction_override in (None, 'none', 'mean', 'sum'), \
            f'unknown reduction_override {reduction_override!r}'
        reduction = reduction_override or self.reduction
        z = cls_score.float()
        if self.logit_clamp is not None:
            z = z.clamp(-self.logit_clamp, self.logit_clamp)
        target = F.one_hot(labels, self.num_classes + 1)[:, :-1].float()
        loss = -(target * self.act.log_prob(z) +
                 (1 - target) * self.act.log_complement(z))
        if self.tail_thr > 0:  # positives are never dropped
            loss = loss * (self._keep_mask(labels) | target.bool())
        if reduction == 'mean' and avg_factor is None:
            avg_factor = max(labels.numel(), 1)
        loss = weight_reduce_loss(
            loss.sum(dim=1),
            weight=None if weight is None else weight.float(),
            reduction=reduction,
            avg_factor=avg_factor)
        return self.loss_weight * loss
