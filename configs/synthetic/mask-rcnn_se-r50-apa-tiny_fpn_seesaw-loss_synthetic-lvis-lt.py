# The long-tail benchmark with mmdet's Seesaw Loss and its normalised linear
# classifier (no DropLoss: it replaces the loss), as
# ../lvis/mask-rcnn_se-r50-apa_fpn_seesaw-loss_sample1e-3_ms-2x_lvis-v1.py.
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis-lt.py'
model = dict(
    roi_head=dict(
        bbox_head=dict(
            cls_predictor_cfg=dict(type='NormedLinear', tempearture=20),
            loss_cls=dict(
                _delete_=True,
                type='SeesawLoss',
                p=0.8,
                q=2.0,
                num_classes={{_base_.num_classes}},
                loss_weight=1.0),
            init_cfg=None)))
