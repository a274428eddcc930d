# The learnable APA classifier started from the sigmoid, its λ, κ out of
# weight decay (as the control beside it) and learning at 10x the base rate
# (mmengine's paramwise_cfg.custom_keys): room to move before the cosine
# brings the rate down. Only the classifier's λ, κ; the backbone's AGLU
# parameters keep the recipe's rate and decay.
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_apa-cls-from-sigmoid_no-decay_synthetic-lvis-lt.py'
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'roi_head.bbox_head.loss_cls.act.': dict(lr_mult=10.,
                                                     decay_mult=0.)
        }))
