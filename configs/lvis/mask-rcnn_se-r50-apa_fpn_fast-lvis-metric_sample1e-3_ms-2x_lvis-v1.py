# The official recipe evaluated by FastLVISMetric (faster-coco-eval) instead
# of mmdet's LVISMetric (lvis-api): the same numbers, faster and leaner. The
# two evaluator lines switch any LVIS config.
_base_ = './mask-rcnn_se-r50-apa_fpn_sample1e-3_ms-2x_lvis-v1.py'
val_evaluator = dict(type='FastLVISMetric')
test_evaluator = val_evaluator
