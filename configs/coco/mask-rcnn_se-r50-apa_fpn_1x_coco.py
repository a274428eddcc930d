# Mask R-CNN with the official APA SE-ResNet-50 on COCO, 1x schedule, stock
# softmax heads (COCO is not long-tailed).
_base_ = [
    '../_base_/models/mask-rcnn_se-r50-apa_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py'
]
# exact --resume (random numbers per iteration depend on the iteration alone)
custom_hooks = [dict(type='IterationSeedHook')]
