# The Swin-AGLU V3Det recipe
# (../v3det/faster-rcnn_swin-b-aglu_fpn_wclinear_8xb4_sample1e-3_ms-2x_v3det.py)
# CPU-sized: a Swin-T layout at half width (embed_dims 48, depths 2-2-6-2,
# head width 16) with AGLU in every FFN, from scratch, on the generated
# V3Det-format set.
_base_ = './faster-rcnn_se-r50-apa-tiny_fpn_wclinear_synthetic-v3det.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        embed_dims=48,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        mlp_ratio=4,
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        act_cfg=dict(type='AGLU'),
        convert_weights=False,
        init_cfg=None),
    neck=dict(in_channels=[48, 96, 192, 384]))
