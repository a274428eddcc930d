# Copyright (c) apa_mmdet contributors.
"""APA and AGLU on the implementation that serves a device, against the
float64 formula."""
import contextlib

import torch

# largest relative error of APA/AGLU outputs and gradients per input dtype
# (against the formula on the same, rounded, input)
ACTIVATION_TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 1.6e-2,
                        torch.float16: 2e-3}


def probe_activations(device: str) -> str:
    """APA and AGLU (per channel, on feature maps (N, C, H, W) and on
    channels-last tokens (B, L, C)) forward and backward on the
    implementation dispatch picks, against the float64 formula: float32,
    and on CUDA bfloat16 and float16 too (each Triton variant)."""
    from ..ops import aglu, apa, dispatch, use_eager_formula
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 8, 6, 7, generator=gen) * 4).to(device)
    lam = torch.empty(8).uniform_(0.05, 2., generator=gen).to(device)
    kappa = torch.empty(8).uniform_(-1.5, 2., generator=gen).to(device)
    grad = torch.randn(2, 8, 6, 7, generator=gen).to(device)
    layouts = ((x, grad, 1),
               (x.flatten(2).transpose(1, 2).contiguous(),
                grad.flatten(2).transpose(1, 2).contiguous(), -1))

    def outputs_and_gradients(fn, layout, dtype, reference=False):
        """fn's output and gradients for the layout's input in ``dtype``;
        the reference: the formula in float64 on the same (rounded) x."""
        inp, g, dim = layout
        z = inp.to(dtype)
        params = [lam, kappa]
        if reference:
            z, params = z.double(), [t.double() for t in params]
        inputs = [t.clone().requires_grad_() for t in (z, *params)]
        with use_eager_formula() if reference else contextlib.nullcontext():
            out = fn(*inputs, dim=dim)
        return (out, *torch.autograd.grad(out, inputs, g.to(out.dtype)))

    dtypes = [torch.float32]
    if device != 'cpu':
        dtypes += [torch.bfloat16, torch.float16]
    report = []
    for dtype in dtypes:
        worst = max(((got.double() - ref).abs().max() /
                     ref.abs().max().clamp(min=1e-30)).item()
                    for fn in (apa, aglu) for layout in layouts
                    for got, ref in zip(
                        outputs_and_gradients(fn, layout, dtype),
                        outputs_and_gradients(fn, layout, dtype,
                                              reference=True)))
        name = str(dtype).replace('torch.', '')
        if not worst < ACTIVATION_TOLERANCE[dtype]:
            raise RuntimeError(f'{name}: largest relative error {worst:.1e}')
        report.append(f'{name} on the {dispatch.select(x.to(dtype)).name} '
                      f'implementation {worst:.1e}')
    return ('largest relative error of outputs and gradients (feature maps '
            'and tokens): ' + ', '.join(report))
