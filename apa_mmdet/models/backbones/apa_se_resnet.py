# Copyright (c) apa_mmdet contributors.
"""SE-ResNet / SE-ResNeXt with APA activations, as thin mmdet subclasses."""
import torch
import torch.utils.checkpoint as cp
from mmdet.models.backbones.resnet import Bottleneck, ResNet
from mmdet.models.backbones.resnext import Bottleneck as XBottleneck
from mmdet.models.layers import ResLayer
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType
from torch import Tensor, nn

from ..layers import APASELayer, SEResidualEnd, build_site_activation

RELU = dict(type='ReLU', inplace=True)


def build_se_layer(se_cfg: dict, channels: int) -> nn.Module:
    """The SE layer of ``se_cfg`` for ``channels``: :class:`APASELayer`
    arguments, or a ``type`` from the registry (any SE layer that takes
    ``channels`` and returns x scaled per channel, e.g. mmdet's
    ``SELayer``)."""
    if 'type' in se_cfg:
        return MODELS.build(dict(se_cfg, channels=channels))
    return APASELayer(channels, **se_cfg)


class _APASEBlockMixin:
    """Own activation per site plus an optional SE layer for a bottleneck.

    Replaces mmdet's shared in-place ``relu`` by ``unirect1`` (after conv1),
    ``unirect2`` (after conv2) and ``unirect3`` (after the residual sum), and
    adds ``se`` after bn3 (and any ``after_conv3`` plugins), before the sum:
    the official SE-ResNet order and names. ``end``
    (:class:`SEResidualEnd`) computes unirect3(se(out) + identity).
    """

    def __init__(self,
                 *args,
                 act_cfg: ConfigType = RELU,
                 se_cfg: OptConfigType = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        out_channels = self.planes * self.expansion
        del self.relu
        self.unirect1 = build_site_activation(act_cfg,
                                              self.conv1.out_channels)
        self.unirect2 = build_site_activation(act_cfg,
                                              self.conv2.out_channels)
        self.unirect3 = build_site_activation(act_cfg, out_channels)
        self.se = None if se_cfg is None else build_se_layer(
            se_cfg, out_channels)
        self.end = SEResidualEnd(self.se, self.unirect3)

    def _trunk(self, x: Tensor):
        """conv1 ... bn3 (with plugins) and the identity branch."""
        out = self.unirect1(self.norm1(self.conv1(x)))
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv1_plugin_names)
        out = self.unirect2(self.norm2(self.conv2(out)))
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv2_plugin_names)
        out = self.norm3(self.conv3(out))
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv3_plugin_names)
        identity = x if self.downsample is None else self.downsample(x)
        return out, identity

    def _se_residual(self, x: Tensor) -> Tensor:
        out, identity = self._trunk(x)
        if self.se is not None:
            out = self.se(out)
        out += identity
        return out

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return self.unirect3(
                cp.checkpoint(self._se_residual, x, use_reentrant=False))
        return self.end(*self._trunk(x))


class APASEBottleneck(_APASEBlockMixin, Bottleneck):
    """mmdet's ResNet ``Bottleneck`` with per-site activations and SE.

    Args:
        act_cfg (dict): Activation of the three sites, e.g.
            ``dict(type='AGLU')``. Defaults to in-place ReLU.
        se_cfg (dict, optional): Keyword arguments of :class:`APASELayer`
            (without ``channels``). Defaults to None (no SE).
        **kwargs: mmdet ``Bottleneck`` arguments.
    """


class APASEXBottleneck(_APASEBlockMixin, XBottleneck):
    """mmdet's ResNeXt ``Bottleneck`` with per-site activations and SE.

    Args as :class:`APASEBottleneck`, plus ``groups``, ``base_width`` and
    ``base_channels`` of mmdet's ResNeXt ``Bottleneck``.
    """


