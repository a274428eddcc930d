# The long-tail benchmark on the plain SE-ResNet (ReLU everywhere, ReLU /
# sigmoid SE gate) with the Gumbel head, as
# ../lvis/mask-rcnn_se-r50_fpn_sample1e-3_ms-2x_lvis-v1.py: the backbone's
# activation against the AGLU one.
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis-lt.py'
model = dict(
    backbone=dict(
        act_cfg=dict(type='ReLU', inplace=True),
        se_cfg=dict(
            _delete_=True,
            ratio=16,
            act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')))))
