# The CPU-sized APA Mask R-CNN of mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis
# on the generated COCO-format set (apa_mmdet.datasets.synthetic.generate_coco), with
# class frequencies counted from its annotations and COCO evaluation.
_base_ = './mask-rcnn_se-r50-apa-tiny_fpn_synthetic-lvis.py'

data_root = '{{$DATA_ROOT:data/synthetic_coco/}}'.rstrip('/') + '/'
model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                ann_file=data_root + 'annotations/instances_train2017.json'))))
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            type='CocoDataset',
            data_root=data_root,
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img='train2017/'))))
val_dataloader = dict(
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/')))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val2017.json',
    metric=['bbox', 'segm'])
test_evaluator = val_evaluator
