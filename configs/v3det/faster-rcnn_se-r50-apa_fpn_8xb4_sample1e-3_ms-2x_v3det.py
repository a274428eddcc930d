# Faster R-CNN with the official APA SE-ResNet-50 on V3Det (13,204 classes):
# mmdet's V3Det recipe (RFS 1e-3, multi-scale, AdamW, 137,520 iterations,
# batch 8x4) with the backbone swapped.
_base_ = [
    'mmdet::v3det/faster_rcnn_r50_fpn_8x4_sample1e-3_mstrain_v3det_2x.py',
    '../_base_/models/se-r50-apa.py', '../_base_/dist-runtime.py'
]
model = dict(backbone={{_base_.apa_backbone}})
# every data path follows DATA_ROOT (mmdet's V3Det layout below it)
data_root = '{{$DATA_ROOT:data/V3Det/}}'.rstrip('/') + '/'
train_dataloader = dict(dataset=dict(dataset=dict(data_root=data_root)))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/v3det_2023_v1_val.json')
test_evaluator = val_evaluator
# rank 0 evaluates alone while the others wait: the official two hours
env_cfg = dict(dist_cfg=dict(backend='nccl', timeout=7200))
