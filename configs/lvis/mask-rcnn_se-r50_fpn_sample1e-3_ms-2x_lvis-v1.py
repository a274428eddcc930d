# Ablation of the official recipe: the plain SE-ResNet-50 (ReLU everywhere,
# sigmoid SE gate, no LayerNorm/Dropout), the official use_gumbel=False.
_base_ = './mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
model = dict(
    backbone=dict(
        act_cfg=dict(type='ReLU', inplace=True),
        se_cfg=dict(
            _delete_=True,
            ratio=16,
            act_cfg=(dict(type='ReLU'), dict(type='Sigmoid'))),
        init_cfg=dict(checkpoint='{{$CHECKPOINT_ROOT:checkpoints}}'.rstrip('/')
                      + '/se-r50_in1k_aglu2apa.pth')))
