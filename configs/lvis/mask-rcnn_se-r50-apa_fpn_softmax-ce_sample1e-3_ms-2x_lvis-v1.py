# Ablation of the official recipe: softmax cross-entropy over C + 1 logits
# instead of the Gumbel Optimised Loss.
_base_ = './mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='CrossEntropyLoss',
                use_sigmoid=False,
                loss_weight=1.0))))
