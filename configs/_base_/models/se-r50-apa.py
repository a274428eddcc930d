# The official APA SE-ResNet-50 backbone (AGLU in the stem and at every
# bottleneck site; LayerNorm, Dropout(0.1) and an APA gate in SE), as a
# variable for configs to use: model = dict(backbone={{_base_.apa_backbone}}).
custom_imports = dict(imports=['apa_mmdet'], allow_failed_imports=False)
apa_backbone = dict(
    _delete_=True,
    type='APASEResNet',
    depth=50,
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=True,
    style='pytorch',
    act_cfg=dict(type='AGLU'),
    se_cfg=dict(
        ratio=16,
        norm_cfg=dict(type='LN'),
        dropout=0.1,
        act_cfg=(dict(type='ReLU'), dict(type='APA'))),
    # the official ImageNet APA SE-R50, converted with
    # tools/model_converters/aglu2apa.py (see configs/lvis/README.md), in
    # CHECKPOINT_ROOT (default checkpoints/)
    init_cfg=dict(
        type='Pretrained',
        checkpoint='{{$CHECKPOINT_ROOT:checkpoints}}'.rstrip('/')
        + '/se-r50-apa_in1k_aglu2apa.pth'))
