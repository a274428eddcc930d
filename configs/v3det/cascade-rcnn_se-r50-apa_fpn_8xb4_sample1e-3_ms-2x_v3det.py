# Cascade R-CNN with the official APA SE-ResNet-50 on V3Det (13,204 classes):
# mmdet's V3Det recipe with the backbone swapped.
_base_ = [
    'mmdet::v3det/cascade_rcnn_r50_fpn_8x4_sample1e-3_mstrain_v3det_2x.py',
    '../_base_/models/se-r50-apa.py'
]
model = dict(backbone={{_base_.apa_backbone}})
# exact --resume (random numbers per iteration depend on the iteration alone)
custom_hooks = [dict(type='IterationSeedHook')]
