# The official APA LVIS v1 recipe with SE-R101-AGLU-APA.
_base_ = './mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/se-r101-apa_in1k_aglu2apa.pth')))
