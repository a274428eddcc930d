# Copyright (c) apa_mmdet contributors.
import torch

from apa_mmdet.models.utils import fp32_region


def record_inputs(*args, **kwargs):
    return torch.is_autocast_enabled('cpu'), args, kwargs


def test_without_autocast_the_method_gets_its_inputs_unchanged():
    half = torch.ones(2, dtype=torch.bfloat16)
    enabled, args, kwargs = fp32_region(record_inputs)(half, key=[half])
    assert not enabled
    assert args[0] is half and kwargs['key'][0] is half


def test_under_autocast_inputs_become_fp32_and_autocast_is_off():
    half = torch.ones(2, dtype=torch.bfloat16)
    labels = torch.arange(2)
    double = torch.ones(2, dtype=torch.float64)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        enabled, args, kwargs = fp32_region(record_inputs)(
            (half, [half, labels]), 'meta',
            feats=dict(x=half, y=double), flag=True)
        assert torch.is_autocast_enabled('cpu')
    assert not enabled
    (first, (second, ints)), meta = args
    assert first.dtype == second.dtype == torch.float32
    assert ints is labels and meta == 'meta'
    assert kwargs['feats']['x'].dtype == torch.float32
    assert kwargs['feats']['y'] is double and kwargs['flag'] is True


def test_gradient_flows_back_to_the_half_input():
    half = torch.ones(3, dtype=torch.bfloat16, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = fp32_region(lambda x: (x * 2).sum())(half)
    assert out.dtype == torch.float32
    out.backward()
    assert half.grad.dtype == torch.bfloat16
    assert torch.equal(half.grad.float(), torch.full((3, ), 2.))


def test_fp32_heads_call_their_parents_method_as_it_is_at_call_time(
        monkeypatch):
    """mmdeploy rewrites mmdet's methods (RPNHead.predict_by_feat, ...)
    while it exports: the float32 subclasses must run the rewrite."""
    from mmdet.models.dense_heads import RPNHead
    from mmdet.models.roi_heads import SingleRoIExtractor
    from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead

    from apa_mmdet.models.dense_heads import FP32RPNHead
    from apa_mmdet.models.roi_heads import (FP32Shared2FCBBoxHead,
                                            FP32SingleRoIExtractor)
    half = torch.ones(2, dtype=torch.bfloat16)
    heads = [
        (RPNHead, 'predict_by_feat', FP32RPNHead(in_channels=4)),
        (Shared2FCBBoxHead, 'predict_by_feat',
         FP32Shared2FCBBoxHead(in_channels=4, num_classes=3)),
        (SingleRoIExtractor, 'forward',
         FP32SingleRoIExtractor(dict(type='RoIAlign', output_size=7),
                                out_channels=4, featmap_strides=[4])),
    ]
    for parent, name, head in heads:
        monkeypatch.setattr(parent, name,
                            lambda self, x: ('rewritten', self, x.dtype))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            tag, caller, dtype = getattr(head, name)(half)
        assert (tag, caller, dtype) == ('rewritten', head, torch.float32)
