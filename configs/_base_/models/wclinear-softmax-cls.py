# The official V3Det classifier: the wrapped-Cauchy cosine layer with a fixed
# scale s = 300 (apa_mmdet's WCLinear, spec 3.6) under softmax cross-entropy
# over C + 1 classes. Variables: `wclinear_softmax_head` merges over one of
# mmdet's V3Det bbox heads (model = dict(roi_head=dict(bbox_head=
# _base_.wclinear_softmax_head))); `wclinear_predictor` and `softmax_ce` are
# its two parts, for heads written out (a Cascade's list of stages).
wclinear_predictor = dict(type='WCLinear', s_trainable=False)
softmax_ce = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
wclinear_softmax_head = dict(
    cls_predictor_cfg=dict(_delete_=True, **wclinear_predictor),
    loss_cls=dict(_delete_=True, **softmax_ce))
