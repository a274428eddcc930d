# Copyright (c) apa_mmdet contributors.
"""CARAFE upsampling on every device (the official LVIS R50 mask head's).

Registered as ``carafe`` in mmdet's ``MODELS``, in front of mmcv's
``CARAFEPack`` (mmengine's root registry) wherever the default scope is
mmdet's (its runner, tools and ``DetInferencer``), because mmdet's
``FCNMaskHead`` accepts exactly ``upsample_cfg=dict(type='carafe')``: a
recipe keeps its config, and official checkpoints their keys
(``channel_compressor``, ``content_encoder``). The reassembly runs mmcv's
kernel on CUDA (mmcv 2.1 has CUDA kernels only) and :func:`carafe`, in
torch ops, on any other device:

out[n, c, h, w] = Σ_{i, j < k} x[n, c, ⌊h/s⌋ + i − r, ⌊w/s⌋ + j − r]
                  · mask[n, g(c)·k² + i·k + j, h, w]

with kernel size k, r = (k − 1)/2, scale s, x zero outside its H×W, and
g(c) = ⌊c / (C / G)⌋ the group of channel c (Wang et al., ICCV 2019; the
indexing of mmcv's ``carafe_naive`` kernel).
"""
import torch
import torch.nn.functional as F
from mmcv.ops import CARAFEPack
from mmdet.registry import MODELS
from torch import Tensor


def carafe(x: Tensor, mask: Tensor, kernel_size: int, group_size: int,
           scale_factor: int) -> Tensor:
    """Reassemble ``x`` with per-pixel kernels ``mask`` (formula above).

    Args:
        x (Tensor): Features, (N, C, H, W); C divisible by ``group_size``.
        mask (Tensor): Reassembly kernels, (N, G·k², s·H, s·W), usually
            softmax-normalised over each group's k².
        kernel_size (int): k, odd.
        group_size (int): G.
        scale_factor (int): s.

    Returns:
        Tensor: (N, C, s·H, s·W). Differentiable in ``x`` and ``mask``; one
        pass per kernel tap, holding no unfolded copy of ``x``.
    """
    n, channels, height, width = x.shape
    k, g, s = kernel_size, group_size, scale_factor
    if (k % 2 != 1 or channels % g
            or mask.shape != (n, g * k * k, s * height, s * width)):
        raise ValueError(
            f'carafe: x {tuple(x.shape)} and mask {tuple(mask.shape)} do not '
            f'fit kernel_size={k} (odd), group_size={g} (dividing the '
            f'channels) and scale_factor={s}: mask must be '
            f'{(n, g * k * k, s * height, s * width)}')
    r = (k - 1) // 2
    padded = F.pad(x, (r, r, r, r)).view(n, g, channels // g, height + 2 * r,
                                         width + 2 * r)
    # (n, g, 1, k², H, s, W, s): the tap kernels of each s×s output block
    taps = mask.reshape(n, g, 1, k * k, height, s, width, s)
    # 16-bit inputs sum their k² taps in float32
    out = x.new_zeros(n, g, channels // g, height, s, width, s,
                      dtype=torch.promote_types(x.dtype, torch.float32))
    for i in range(k):
        for j in range(k):
            window = padded[:, :, :, i:i + height, j:j + width]
            out += window[..., :, None, :, None] * taps[:, :, :, i * k + j]
    return out.view(n, channels, s * height, s * width).to(x.dtype)


@MODELS.register_module(name='carafe')
class AnyDeviceCARAFEPack(CARAFEPack):
    """mmcv's ``CARAFEPack`` (channel compressor, content encoder,
    softmax-normalised k×k reassembly kernels, reassembly), whose
    reassembly runs mmcv's CUDA kernel on CUDA tensors and :func:`carafe`
    (torch ops) on any other device.

    Args and shapes as ``CARAFEPack``: (N, C, H, W) → (N, C, s·H, s·W).
    """

    def feature_reassemble(self, x: Tensor, mask: Tensor) -> Tensor:
        if x.is_cuda:
            return super().feature_reassemble(x, mask)
        return carafe(x, mask, self.up_kernel, self.up_group,
                      self.scale_factor)
