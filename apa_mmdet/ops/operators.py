# Copyright (c) apa_mmdet contributors.
"""The fused kernels as ``torch.library`` operators: what ``torch.compile``
keeps whole in its graphs.

Each kernel (C++ on CPU, Triton on CUDA) is a pair of operators with the
schemas

    forward(Tensor x, Tensor lambda_, Tensor kappa, str act) -> Tensor
    backward(Tensor grad, Tensor x, Tensor lambda_, Tensor kappa, str act)
        -> (Tensor grad_x, Tensor grad_lambda, Tensor grad_kappa)

taking the parameters as stored (λ floored at 1e-4 inside) and returning
finished gradients shaped and typed like the parameters. This module gives
them their fake (shape) functions and their autograd, the forward's
derivative being the backward operator. Eager mode does not go through
them (``functional`` calls the kernels directly).
"""
import torch


def _forward_shape(x, lambda_, kappa, act):
    # the kernels return contiguous tensors whatever the input's layout
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _backward_shape(grad, x, lambda_, kappa, act):
    return (torch.empty_like(x, memory_format=torch.contiguous_format),
            torch.empty_like(lambda_, memory_format=torch.contiguous_format),
            torch.empty_like(kappa, memory_format=torch.contiguous_format))


def register_operator(forward: str, backward: str) -> None:
    """Register the fake functions of ``forward`` and ``backward``
    ('namespace::name') and the forward's autograd."""
    torch.library.register_fake(forward)(_forward_shape)
    torch.library.register_fake(backward)(_backward_shape)
    namespace, name = backward.split('::')
    backward_op = getattr(getattr(torch.ops, namespace), name)

    def setup_context(ctx, inputs, output):
        x, lambda_, kappa, act = inputs
        ctx.save_for_backward(x, lambda_, kappa)
        ctx.act = act

    def differentiate(ctx, grad):
        x, lambda_, kappa = ctx.saved_tensors
        return (*backward_op(grad, x, lambda_, kappa, ctx.act), None)

    torch.library.register_autograd(forward, differentiate,
                                    setup_context=setup_context)
