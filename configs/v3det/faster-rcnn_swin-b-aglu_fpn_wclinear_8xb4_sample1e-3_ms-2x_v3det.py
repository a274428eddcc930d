# AGLU beyond CNNs, the official V3Det experiment: Faster R-CNN with mmdet's
# Swin-B whose FFNs use AGLU (scalar λ, κ per FFN, through mmdet's own
# act_cfg) and the official classifier (WCLinear, s = 300, softmax CE), on
# the official V3Det recipe. The official config put act_cfg inside init_cfg,
# which mmdet's Swin never reads (its FFNs ran GELU); here act_cfg is where
# mmdet passes it to every FFN. The ImageNet Swin-B-AGLU weights convert with
# tools/model_converters/aglu2apa.py (the FFN activation keys moved to
# where mmcv's FFN holds them), hence convert_weights=False. No official
# number was published for it.
_base_ = './faster-rcnn_se-r50-apa_fpn_wclinear_8xb4_sample1e-3_ms-2x_v3det.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        embed_dims=128,
        depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32],
        window_size=7,
        mlp_ratio=4,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.3,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        with_cp=False,
        act_cfg=dict(type='AGLU'),
        convert_weights=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='{{$CHECKPOINT_ROOT:checkpoints}}'.rstrip('/')
            + '/swin-b-aglu_in1k_aglu2apa.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