@MODELS.register_module()
class APASEResNet(ResNet):
    """SE-ResNet backbone with APA/AGLU activations (ECCV 2024 APA paper).

    mmdet's ``ResNet`` (every option keeps working) whose bottlenecks get an
    activation module per site and an optional SE layer; where APA goes is
    configuration. The official APA SE-ResNet of *Adaptive Parametric
    Activation* (arXiv 2407.08567) is::

        dict(type='APASEResNet', depth=50, act_cfg=dict(type='AGLU'),
             se_cfg=dict(ratio=16, norm_cfg=dict(type='LN'), dropout=0.1,
                         act_cfg=(dict(type='ReLU'), dict(type='APA'))))

    Official behaviours kept: the stem activation (``relu``) is not frozen by
    ``frozen_stages`` (only conv1/bn1 and the stages are), SE dropout is
    active in training mode in the stages that are not frozen, ``norm_eval``
    affects BatchNorm only (not the SE LayerNorm), and a deep stem stays
    ReLU. Depths 18 and 34 (BasicBlock) have no SE/APA sites and are
    rejected.

    Args:
        depth (int): 50, 101 or 152.
        act_cfg (dict): Activation of every bottleneck site (after conv1,
            conv2 and the residual sum). ``num_parameters='channels'`` gives
            each site per-channel parameters. Defaults to in-place ReLU.
        stem_act_cfg (dict, optional): Activation after the 7x7 stem conv.
            Defaults to None (same as ``act_cfg``).
        se_cfg (dict, optional): :class:`APASELayer` arguments for the SE
            layer of every block, or another SE layer's config with its
            ``type`` (built with ``channels``); None disables SE. Defaults
            to plain SE, ``dict(ratio=16)``.
        freeze_stem_act (bool): Also freeze the stem activation's λ, κ when
            ``frozen_stages >= 0``. Officially they stay trainable, so the
            gradient must pass through the frozen stages. Defaults to False
            (official).
        recompute_frozen_stages (bool): When the gradient passes through
            the frozen stem and stages (the trainable stem activation), run
            them as one checkpointed region recomputed from the input in
            backward instead of holding their activations (exact; one more
            forward of the stem and stage 1). Defaults to True.
        **kwargs: mmdet ``ResNet`` arguments (``out_indices``,
            ``frozen_stages``, ``norm_cfg``, ``norm_eval``, ``with_cp``,
            ``dcn``, ``stage_with_dcn``, ``plugins``, ``style``,
            ``zero_init_residual``, ``init_cfg``, ...).

    Shape:
        (N, 3, H, W) → one (N, 256·2^i, H/2^(i+2), W/2^(i+2)) map per
        ``out_indices`` entry i.
    """

    arch_settings = {
        50: (APASEBottleneck, (3, 4, 6, 3)),
        101: (APASEBottleneck, (3, 4, 23, 3)),
        152: (APASEBottleneck, (3, 8, 36, 3))
    }

    def __init__(self,
                 depth: int,
                 act_cfg: ConfigType = RELU,
                 stem_act_cfg: OptConfigType = None,
                 se_cfg: OptConfigType = dict(ratio=16),
                 freeze_stem_act: bool = False,
                 recompute_frozen_stages: bool = True,
                 **kwargs) -> None:
        if depth not in self.arch_settings:
            raise KeyError(
                f'invalid depth {depth} for {type(self).__name__}: use one of '
                f'{sorted(self.arch_settings)} (depths 18/34 are BasicBlock '
                'ResNets, which have no SE/APA sites)')
        self.act_cfg = act_cfg
        self.stem_act_cfg = act_cfg if stem_act_cfg is None else stem_act_cfg
        self.se_cfg = se_cfg
        self.freeze_stem_act = freeze_stem_act
        self.recompute_frozen_stages = recompute_frozen_stages
        # mmdet's ResNet zero-initialises norm3 only when ``block is
        # Bottleneck`` (identity), so subclassed blocks need it done here.
        self._zero_init_norm3 = kwargs.get('zero_init_residual', True) and (
            kwargs.get('init_cfg') is None
            and kwargs.get('pretrained') is None)
        super().__init__(depth=depth, **kwargs)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        super()._make_stem_layer(in_channels, stem_channels)
        if not self.deep_stem:
            self.relu = build_site_activation(self.stem_act_cfg,
                                              stem_channels)

    def _freeze_stages(self) -> None:
        super()._freeze_stages()
        if self.freeze_stem_act and self.frozen_stages >= 0 and \
                not self.deep_stem:
            for param in self.relu.parameters():
                param.requires_grad = False

    def make_res_layer(self, **kwargs) -> ResLayer:
        if self._zero_init_norm3:
            kwargs['init_cfg'] = dict(
                type='Constant', val=0, override=dict(name='norm3'))
        return ResLayer(act_cfg=self.act_cfg, se_cfg=self.se_cfg, **kwargs)

    def _stem_forward(self, x: Tensor) -> Tensor:
        if self.deep_stem:
            return self.maxpool(self.stem(x))
        return self.maxpool(self.relu(self.norm1(self.conv1(x))))

    def _stages_forward(self, x: Tensor, stages: range):
        """(last output, outputs of the ``out_indices`` among ``stages``)."""
        outs = []
        for i in stages:
            x = getattr(self, self.res_layers[i])(x)
            if i in self.out_indices:
                outs.append(x)
        return x, outs

    def _frozen_forward(self, x: Tensor) -> tuple:
        x, outs = self._stages_forward(self._stem_forward(x),
                                       range(self.frozen_stages))
        return (x, *outs)

    def _recomputes_frozen_part(self, x: Tensor) -> bool:
        """Whether the gradient crosses the frozen stem and stages (the
        official trainable stem activation is inside them)."""
        if not (self.recompute_frozen_stages and self.frozen_stages >= 0
                and torch.is_grad_enabled()):
            return False
        frozen = [self.stem if self.deep_stem else self.conv1]
        if not self.deep_stem:
            frozen += [self.norm1, self.relu]
        frozen += [getattr(self, name)
                   for name in self.res_layers[:self.frozen_stages]]
        return x.requires_grad or any(
            p.requires_grad for m in frozen for p in m.parameters())

    def forward(self, x: Tensor) -> tuple:
        """mmdet's ResNet forward. When the gradient crosses the frozen stem
        and stages (``recompute_frozen_stages``), they run as one
        checkpointed region: backward recomputes them from the input image
        instead of holding their activations (same values)."""
        if not self._recomputes_frozen_part(x):
            return super().forward(x)
        x, *outs = cp.checkpoint(self._frozen_forward, x, use_reentrant=False)
        x, later = self._stages_forward(
            x, range(self.frozen_stages, len(self.res_layers)))
        return tuple(outs + later)


@MODELS.register_module()
class APASEResNeXt(APASEResNet):
    """SE-ResNeXt backbone with APA/AGLU activations.

    :class:`APASEResNet` on mmdet's ResNeXt bottleneck, e.g. SE-ResNeXt-50
    32x4d with ``groups=32, base_width=4``.

    Args:
        groups (int): Groups of the 3x3 convs. Defaults to 1.
        base_width (int): Width per group at base_channels. Defaults to 4.
        **kwargs: :class:`APASEResNet` arguments.
    """

    arch_settings = {
        depth: (APASEXBottleneck, stages)
        for depth, (_, stages) in APASEResNet.arch_settings.items()
    }

    def __init__(self, groups: int = 1, base_width: int = 4, **kwargs):
        self.groups = groups
        self.base_width = base_width
        super().__init__(**kwargs)

    def make_res_layer(self, **kwargs) -> ResLayer:
        return super().make_res_layer(
            groups=self.groups,
            base_width=self.base_width,
            base_channels=self.base_channels,
            **kwargs)
