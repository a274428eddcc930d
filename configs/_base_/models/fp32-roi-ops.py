# Opt-in, for mixed precision on CPU: mmdet's two-stage heads with proposal
# NMS, RoI pooling and box NMS in float32 under autocast (mmcv's CPU nms and
# roi_align have no bfloat16 kernels). Same modules and weights; GPUs need
# none of it (--amp runs mmdet's heads). A child merges the variable:
#   model = ...; model.merge(_base_.fp32_roi_ops)
fp32_roi_ops = dict(
    rpn_head=dict(type='FP32RPNHead'),
    roi_head=dict(
        bbox_roi_extractor=dict(type='FP32SingleRoIExtractor'),
        bbox_head=dict(type='FP32Shared2FCBBoxHead'),
        mask_roi_extractor=dict(type='FP32SingleRoIExtractor')))
