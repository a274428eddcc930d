# The long-tail benchmark: the CPU-sized official recipe
# (./mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py) on the generated
# long-tailed LVIS v1-format set with 200 classes and LVIS's frequency groups
# (python -c "from apa_mmdet.datasets.synthetic_long_tail import
#  generate_lvis_long_tail; generate_lvis_long_tail('data/synthetic_lvis_lt')"),
# for tools/analysis_tools/compare_heads.py (docs/long_tail_benchmark.md).
# Its variants are the deltas beside it (*_synthetic-lvis-lt.py).
# LT_DATA_SEED=S picks the set drawn with seed S (default 0), in
# data/synthetic_lvis_lt_seedS/, and LT_VARIATION=hard its hard variant
# (generate_lvis_long_tail(..., variation='hard'): same classes per image,
# objects that vary within a class), in data/synthetic_lvis_lt_hard[_seedS]/,
# unless DATA_ROOT says where.
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'
from apa_mmdet.datasets.synthetic_long_tail import (  # noqa: E402
    long_tail_class_names, long_tail_train_images)

data_seed = int('{{$LT_DATA_SEED:0}}')
data_variation = '{{$LT_VARIATION:none}}'
data_root = '{{$DATA_ROOT:data/synthetic_lvis_lt/}}'.rstrip('/') + '/'
if data_root == 'data/synthetic_lvis_lt/':  # the default: a folder per set
    data_root = ('data/synthetic_lvis_lt' +
                 ('_hard' if data_variation == 'hard' else '') +
                 (f'_seed{data_seed}' if data_seed else '') + '/')
num_classes = 200
classes = long_tail_class_names(num_classes)
# The official thresholds were set for LVIS v1's 99,388 annotated training
# images: DropLoss tail = frequency < 0.0011 (classes in <= 109 images: all
# rare and common ones), RFS t = 1e-3 (classes in < 100 images oversampled).
# The same image counts on this set's annotated training images (2,307 in
# the set of seed 0):
num_train_images = long_tail_train_images(data_seed,
                                          variation=data_variation)
tail_thr = 0.0011 * 99388 / num_train_images
oversample_thr = 1e-3 * 99388 / num_train_images

model = dict(
    roi_head=dict(
        bbox_head=dict(
            num_classes=num_classes,
            loss_cls=dict(
                num_classes=num_classes,
                ann_file=data_root + 'annotations/lvis_v1_train.json',
                tail_thr=tail_thr)),
        mask_head=dict(num_classes=num_classes)))
train_dataloader = dict(
    dataset=dict(
        oversample_thr=oversample_thr,
        dataset=dict(data_root=data_root, metainfo=dict(classes=classes))))
val_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=dict(classes=classes)))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/lvis_v1_val.json')
test_evaluator = val_evaluator

# 2 epochs of 1,341 iterations (RFS repeats 2,307 images to 5,362), about
# 25 minutes on 2 cores; the rate decays along a cosine, per iteration
max_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=200),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        eta_min=1e-4,
        convert_to_iter_based=True)
]
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=max_epochs))
