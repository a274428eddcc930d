# CPU-sized APA Faster R-CNN with the V3Det recipe's heads on the generated
# V3Det-format (box-only) set (apa_mmdet.datasets.synthetic.generate_v3det).
_base_ = [
    '../v3det/faster-rcnn_se-r50-apa_fpn_8xb4_sample1e-3_ms-2x_v3det.py',
    '../_base_/models/se-r50-apa-tiny_fpn.py',
    '../_base_/models/fp32-roi-ops.py'
]

data_root = '{{$DATA_ROOT:data/synthetic_v3det/}}'.rstrip('/') + '/'
model = _base_.tiny_model.copy()  # noqa: F821
model.merge(_base_.fp32_roi_ops)  # noqa: F821

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        oversample_thr=0.1,
        dataset=dict(data_root=data_root, pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/v3det_2023_v1_val.json')
test_evaluator = val_evaluator

max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[240], gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=max_iters))
# multi-process on CPU too (gloo): bash tools/dist_train.sh CONFIG 2
runner_type = 'DeviceAgnosticRunner'
env_cfg = dict(dist_cfg=dict(backend='gloo'))
