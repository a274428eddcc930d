# The long-tail benchmark with learnable APA class scores started from the
# sigmoid (λ = κ = 1, fc_cls bias -e² as the sigmoid head): does APA find
# a Gumbel-like shape by itself?
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_sigmoid-cls_synthetic-lvis-lt.py'
model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                act_cfg=dict(
                    _delete_=True,
                    type='APAClassScore',
                    num_parameters={{_base_.num_classes}},
                    lambda_init=1.0,
                    kappa_init=1.0)))))
