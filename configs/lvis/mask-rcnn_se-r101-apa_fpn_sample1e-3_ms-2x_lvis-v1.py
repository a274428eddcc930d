# The official APA LVIS v1 recipe with SE-R101-AGLU-APA-GOL (mask AP 30.7):
# as SE-R50 but, officially, a fixed mask temperature of 20 and the default
# deconv upsampling instead of CARAFE.
_base_ = './mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='{{$CHECKPOINT_ROOT:checkpoints}}'.rstrip('/')
            + '/se-r101-apa_in1k_aglu2apa.pth')),
    roi_head=dict(
        mask_head=dict(
            predictor_cfg=dict(
                _delete_=True, type='NormedConv2d', tempearture=20),
            upsample_cfg=dict(_delete_=True, type='deconv', scale_factor=2))))
