# Copyright (c) apa_mmdet contributors.
"""The end of an SE bottleneck, act(se(x) + identity), fused where it can
be."""
from typing import Optional

from torch import Tensor, nn
from torch.nn.modules import module as torch_module

from .activations import AdaptiveActivation


def _watched(module: nn.Module) -> bool:
    """Whether forward hooks would see a call of ``module``."""
    return bool(module._forward_hooks or module._forward_pre_hooks
                or torch_module._global_forward_hooks
                or torch_module._global_forward_pre_hooks)


class SEResidualEnd(nn.Module):
    """out = act(se(x) + identity), the end of an SE bottleneck.

    ``se`` follows the SE contract, se(x) = x · gate(x) with a per-channel
    gate; when it also exposes ``gate(x)`` (N, C) and ``act`` is an
    APA/AGLU module, the end runs as one fused call
    (``act.scale_add``: act(x·gate + identity) without keeping the sum for
    backward), unless hooks watch ``act``: then it runs
    ``act(se(x) + identity)``, so every activation hook sees its input as a
    plain call (the values are the same).

    The block owns ``se`` and ``act`` under its own names (the official
    state-dict keys ``se.*`` and ``unirect3.*``); this module holds them
    without registering them, so it adds no parameters or keys.

    Args:
        se (nn.Module, optional): The SE layer; None for a plain residual
            end.
        act (nn.Module): The activation after the sum.

    Shape:
        x, identity: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, se: Optional[nn.Module], act: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, 'se', se)
        object.__setattr__(self, 'act', act)

    def fused(self) -> bool:
        """Whether :meth:`forward` makes one fused call."""
        return (isinstance(self.act, AdaptiveActivation)
                and callable(getattr(self.se, 'gate', None))
                and not _watched(self.act))

    def forward(self, x: Tensor, identity: Tensor) -> Tensor:
        if self.fused():
            return self.act.scale_add(x, self.se.gate(x), identity)
        out = x if self.se is None else self.se(x)
        out += identity
        return self.act(out)
