# Mask R-CNN with the official APA SE-ResNet-50 backbone.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './se-r50-apa.py']
model = dict(backbone={{_base_.apa_backbone}})
