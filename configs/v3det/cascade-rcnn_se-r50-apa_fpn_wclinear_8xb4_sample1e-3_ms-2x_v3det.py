# The official APA V3Det Cascade R-CNN (box AP 35.4): the APA SE-ResNet-50 on
# mmdet's V3Det Cascade recipe (as the Faster one; three stages at IoU
# 0.5/0.6/0.7) with the official classifier in every stage: WCLinear
# (s = 300) under softmax cross-entropy over 13,204 + 1 classes.
_base_ = [
    './cascade-rcnn_se-r50-apa_fpn_8xb4_sample1e-3_ms-2x_v3det.py',
    '../_base_/models/wclinear-softmax-cls.py'
]
model = dict(
    roi_head=dict(bbox_head=[
        dict(stage,
             cls_predictor_cfg=_base_.wclinear_predictor,
             loss_cls=_base_.softmax_ce)
        for stage in _base_.model.roi_head.bbox_head
    ]))
