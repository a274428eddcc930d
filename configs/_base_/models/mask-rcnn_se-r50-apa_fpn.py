# Mask R-CNN with the official APA SE-ResNet-50 backbone.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './se-r50-apa.py']
model = dict(
    backbone={{_base_.apa_backbone}},
    # mmdet's heads with float32 proposal NMS, RoI pooling and box NMS, so
    # mixed precision (--amp, bfloat16 autocast) runs on every device
    rpn_head=dict(type='FP32RPNHead'),
    roi_head=dict(
        bbox_roi_extractor=dict(type='FP32SingleRoIExtractor'),
        bbox_head=dict(type='FP32Shared2FCBBoxHead'),
        mask_roi_extractor=dict(type='FP32SingleRoIExtractor')))
