# Copyright (c) apa_mmdet contributors.
"""APA and AGLU activation layers, registered where mmcv keeps activations.

Registered in mmengine's root ``MODELS`` (like mmcv's ``ReLU``/``SiLU``), so
``dict(type='APA')`` and ``dict(type='AGLU', num_parameters=C)`` build through
mmdet's ``MODELS``, mmcv's ``build_activation_layer`` and ``ConvModule``, with
or without a default scope. The maths is in :mod:`apa_mmdet.ops`.
"""
import math
import numbers
from typing import Tuple, Union

import torch
from mmcv.cnn import HSigmoid, HSwish, Swish, build_activation_layer
from mmengine.registry import MODELS
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ...ops import LAMBDA_MIN, activation, scale_add_activation

InitValue = Union[float, Tuple[float, float]]
# modules whose registered classes are activations: torch's, mmcv's (where
# build_activation_layer registers its own, and one file per extra one) and
# this one
_ACTIVATION_MODULES = frozenset(
    obj.__module__
    for obj in (nn.ReLU, build_activation_layer, HSigmoid, HSwish, Swish))


def _validate_init(name: str, value: InitValue, positive: bool) -> tuple:
    """Return ``value`` as a (low, high) range, or raise ``ValueError``."""
    if isinstance(value, numbers.Real):
        low = high = float(value)
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, numbers.Real) for v in value)):
        low, high = float(value[0]), float(value[1])
    else:
        raise ValueError(f'{name} must be a number or a (low, high) pair, '
                         f'got {value!r}')
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f'{name}={value!r} must be finite')
    if low > high:
        raise ValueError(f'{name}={value!r}: low must not exceed high')
    if positive and (low < 0 or high <= 0):
        raise ValueError(
            f'{name}={value!r}: λ must be positive (a range may start at 0, '
            f'as the official U(0, 1); λ is floored at 1e-4 in the forward)')
    return low, high


LAMBDA_PARAMETRIZATIONS = ('direct', 'floored-exp')


class FlooredExp(nn.Module):
    """λ = 1e-4 + exp(ρ) from a free ρ: never below the forward's floor,
    with dλ/dρ = exp(ρ) > 0, so the floor cannot absorb λ (the official,
    direct λ gets no gradient once it is at or below 1e-4).
    ``right_inverse``: ρ = log(λ − 1e-4), for λ at or below the floor the
    log of the smallest float32 step above it."""

    def forward(self, rho: Tensor) -> Tensor:
        return LAMBDA_MIN + rho.exp()

    def right_inverse(self, lam: Tensor) -> Tensor:
        return (lam - LAMBDA_MIN).clamp(min=torch.finfo(
            torch.float32).tiny).log()


