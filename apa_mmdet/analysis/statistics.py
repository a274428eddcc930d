# Copyright (c) apa_mmdet contributors.
"""Streaming statistics of large value sets: moments and histograms that are
updated batch by batch and never hold the values."""
from typing import Dict, Sequence, Tuple

import torch
from torch import Tensor


class Moments:
    """Count, mean, standard deviation, skewness and excess kurtosis of all
    values passed to :meth:`update`.

    Each batch's central moments are computed in float64 and merged with
    the running ones (Pébay's pairwise formulas), so a large mean does not
    cancel the higher moments as raw power sums would.
    """

    def __init__(self):
        self.count = 0
        self.mean = 0.0
        self._m2 = self._m3 = self._m4 = 0.0  # sums of (x - mean)^k

    def update(self, values: Tensor) -> None:
        """Add ``values`` (any shape)."""
        x = values.detach().reshape(-1).double()
        n_b = x.numel()
        if n_b == 0:
            return
        mean_b = x.mean()
        d = x - mean_b
        d2 = d * d
        m2_b, m3_b, m4_b = (d2.sum().item(), (d2 * d).sum().item(),
                            (d2 * d2).sum().item())
        mean_b = mean_b.item()
        n_a, n = self.count, self.count + n_b
        delta = mean_b - self.mean
        m2_a, m3_a = self._m2, self._m3
        self._m4 += m4_b + (delta**4 * n_a * n_b *
                            (n_a * n_a - n_a * n_b + n_b * n_b) / n**3 +
                            6 * delta**2 * (n_a * n_a * m2_b + n_b * n_b * m2_a)
                            / n**2 + 4 * delta * (n_a * m3_b - n_b * m3_a) / n)
        self._m3 += m3_b + (delta**3 * n_a * n_b * (n_a - n_b) / n**2 +
                            3 * delta * (n_a * m2_b - n_b * m2_a) / n)
        self._m2 += m2_b + delta**2 * n_a * n_b / n
        self.mean += delta * n_b / n
        self.count = n

    @property
    def std(self) -> float:
        """Population standard deviation."""
        return (self._m2 / self.count)**0.5 if self.count else float('nan')

    @property
    def skewness(self) -> float:
        """E[(x - μ)³] / σ³ (0 for a symmetric distribution)."""
        if not self.count or self._m2 == 0:
            return float('nan')
        return (self._m3 / self.count) / (self._m2 / self.count)**1.5

    @property
    def kurtosis(self) -> float:
        """Excess kurtosis E[(x - μ)⁴] / σ⁴ - 3 (0 for a Gaussian)."""
        if not self.count or self._m2 == 0:
            return float('nan')
        return (self._m4 / self.count) / (self._m2 / self.count)**2 - 3

    def as_dict(self) -> Dict[str, float]:
        return dict(count=self.count, mean=self.mean, std=self.std,
                    skewness=self.skewness, kurtosis=self.kurtosis)


class Histogram:
    """Counts of values in ``bins`` equal bins over ``value_range``; values
    outside it are counted in the first or last bin."""

    def __init__(self, value_range: Tuple[float, float], bins: int):
        self.low, self.high = value_range
        self.counts = torch.zeros(bins, dtype=torch.float64)

    @property
    def edges(self) -> Tensor:
        """(bins + 1,) bin edges."""
        return torch.linspace(self.low, self.high, len(self.counts) + 1,
                              dtype=torch.float64)

    def update(self, values: Tensor) -> None:
        x = values.detach().reshape(-1).double().clamp(self.low, self.high)
        self.counts += torch.histc(x, len(self.counts), self.low, self.high)

    def __iadd__(self, other: 'Histogram') -> 'Histogram':
        self.counts += other.counts
        return self


class ValueStats:
    """:class:`Moments` and :class:`Histogram` of the same values."""

    def __init__(self, value_range: Tuple[float, float], bins: int):
        self.moments = Moments()
        self.histogram = Histogram(value_range, bins)

    def update(self, values: Tensor) -> None:
        self.moments.update(values)
        self.histogram.update(values)


_LVIS_ORDER = dict(r=0, c=1, f=2)


class GroupScoreStats:
    """Classifier logits and scores of RoIs, split by class group and by
    whether the RoI belongs to the class.

    For a group g (e.g. LVIS's rare classes), the *positive* values are
    ``x[i, label_i]`` for RoIs whose class ``label_i`` is in g; the
    *negative* ones are ``x[i, c]`` for every class c in g other than
    ``label_i`` (background RoIs are negatives for every class).

    Args:
        class_groups (Sequence[str]): Group of each class, in label order.
        logit_range (tuple): Histogram range of the logits.
        bins (int): Histogram bins.
    """

    KINDS = ('logit', 'score')

    def __init__(self, class_groups: Sequence[str],
                 logit_range: Tuple[float, float] = (-15., 15.),
                 bins: int = 150):
        self.class_groups = list(class_groups)
        self.groups = sorted(set(self.class_groups),
                             key=lambda g: (_LVIS_ORDER.get(g, 3), g))
        self.stats = {(group, kind, positive): ValueStats(
            logit_range if kind == 'logit' else (0., 1.), bins)
                      for group in self.groups for kind in self.KINDS
                      for positive in (True, False)}

    def update(self, logits: Tensor, scores: Tensor, labels: Tensor) -> None:
        """Add RoIs: ``logits``, ``scores`` (K, C); ``labels`` (K,) the class
        of each RoI, or any value outside [0, C) for background."""
        num_classes = len(self.class_groups)
        if logits.shape[-1] != num_classes or scores.shape[-1] != num_classes:
            raise ValueError(f'logits {tuple(logits.shape)} and scores '
                             f'{tuple(scores.shape)} must have '
                             f'{num_classes} classes')
        labels = labels.to(logits.device)
        for group in self.groups:
            classes = torch.tensor(
                [c for c, g in enumerate(self.class_groups) if g == group],
                device=logits.device)
            is_own = labels[:, None] == classes[None, :]  # (K, |g|)
            for kind, values in zip(self.KINDS, (logits, scores)):
                values = values[:, classes]
                self.stats[(group, kind, True)].update(values[is_own])
                self.stats[(group, kind, False)].update(values[~is_own])
