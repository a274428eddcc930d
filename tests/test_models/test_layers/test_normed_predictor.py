# Copyright (c) apa_mmdet contributors.
"""LearnableTempNormedConv2d: τ² scaling, official name and init."""
import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer

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
    assert conv.tempearture.grad is not None


def test_official_default_init():
    conv = LearnableTempNormedConv2d(16, 3, 1)
    assert conv.tempearture.item() == 4.5
    assert conv.weight.std() < 0.05
