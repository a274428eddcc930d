# Beyond the official recipe: class scores from a learnable APA(z; λ, κ) with
# one (λ, κ) per class, initialised next to the Gumbel (λ=0.01, κ=1).
_base_ = './mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                act_cfg=dict(
                    type='APAClassScore',
                    num_parameters={{_base_.num_classes}},
                    lambda_init=0.01,
                    kappa_init=1.0)))))
