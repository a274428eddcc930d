# The official APA V3Det Faster R-CNN (box AP 29.9): the APA SE-ResNet-50 on
# mmdet's V3Det recipe (RFS 1e-3, multi-scale, AdamW 1e-4, weight decay 0.1,
# gradient clip 35, 137,520 iterations at 8x4, class-agnostic L1 regression,
# score_thr 1e-4 / NMS 0.6 / 300 per image) with the official classifier:
# WCLinear (s = 300) under softmax cross-entropy over 13,204 + 1 classes.
_base_ = [
    './faster-rcnn_se-r50-apa_fpn_8xb4_sample1e-3_ms-2x_v3det.py',
    '../_base_/models/wclinear-softmax-cls.py'
]
model = dict(roi_head=dict(bbox_head=_base_.wclinear_softmax_head))
