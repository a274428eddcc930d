# The official V3Det classifier: the wrapped-Cauchy cosine layer with a fixed
# scale s = 300 (apa_mmdet's WCLinear, spec 3.6) under softmax cross-entropy
# over C + 1 classes. Variables, for a bbox head's cls_predictor_cfg and
# loss_cls (with _delete_=True when merged over mmdet's V3Det heads).
wclinear_predictor = dict(type='WCLinear', s_trainable=False)
softmax_ce = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
