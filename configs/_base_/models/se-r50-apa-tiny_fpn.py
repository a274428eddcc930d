# The CPU-sized delta of the synthetic configs on a two-stage APA recipe:
# the same layout at a quarter of the width, from scratch, fewer proposals
# and RoIs, the generated sets' 12 classes. A variable, since a second base may not define `model`; a child
# starts from it: model = _base_.tiny_model.copy(); model.merge(...)
width = 64  # FPN and head channels
tiny_model = dict(
    backbone=dict(
        base_channels=16,
        stem_channels=16,
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(
            in_channels=width,
            fc_out_channels=256,
            num_classes=12,
            loss_cls=dict(num_classes=12))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=600, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(max_per_img=50)))
