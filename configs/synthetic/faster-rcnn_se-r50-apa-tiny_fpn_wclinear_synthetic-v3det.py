# The CPU-sized V3Det Faster R-CNN with the official classifier (WCLinear,
# s = 300, softmax cross-entropy), as in
# ../v3det/faster-rcnn_se-r50-apa_fpn_wclinear_8xb4_sample1e-3_ms-2x_v3det.py
_base_ = [
    './faster-rcnn_se-r50-apa-tiny_fpn_synthetic-v3det.py',
    '../_base_/models/wclinear-softmax-cls.py'
]
model = dict(roi_head=dict(bbox_head=_base_.wclinear_softmax_head))
