# Ablation of the official recipe: sigmoid instead of Gumbel class scores
# (same loss, rare-negative dropping and ±10 logit clamp, so that only the
# activation differs; the official code's non-Gumbel branch, plain
# binary_cross_entropy_with_logits, clamps nothing). The official fc_cls bias
# -2 is tuned for the Gumbel head (initial score exp(-e^2) = 6.2e-4, sigmoid's
# would be 0.12): the sigmoid head starts at the same score, bias -e^2.
_base_ = './mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(act_cfg=dict(type='SigmoidClassScore')),
            init_cfg=dict(bias=-7.389))))
