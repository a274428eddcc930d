# The FRACAL paper's Mask R-CNN R50 (Alexandridis et al., CVPR 2025; its
# r50_rfs_cos_lr_norm_4x4_2x_softmax_carafe): ImageNet ResNet-50, softmax
# cross-entropy on a normalised linear classifier (τ = 20), cosine mask
# predictor with learnable temperature, CARAFE upsampling, RFS 1e-3,
# multi-scale training, 2x (steps at 16, 22), 16 images a step. Trained, it is
# the softmax baseline; tested, FRACAL calibrates its class scores with the
# training set's statistics (NMS IoU 0.3, mask threshold 0.4, as FRACAL's
# configs; the baseline was tested with 0.5 and 0.5).
_base_ = './mask-rcnn_se-r50-apa_fpn_softmax-ce_sample1e-3_ms-2x_lvis-v1.py'
data_root = '{{$DATA_ROOT:data/lvis_v1/}}'.rstrip('/') + '/'
apa_backbone = None  # the SE recipe's backbone variable: not this model's
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    roi_head=dict(
        bbox_head=dict(
            type='CalibratedShared2FCBBoxHead',
            cls_predictor_cfg=dict(type='NormedLinear', tempearture=20),
            init_cfg=None,
            calibration=dict(
                type='FRACAL',
                ann_file=data_root + 'annotations/lvis_v1_train.json'))))
