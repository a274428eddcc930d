# The official APA LVIS v1 recipe (SE-R50-AGLU-APA): repeat factor sampling
# 1e-3, multi-scale training, 2x schedule, fp32.
_base_ = [
    '../_base_/models/mask-rcnn_se-r50-apa_fpn.py',
    'mmdet::_base_/datasets/lvis_v1_instance.py',
    'mmdet::_base_/schedules/schedule_2x.py',
    'mmdet::_base_/default_runtime.py'
]
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=1203), mask_head=dict(num_classes=1203)),
    test_cfg=dict(
        rcnn=dict(
            score_thr=0.0001,
            nms=dict(type='nms', iou_threshold=0.3),
            max_per_img=300,  # LVIS allows up to 300
            mask_thr_binary=0.4)))
# LVIS evaluation takes longer than an epoch of inference: only at the end
train_cfg = dict(val_interval=24)
