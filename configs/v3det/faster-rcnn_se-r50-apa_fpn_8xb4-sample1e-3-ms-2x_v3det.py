# Faster R-CNN with the official APA SE-ResNet-50 on V3Det (13,204 classes):
# mmdet's V3Det recipe (RFS 1e-3, multi-scale, AdamW, 137,520 iterations,
# batch 8x4) with the backbone swapped.
_base_ = [
    'mmdet::v3det/faster_rcnn_r50_fpn_8x4_sample1e-3_mstrain_v3det_2x.py',
    '../_base_/models/se-r50-apa.py'
]
model = dict(
    backbone={{_base_.apa_backbone}},
    # float32 proposal NMS, RoI pooling and box NMS under mixed precision
    rpn_head=dict(type='FP32RPNHead'),
    roi_head=dict(
        bbox_roi_extractor=dict(type='FP32SingleRoIExtractor'),
        bbox_head=dict(type='FP32Shared2FCBBoxHead')))
# exact --resume (random numbers per iteration depend on the iteration alone)
custom_hooks = [dict(type='IterationSeedHook')]
