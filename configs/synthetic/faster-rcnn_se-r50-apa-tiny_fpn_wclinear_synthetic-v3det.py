# The CPU-sized V3Det Faster R-CNN with the official classifier (WCLinear,
# s = 300, softmax cross-entropy), as in
# ../v3det/faster-rcnn_se-r50-apa_fpn_wclinear_8xb4_sample1e-3_ms-2x_v3det.py
_base_ = [
    './faster-rcnn_se-r50-apa-tiny_fpn_synthetic-v3det.py',
    '../_base_/models/wclinear-softmax-cls.py'
]
model = dict(
    roi_head=dict(
        bbox_head=dict(
            cls_predictor_cfg=dict(_delete_=True, **_base_.wclinear_predictor),
            loss_cls=dict(_delete_=True, **_base_.softmax_ce))))
