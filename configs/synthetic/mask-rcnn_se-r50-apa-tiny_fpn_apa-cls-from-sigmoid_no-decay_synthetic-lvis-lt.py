# The learnable APA classifier started from the sigmoid
# (./mask-rcnn_se-r50-apa-tiny_fpn_apa-cls-from-sigmoid_synthetic-lvis-lt.py)
# with its λ, κ out of weight decay, at the base rate: the control of the
# lr-10x variant beside it. Decay pulls λ toward 0 (the Gumbel) by itself;
# without it λ moves only where the loss moves it. Only the classifier's
# λ, κ: the backbone's AGLU parameters keep the recipe's decay.
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_apa-cls-from-sigmoid_synthetic-lvis-lt.py'
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'roi_head.bbox_head.loss_cls.act.': dict(decay_mult=0.)
        }))
