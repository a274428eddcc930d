# Copyright (c) apa_mmdet contributors.
"""What a trained model does with APA: streaming statistics of every
activation site's input and of the classifier's logits and scores per LVIS
frequency group (``tools/analysis_tools/activation_stats.py``), and the
figures the analysis tools draw."""
from .figures import saved_figure
from .recorders import (ClassifierRecorder, SiteInputRecorder,
                        assign_roi_labels, dataset_ground_truth,
                        frequency_groups)
from .statistics import GroupScoreStats, Histogram, Moments

__all__ = [
    'ClassifierRecorder', 'GroupScoreStats', 'Histogram', 'Moments',
    'SiteInputRecorder', 'assign_roi_labels', 'dataset_ground_truth',
    'frequency_groups', 'saved_figure'
]
