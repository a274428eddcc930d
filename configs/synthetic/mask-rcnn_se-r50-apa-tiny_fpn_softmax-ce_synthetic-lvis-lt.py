# The long-tail benchmark with softmax cross-entropy over C + 1 logits (no
# DropLoss: it replaces the loss), as
# ../lvis/mask-rcnn_se-r50-apa_fpn_softmax-ce_sample1e-3_ms-2x_lvis-v1.py.
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis-lt.py'
model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='CrossEntropyLoss',
                use_sigmoid=False,
                loss_weight=1.0))))