class AdaptiveActivation(nn.Module):
    """Base of :class:`APA` and :class:`AGLU`: owns λ (``lambda_param``) and
    κ (``kappa_param``), scalar or per channel, and applies ``act`` (their
    function in :mod:`apa_mmdet.ops`, 'apa' or 'aglu').

    ``forward(x)`` is its call; :meth:`scale_add` is the fused end of an SE
    bottleneck (:class:`SEResidualEnd` asks for it). λ and κ are checked
    when built and when loaded from a checkpoint, not in every forward.

    Args:
        num_parameters (int): 1 for scalar λ, κ (official), or the channel
            count C for per-channel parameters on dimension ``dim``.
            Defaults to 1.
        lambda_init (float | tuple[float, float]): Constant initial λ, or a
            (low, high) range for a uniform draw. Must be positive.
        kappa_init (float | tuple[float, float]): Constant initial κ, or a
            (low, high) range for a uniform draw.
        inplace (bool): Accepted for ``ConvModule``/``SELayer`` compatibility
            and ignored: the layer is never in-place. Defaults to False.
        dim (int): The channel dimension of per-channel parameters: 1 for
            (N, C, *) feature maps, -1 for channels-last tokens (B, L, C).
            Defaults to 1.
        lambda_parametrization (str): ``'direct'`` (official: the learnt
            parameter is λ, floored at 1e-4 in the forward) or
            ``'floored-exp'`` (opt-in: λ = 1e-4 + exp(ρ), ρ learnt, stored
            as ``parametrizations.lambda_param.original``; see
            :class:`FlooredExp`). ``lambda_param`` is λ either way.
    """

    act = ''  # 'apa' or 'aglu' in the subclasses

    def __init__(self, num_parameters: int, lambda_init: InitValue,
                 kappa_init: InitValue, inplace: bool, dim: int,
                 lambda_parametrization: str = 'direct') -> None:
        super().__init__()
        if (isinstance(num_parameters, bool)
                or not isinstance(num_parameters, numbers.Integral)
                or num_parameters < 1):
            raise ValueError('num_parameters must be an integer >= 1, got '
                             f'{num_parameters!r}')
        self.num_parameters = int(num_parameters)
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise ValueError(f'dim must be an integer, got {dim!r}')
        self.dim = int(dim)
        self.lambda_init = _validate_init('lambda_init', lambda_init, True)
        self.kappa_init = _validate_init('kappa_init', kappa_init, False)
        # per-channel parameters' channel dimension; 1 with one λ and κ
        self._channel_dim = self.dim if self.num_parameters > 1 else 1
        if lambda_parametrization not in LAMBDA_PARAMETRIZATIONS:
            raise ValueError(
                f'lambda_parametrization must be one of '
                f'{LAMBDA_PARAMETRIZATIONS}, got {lambda_parametrization!r}')
        self.lambda_param = nn.Parameter(torch.empty(self.num_parameters))
        self.kappa_param = nn.Parameter(torch.empty(self.num_parameters))
        self.reset_parameters()
        if lambda_parametrization == 'floored-exp':
            parametrize.register_parametrization(self, 'lambda_param',
                                                 FlooredExp())

    def reset_parameters(self) -> None:
        """Draw λ and κ from their configured initial ranges."""
        with torch.no_grad():
            if parametrize.is_parametrized(self, 'lambda_param'):
                self.lambda_param = torch.empty_like(
                    self.lambda_param).uniform_(*self.lambda_init)
            else:
                self.lambda_param.uniform_(*self.lambda_init)
            self.kappa_param.uniform_(*self.kappa_init)

    def learnt_lambda(self) -> nn.Parameter:
        """The parameter the optimizer updates for λ: ``lambda_param``, or
        ρ under the floored-exp parametrization."""
        if parametrize.is_parametrized(self, 'lambda_param'):
            return self.parametrizations.lambda_param.original
        return self.lambda_param

    def forward(self, x: Tensor) -> Tensor:
        return activation(x, self.lambda_param, self.kappa_param, self.act,
                          self._channel_dim)

    def scale_add(self, x: Tensor, gate: Tensor, identity: Tensor) -> Tensor:
        """act(x·gate + identity) in one fused call that keeps x, gate and
        identity for backward instead of the sum.

        Args:
            x (Tensor): (N, C, H, W).
            gate (Tensor): (N, C).
            identity (Tensor): (N, C, H, W).

        Returns:
            Tensor: (N, C, H, W).
        """
        if self._channel_dim not in (1, -3):
            raise ValueError('the fused SE end takes (N, C, H, W) maps: '
                             f'dim={self.dim} is not their channel '
                             'dimension')
        return scale_add_activation(x, gate, identity, self.lambda_param,
                                    self.kappa_param, self.act)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Check λ and κ from a checkpoint before they are copied in: 1-D
        of ``num_parameters`` finite values (torch reports other shapes)."""
        for name in ('lambda_param', 'kappa_param'):
            value = state_dict.get(prefix + name)
            if (isinstance(value, Tensor)
                    and value.shape == (self.num_parameters, )
                    and not torch.isfinite(value).all()):
                raise ValueError(
                    f'{prefix}{name} in the checkpoint is not finite: '
                    f'{value.tolist()}')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (f'num_parameters={self.num_parameters}, '
                f'lambda_init={self.lambda_init}, '
                f'kappa_init={self.kappa_init}' +
                (f', dim={self.dim}' if self.dim != 1 else ''))


@MODELS.register_module()
class APA(AdaptiveActivation):
    """Adaptive Parametric Activation, APA(z) = (λ·exp(−κz) + 1)^(−1/λ).

    A learnable gate in [0, 1]: λ = κ = 1 is the sigmoid, λ → 0 the Gumbel
    CDF exp(−exp(−κz)). From *Adaptive Parametric Activation* (ECCV 2024,
    arXiv 2407.08567). Defaults are the official SE-gate initialisation,
    λ ~ U(0, 1), κ ~ U(−1, 0).

    Shape:
        Input (*) with scalar parameters; with ``num_parameters=C``, C
        channels in dimension ``dim`` ((N, C, *) or, dim=-1, (*, C));
        output has the input's shape and dtype.

    Args:
        num_parameters (int): See :class:`AdaptiveActivation`. Defaults to 1.
        lambda_init (float | tuple[float, float]): Defaults to (0., 1.).
        kappa_init (float | tuple[float, float]): Defaults to (-1., 0.).
        inplace (bool): Ignored. Defaults to False.
        dim (int): Channel dimension of per-channel parameters. Defaults
            to 1.
        lambda_parametrization (str): ``'direct'`` (official) or
            ``'floored-exp'``; see :class:`AdaptiveActivation`.
    """

    act = 'apa'

    def __init__(self,
                 num_parameters: int = 1,
                 lambda_init: InitValue = (0., 1.),
                 kappa_init: InitValue = (-1., 0.),
                 inplace: bool = False,
                 dim: int = 1,
                 lambda_parametrization: str = 'direct') -> None:
        super().__init__(num_parameters, lambda_init, kappa_init, inplace,
                         dim, lambda_parametrization)


@MODELS.register_module()
class AGLU(AdaptiveActivation):
    """Adaptive Generalised Linear Unit, AGLU(z) = z·APA(z; λ, κ).

    Replaces ReLU inside networks: λ = κ = 1 is SiLU, κ → ∞ approaches ReLU.
    From *Adaptive Parametric Activation* (ECCV 2024, arXiv 2407.08567).
    Defaults are the official backbone initialisation, λ ~ U(0, 1),
    κ ~ U(1, 1.3).

    Shape:
        Input (*) with scalar parameters; with ``num_parameters=C``, C
        channels in dimension ``dim`` ((N, C, *) or, dim=-1, (*, C));
        output has the input's shape and dtype.

    Args:
        num_parameters (int): See :class:`AdaptiveActivation`. Defaults to 1.
        lambda_init (float | tuple[float, float]): Defaults to (0., 1.).
        kappa_init (float | tuple[float, float]): Defaults to (1., 1.3).
        inplace (bool): Ignored. Defaults to False.
        dim (int): Channel dimension of per-channel parameters. Defaults
            to 1.
        lambda_parametrization (str): ``'direct'`` (official) or
            ``'floored-exp'``; see :class:`AdaptiveActivation`.
    """

    act = 'aglu'

    def __init__(self,
                 num_parameters: int = 1,
                 lambda_init: InitValue = (0., 1.),
                 kappa_init: InitValue = (1., 1.3),
                 inplace: bool = False,
                 dim: int = 1,
                 lambda_parametrization: str = 'direct') -> None:
        super().__init__(num_parameters, lambda_init, kappa_init, inplace,
                         dim, lambda_parametrization)


def known_activations() -> list:
    """Names of the activation layers in mmengine's root ``MODELS``: torch's
    (registered by mmcv), mmcv's own and APA/AGLU."""
    return sorted(
        name for name, cls in MODELS.module_dict.items()
        if getattr(cls, '__module__', None) in _ACTIVATION_MODULES
        or (isinstance(cls, type) and issubclass(cls, AdaptiveActivation)))


def build_site_activation(cfg: dict, channels: int) -> nn.Module:
    """Build the activation of one site that carries ``channels`` channels.

    ``num_parameters='channels'`` in ``cfg`` becomes ``channels``, so one
    config gives every APA/AGLU site of a network per-channel parameters.
    mmcv's ``ReLU`` is built in-place unless ``cfg`` says otherwise.

    Args:
        cfg (dict): Activation config, e.g. ``dict(type='AGLU')``.
        channels (int): Channels of the tensor the activation sees.

    Returns:
        nn.Module: A new activation module (sites never share parameters).
    """
    cfg = dict(cfg)
    act_type = cfg.get('type')
    if isinstance(act_type, str) and MODELS.get(act_type) is None:
        raise KeyError(f'unknown activation type {act_type!r} in {cfg!r}; '
                       f'known: {", ".join(known_activations())}')
    if cfg.get('num_parameters') == 'channels':
        cfg['num_parameters'] = channels
    if cfg.get('type') == 'ReLU':
        cfg.setdefault('inplace', True)
    return build_activation_layer(cfg)
