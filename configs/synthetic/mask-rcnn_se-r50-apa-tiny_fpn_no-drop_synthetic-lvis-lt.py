# The long-tail benchmark's Gumbel head without DropLoss: APADropLoss with
# tail_thr=0 drops no negative term (the activation alone).
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis-lt.py'
model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(tail_thr=0.))))
