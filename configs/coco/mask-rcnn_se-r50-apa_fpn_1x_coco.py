# Mask R-CNN with the official APA SE-ResNet-50 on COCO, 1x schedule, stock
# softmax heads (COCO is not long-tailed).
_base_ = [
    '../_base_/models/mask-rcnn_se-r50-apa_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py', '../_base_/dist-runtime.py'
]
# every data path follows DATA_ROOT (mmdet's COCO layout below it)
data_root = '{{$DATA_ROOT:data/coco/}}'.rstrip('/') + '/'
# workers start afresh each epoch, seeded as mmengine seeds them, so that
# --resume repeats the augmentations of the uninterrupted run
train_dataloader = dict(
    persistent_workers=False, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
# rank 0 evaluates alone while the others wait: the official two hours
env_cfg = dict(dist_cfg=dict(backend='nccl', timeout=7200))
