# The long-tail benchmark with learnable APA class scores, one (λ, κ) per
# class from next to the Gumbel CDF (λ = 0.01, κ = 1), as
# ../lvis/mask-rcnn_se-r50-apa_fpn_apa-cls_sample1e-3_ms-2x_lvis-v1.py.
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis-lt.py'
model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                act_cfg=dict(
                    type='APAClassScore',
                    num_parameters={{_base_.num_classes}},
                    lambda_init=0.01,
                    kappa_init=1.0)))))
