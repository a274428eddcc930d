# The long-tail benchmark with sigmoid class scores (APADropLoss kept), as
# ../lvis/mask-rcnn_se-r50-apa_fpn_sigmoid-cls_sample1e-3_ms-2x_lvis-v1.py:
# fc_cls bias -e², so that sigmoid(-e²) is the Gumbel head's first score.
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis-lt.py'
model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(act_cfg=dict(type='SigmoidClassScore')),
            init_cfg=[
                dict(type='Constant', val=0.001, bias=-7.389,
                     override=dict(name='fc_cls')),
                dict(type='Normal', std=0.001, override=dict(name='fc_reg')),
                dict(type='Xavier', distribution='uniform',
                     override=dict(name='shared_fcs'))
            ])))
