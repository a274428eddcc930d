# Copyright (c) apa_mmdet contributors.
"""LearnableTempNormedConv2d: τ² scaling, official name and init."""
import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer
from mmdet.models.layers import NormedConv2d
from mmdet.registry import MODELS

from apa_mmdet.models.layers import LearnableTempNormedConv2d


def test_scale_is_tau_squared_and_learnable():
    conv = build_conv_layer(dict(type='LearnableTempNormedConv2d',
                                 learnable_init_value=3.0, init_bias=0.5),
                            8, 4, 1)
    assert isinstance(conv, LearnableTempNormedConv2d)
    assert conv.tempearture.shape == () and conv.tempearture.item() == 3.0
    assert (conv.bias == 0.5).all()
    assert set(conv.state_dict()) == {'weight', 'bias', 'tempearture'}
    x = torch.randn(2, 8, 5, 5)
    w = conv.weight / (conv.weight.norm(dim=1, keepdim=True) + 1e-6)
    xn = x / (x.norm(dim=1, keepdim=True) + 1e-6)
    expected = F.conv2d(xn, w) * 9.0 + 0.5
    out = conv(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    # d/dτ of Σ(s·cos + b) with s = τ² is 2τ·Σcos
    torch.testing.assert_close(
        conv.tempearture.grad,
        2 * conv.tempearture.detach() * F.conv2d(xn, w).sum(),
        rtol=1e-4, atol=1e-4)


def test_official_default_init():
    conv = LearnableTempNormedConv2d(16, 3, 1)
    assert conv.tempearture.item() == 4.5
    assert conv.weight.std() < 0.05


@pytest.mark.parametrize('norm_over_kernel', [False, True])
@pytest.mark.parametrize('kernel_size', [1, 3])
def test_equals_mmdet_normed_conv_with_the_same_scale(norm_over_kernel,
                                                      kernel_size):
    """Given ``tempearture`` (mmdet's scale), the layer starts as mmdet's
    ``NormedConv2d`` with that scale, over input channels or the whole
    kernel."""
    kwargs = dict(tempearture=20., norm_over_kernel=norm_over_kernel,
                  padding=kernel_size // 2)
    ours = LearnableTempNormedConv2d(8, 4, kernel_size, **kwargs)
    theirs = NormedConv2d(8, 4, kernel_size, **kwargs)
    theirs.load_state_dict(
        {k: v for k, v in ours.state_dict().items() if k != 'tempearture'})
    torch.testing.assert_close(ours.tempearture.pow(2), torch.tensor(20.))
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_temperature_arguments_are_checked():
    with pytest.raises(ValueError, match='not both'):
        LearnableTempNormedConv2d(8, 4, 1, tempearture=20.,
                                  learnable_init_value=3.)
    with pytest.raises(ValueError, match='tempearture=-1.0 must be positive'):
        LearnableTempNormedConv2d(8, 4, 1, tempearture=-1.)


def test_tau_survives_the_mask_head_init_and_the_rest_is_mmdets():
    """FCNMaskHead.init_weights re-initialises conv_logits' weight (Kaiming)
    and bias (0) after the layer's own init; τ keeps its initial value."""
    head = MODELS.build(
        dict(type='FCNMaskHead', num_convs=1, in_channels=16,
             conv_out_channels=16, num_classes=3,
             predictor_cfg=dict(type='LearnableTempNormedConv2d',
                                init_bias=0.7)))
    head.init_weights()
    logits = head.conv_logits
    assert logits.tempearture.item() == 4.5
    assert (logits.bias == 0).all()
    fan_out = logits.weight.shape[0] * logits.weight[0, 0].numel()
    assert abs(logits.weight.std().item() - (2 / fan_out)**0.5) < 0.2
