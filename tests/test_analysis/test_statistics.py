# Copyright (c) apa_mmdet contributors.
"""Streaming moments, histograms and per-group RoI statistics against a
direct computation on all values at once."""
import numpy as np
import pytest
import torch

from apa_mmdet.analysis import GroupScoreStats, Histogram, Moments


def direct_moments(values: np.ndarray) -> dict:
    x = values.astype(np.float64).reshape(-1)
    d = x - x.mean()
    m2, m3, m4 = (d**2).mean(), (d**3).mean(), (d**4).mean()
    return dict(count=x.size, mean=x.mean(), std=m2**0.5,
                skewness=m3 / m2**1.5, kurtosis=m4 / m2**2 - 3)


@pytest.mark.parametrize('shift', [0., 1e4])
def test_moments_merged_over_batches_equal_the_direct_ones(shift):
    """Skewed data in uneven batches, also far from zero (where raw power
    sums would cancel)."""
    generator = torch.Generator().manual_seed(0)
    batches = [torch.empty(n).exponential_(generator=generator) + shift
               for n in (1, 7, 1000, 0, 33)]
    moments = Moments()
    for batch in batches:
        moments.update(batch.float().view(-1, 1) if len(batch) == 7 else
                       batch)
    expected = direct_moments(torch.cat(batches).float().numpy())
    for key, value in moments.as_dict().items():
        assert value == pytest.approx(expected[key], rel=1e-6, abs=1e-9), key
    assert moments.skewness == pytest.approx(2, abs=0.3)  # exponential


def test_moments_of_nothing_or_a_constant_are_nan():
    moments = Moments()
    assert np.isnan(moments.std) and np.isnan(moments.kurtosis)
    moments.update(torch.full((5,), 3.))
    assert moments.std == 0 and np.isnan(moments.skewness)


def test_histogram_counts_out_of_range_values_at_the_ends():
    histogram = Histogram((-1., 1.), 4)
    histogram.update(torch.tensor([-5., -0.75, 0.1, 0.2, 0.9, 3.]))
    assert histogram.counts.tolist() == [2, 0, 2, 2]
    assert histogram.edges.tolist() == [-1, -0.5, 0, 0.5, 1]


def test_group_stats_equal_a_direct_computation():
    """Positives: x[i, label_i] for RoIs of the group's classes; negatives:
    x[i, c] for the group's other classes (background: all)."""
    groups = ['f', 'r', 'c', 'f', 'r', 'c', 'c']
    generator = torch.Generator().manual_seed(1)
    stats = GroupScoreStats(groups)
    all_logits, all_labels = [], []
    for rois in (50, 3, 80):
        logits = torch.randn(rois, len(groups), generator=generator) * 3
        labels = torch.randint(-1, len(groups), (rois,), generator=generator)
        stats.update(logits, logits.sigmoid(), labels)
        all_logits.append(logits)
        all_labels.append(labels)
    logits = torch.cat(all_logits).numpy()
    labels = torch.cat(all_labels).numpy()
    assert stats.groups == ['r', 'c', 'f']
    for group in 'rcf':
        positives, negatives = [], []
        for i, label in enumerate(labels):
            for c, g in enumerate(groups):
                if g == group:
                    (positives if c == label else negatives).append(
                        logits[i, c])
        for positive, values in ((True, positives), (False, negatives)):
            values = np.array(values)
            for kind, expected_values in (('logit', values),
                                          ('score', 1 / (1 + np.exp(-values)))):
                got = stats.stats[(group, kind, positive)].moments.as_dict()
                expected = direct_moments(expected_values)
                for key in expected:
                    assert got[key] == pytest.approx(expected[key],
                                                     rel=1e-5), (group, kind)
            histogram = stats.stats[(group, 'logit', positive)].histogram
            assert histogram.counts.sum() == len(values)


def test_group_stats_refuse_a_class_count_mismatch():
    stats = GroupScoreStats(['r', 'f'])
    with pytest.raises(ValueError, match='must have 2 classes'):
        stats.update(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4))
