# The official APA LVIS v1 recipe, SE-R50-AGLU-APA-GOL (mask AP 29.1-29.2):
# APA SE-ResNet-50, Gumbel classifier trained with the Gumbel Optimised Loss
# (rare negatives dropped), cosine mask predictor with learnable temperature,
# CARAFE mask upsampling (mmcv's kernel on CUDA, torch ops on other devices),
# repeat factor sampling 1e-3, multi-scale training, 2x schedule, fp32 (AMP:
# add --amp to tools/train.py); evaluated by FastLVISMetric.
_base_ = [
    '../_base_/models/mask-rcnn_se-r50-apa_fpn.py',
    'mmdet::_base_/datasets/lvis_v1_instance.py',
    'mmdet::_base_/schedules/schedule_2x.py',
    'mmdet::_base_/default_runtime.py', '../_base_/dist-runtime.py'
]
# every data path follows DATA_ROOT (mmdet's layout below it), e.g.
# DATA_ROOT=/datasets/lvis_v1/ bash tools/dist_train.sh CONFIG 8
data_root = '{{$DATA_ROOT:data/lvis_v1/}}'.rstrip('/') + '/'
num_classes = 1203
model = dict(
    roi_head=dict(
        bbox_head=dict(
            num_classes=num_classes,
            loss_cls=dict(
                _delete_=True,
                type='APADropLoss',
                num_classes=num_classes,
                # class frequencies (image_count) of the training set
                ann_file=data_root + 'annotations/lvis_v1_train.json',
                act_cfg=dict(type='GumbelClassScore'),
                tail_thr=0.0011,
                logit_clamp=10.),
            # official: every fc_cls weight 0.001, bias -2 (initial Gumbel
            # score exp(-e^2)); it also leaves shared_fcs/fc_reg at PyTorch's
            # default init, as officially
            init_cfg=dict(
                type='Constant', val=0.001, bias=-2,
                override=dict(name='fc_cls'))),
        mask_head=dict(
            num_classes=num_classes,
            predictor_cfg=dict(type='LearnableTempNormedConv2d'),
            upsample_cfg=dict(
                type='carafe',
                scale_factor=2,
                up_kernel=5,
                up_group=1,
                encoder_kernel=3,
                encoder_dilation=1,
                compressed_channels=64))),
    test_cfg=dict(
        rcnn=dict(
            score_thr=0.0001,
            nms=dict(type='nms', iou_threshold=0.3),
            max_per_img=300,  # LVIS allows up to 300
            mask_thr_binary=0.4)))
# workers start afresh each epoch, seeded as mmengine seeds them, so that
# --resume repeats the augmentations of the uninterrupted run
train_dataloader = dict(
    persistent_workers=False, dataset=dict(dataset=dict(data_root=data_root)))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
# LVISMetric's numbers from faster-coco-eval (at 5,000 generated 128-px
# images x 300 detections: 0.17-0.19 of lvis-api's peak memory, 5-17x
# faster; benchmarks/README.md); back to lvis-api: type='LVISMetric'
val_evaluator = dict(
    type='FastLVISMetric', ann_file=data_root + 'annotations/lvis_v1_val.json')
test_evaluator = val_evaluator
# LVIS evaluation takes longer than an epoch of inference: only at the end
train_cfg = dict(val_interval=24)
# rank 0 scores LVIS alone while the others wait: allow it two hours
env_cfg = dict(dist_cfg=dict(backend='nccl', timeout=7200))
