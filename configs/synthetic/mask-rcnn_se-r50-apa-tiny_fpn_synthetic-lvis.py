# CPU-sized version of the official recipe on the generated LVIS-format set
# (python -c "from apa_mmdet.datasets.synthetic import generate_lvis;
#  generate_lvis('data/synthetic_lvis')"): the same APA SE-ResNet-50 layout,
# Gumbel classifier with rare-negative dropping and learnable-temperature
# mask predictor, at a quarter of the width, 128-px images, deconv instead
# of CARAFE (cheaper), float32 RoI ops under bfloat16 autocast,
# trained from scratch for a few minutes.
_base_ = [
    '../lvis/mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py',
    '../_base_/models/se-r50-apa-tiny_fpn.py',
    '../_base_/models/fp32-roi-ops.py'
]
from apa_mmdet.datasets.synthetic import class_names  # noqa: E402

# DATA_ROOT=DIR (with or without the trailing slash) moves every data path
# (the demo sets it to its own set)
data_root = '{{$DATA_ROOT:data/synthetic_lvis/}}'.rstrip('/') + '/'
num_classes = 12
classes = class_names(num_classes)

model = _base_.tiny_model.copy()  # noqa: F821
model.merge(_base_.fp32_roi_ops)  # noqa: F821
model.merge(
    dict(
        roi_head=dict(
            bbox_head=dict(
                loss_cls=dict(
                    ann_file=data_root + 'annotations/lvis_v1_train.json',
                    # 12 classes in 160 images: tail = seen in < 10 % of them
                    tail_thr=0.1),
                # from scratch: mmdet's init for the box branch beside the
                # official fc_cls init (the full recipe starts from ImageNet)
                init_cfg=[
                    dict(type='Constant', val=0.001, bias=-2,
                         override=dict(name='fc_cls')),
                    dict(type='Normal', std=0.001,
                         override=dict(name='fc_reg')),
                    dict(type='Xavier', distribution='uniform',
                         override=dict(name='shared_fcs'))
                ]),
            mask_roi_extractor=dict(out_channels=_base_.width),  # noqa: F821
            mask_head=dict(
                num_convs=2,
                in_channels=_base_.width,  # noqa: F821
                conv_out_channels=_base_.width,  # noqa: F821
                num_classes=num_classes,
                upsample_cfg=dict(
                    _delete_=True, type='deconv', scale_factor=2)))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(112, 112), (128, 128), (144, 144)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
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
        dataset=dict(
            data_root=data_root,
            metainfo=dict(classes=classes),
            filter_cfg=dict(filter_empty_gt=True, min_size=8),
            pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/lvis_v1_val.json')
test_evaluator = val_evaluator

max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
# from scratch the Gumbel loss's positive term exp(-z) spikes at higher rates
optim_wrapper = dict(optimizer=dict(lr=0.01), clip_grad=dict(max_norm=10.))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='MultiStepLR', by_epoch=True, milestones=[7], gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs))
# multi-process on CPU too (gloo): bash tools/dist_train.sh CONFIG 2
runner_type = 'DeviceAgnosticRunner'
env_cfg = dict(dist_cfg=dict(backend='gloo'))
# a fixed seed, so that the demo's numbers repeat (mmengine draws one per run
# otherwise)
randomness = dict(seed=0)
