# The official APA recipe tested with FRACAL (Alexandridis et al., CVPR 2025):
# each class's logit shifted by its training frequency and by the fractal
# dimension of where its boxes lie, read from the training annotations. It
# changes testing only: a checkpoint of the recipe is tested as it is
# (tools/test.py THIS_CONFIG CHECKPOINT). The recipe already tests with the
# FRACAL configs' NMS IoU 0.3 and mask threshold 0.4.
_base_ = './mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
data_root = '{{$DATA_ROOT:data/lvis_v1/}}'.rstrip('/') + '/'
model = dict(
    roi_head=dict(
        bbox_head=dict(
            type='CalibratedShared2FCBBoxHead',
            calibration=dict(
                type='FRACAL',
                ann_file=data_root + 'annotations/lvis_v1_train.json'))))
