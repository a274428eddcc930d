# Copyright (c) apa_mmdet contributors.
"""The ``carafe`` upsampler that mmdet's mask heads build: mmcv's
CARAFEPack, with its reassembly on any device."""
import pytest
import torch
from mmcv.ops import CARAFEPack
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS
from mmengine.registry import DefaultScope

from apa_mmdet.models.layers import AnyDeviceCARAFEPack
from tests.helpers.carafe_reference import carafe_by_the_formula

LVIS_CARAFE = dict(type='carafe', scale_factor=2, up_kernel=5, up_group=1,
                   encoder_kernel=3, encoder_dilation=1,
                   compressed_channels=64)


def build(cfg):
    """As mmdet's runner, tools and DetInferencer build: in mmdet's scope
    (a build follows the current default scope's registry)."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)


def test_mmdet_builds_it_with_mmcvs_keys():
    cfg = dict(LVIS_CARAFE, channels=16)
    layer = build(cfg)
    assert type(layer) is AnyDeviceCARAFEPack
    mmcv_layer = CARAFEPack(**{k: v for k, v in cfg.items() if k != 'type'})
    assert {k: v.shape for k, v in layer.state_dict().items()} == {
        k: v.shape for k, v in mmcv_layer.state_dict().items()}
    layer.load_state_dict(mmcv_layer.state_dict(), strict=True)


def test_cpu_forward_equals_the_formula():
    torch.manual_seed(0)
    layer = build(dict(LVIS_CARAFE, channels=4, compressed_channels=8,
                       up_group=2)).double()
    torch.nn.init.normal_(layer.content_encoder.weight, std=0.3)
    x = torch.randn(2, 4, 3, 4, dtype=torch.float64)
    mask = layer.kernel_normalizer(
        layer.content_encoder(layer.channel_compressor(x)))
    torch.testing.assert_close(layer(x),
                               carafe_by_the_formula(x, mask, 5, 2, 2),
                               rtol=1e-12, atol=1e-12)


def test_the_lvis_mask_head_upsamples_and_trains_on_cpu():
    """FCNMaskHead with the R50 LVIS recipe's upsample_cfg: forward and
    backward on CPU (mmcv's own op has no CPU kernel)."""
    # mmcv's build_upsample_layer looks in the default scope's registry:
    # 'mmdet' under mmdet's runner, DetInferencer and tools
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = FCNMaskHead(num_convs=1, in_channels=16,
                           conv_out_channels=16, num_classes=3,
                           upsample_cfg=LVIS_CARAFE)
    assert isinstance(head.upsample, AnyDeviceCARAFEPack)
    rois = torch.randn(5, 16, 14, 14, requires_grad=True)
    out = head(rois)
    assert out.shape == (5, 3, 28, 28)
    out.sum().backward()
    assert rois.grad.abs().sum() > 0
    assert head.upsample.content_encoder.weight.grad.abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_runs_mmcvs_kernel_with_the_same_result():
    layer = build(dict(LVIS_CARAFE, channels=8)).cuda()
    x = torch.randn(3, 8, 7, 7, device='cuda')
    expected = layer(x)
    mask = layer.kernel_normalizer(
        layer.content_encoder(layer.channel_compressor(x)))
    from apa_mmdet.models.layers.carafe import carafe
    torch.testing.assert_close(carafe(x, mask, 5, 1, 2), expected)
