# Ablation of the official recipe: sigmoid instead of Gumbel class scores
# (same loss, rare-negative dropping and clamp).
_base_ = './mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
model = dict(
    roi_head=dict(
        bbox_head=dict(loss_cls=dict(act_cfg=dict(type='Sigmoid')))))
