# The long-tail benchmark's sigmoid head without DropLoss (tail_thr=0).
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_sigmoid-cls_synthetic-lvis-lt.py'
model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(tail_thr=0.))))
