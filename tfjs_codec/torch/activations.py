"""The activation layers (Activation, ReLU, LeakyReLU, ELU, ThresholdedReLU, Softmax, PReLU)
and their export halves; the activation functions themselves are the table of
:mod:`tfjs_codec.torch.activation_fns`."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .activation_fns import ACTIVATIONS, SELU_ALPHA, SELU_SCALE, hard_sigmoid, linear
from .masks import passes_mask
from .registry import BuildContext, ExportedLayer, Lambda, TfjsLayer, attach_export, param, register, to_numpy

__all__ = ["ACTIVATIONS", "SELU_ALPHA", "SELU_SCALE", "MaskedLambda", "PReLU", "hard_sigmoid", "linear"]


@passes_mask
class MaskedLambda(Lambda):
    """A weightless layer tfjs declares ``supportsMasking`` (Activation, ReLU): the mask goes on."""


@register("Activation")
def _activation(c: BuildContext) -> TfjsLayer:
    return MaskedLambda(c.name, c.cls, c.activation())


# ---------------------------------------------------------------------------
# Advanced activation layers (tfjs-layers advanced_activations.ts)


def _relu_keras(x: torch.Tensor, *, max_value: float | None, negative_slope: float, threshold: float) -> torch.Tensor:
    """Keras' ReLU layer: ``x`` above ``threshold`` (capped at ``max_value``), ``negative_slope (x - threshold)`` below."""
    if negative_slope == 0 and threshold == 0:
        y = F.relu(x)
    else:
        y = torch.where(x >= threshold, x, negative_slope * (x - threshold))
    if max_value is not None:
        y = torch.clamp(y, max=max_value)
    return y


def _leaky_relu(x: torch.Tensor, *, alpha: float) -> torch.Tensor:
    return F.leaky_relu(x, alpha)


def _thresholded_relu(x: torch.Tensor, *, theta: float) -> torch.Tensor:
    return x * (x > theta).to(x.dtype)


def _softmax_axes(x: torch.Tensor, *, axes: tuple[int, ...]) -> torch.Tensor:
    if len(axes) == 1:
        return F.softmax(x, dim=axes[0])
    return torch.exp(x - torch.logsumexp(x, dim=axes, keepdim=True))


def _number(c: BuildContext, key: str, default: float) -> float:
    value = c.opt(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise c.fail(key, f"= {value!r} is not a number")
    return float(value)


@register("ReLU")
def _relu_layer(c: BuildContext) -> TfjsLayer:
    # tfjs 4.22 reads max_value only; Keras configs may also carry negative_slope and threshold,
    # which Keras applies (tfjs ignores them): Keras' definition is followed.
    max_value = c.opt("max_value")
    if max_value is not None:
        max_value = _number(c, "max_value", 0.0)
    return MaskedLambda(c.name, c.cls, partial(
        _relu_keras, max_value=max_value, negative_slope=_number(c, "negative_slope", 0.0),
        threshold=_number(c, "threshold", 0.0),
    ))


@register("LeakyReLU")
def _leaky_relu_layer(c: BuildContext) -> TfjsLayer:
    # tfjs' default alpha is 0.3 (Keras 3 calls it negative_slope).
    key = "negative_slope" if c.opt("alpha") is None and c.opt("negative_slope") is not None else "alpha"
    return Lambda(c.name, c.cls, partial(_leaky_relu, alpha=_number(c, key, 0.3)))


@register("ELU")
def _elu_layer(c: BuildContext) -> TfjsLayer:
    return Lambda(c.name, c.cls, partial(F.elu, alpha=_number(c, "alpha", 1.0)))


@register("ThresholdedReLU")
def _thresholded_relu_layer(c: BuildContext) -> TfjsLayer:
    return Lambda(c.name, c.cls, partial(_thresholded_relu, theta=_number(c, "theta", 1.0)))


@register("Softmax")
def _softmax_layer(c: BuildContext) -> TfjsLayer:
    # tfjs' Softmax layer defaults to axis 1 (Keras: -1); tfjs 4.22 itself can only take it along the
    # last axis of the tensor, the definition (any axis) is followed.
    axis = c.opt("axis", 1)
    if axis is None:
        axis = 1
    axes = tuple(axis) if isinstance(axis, list) else (axis,)
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise c.fail("axis", f"= {axis!r} is not an integer or a list of integers")
    return Lambda(c.name, c.cls, partial(_softmax_axes, axes=axes))


@passes_mask
class PReLU(TfjsLayer):
    """PReLU: ``max(x, 0) + alpha * min(x, 0)``; ``alpha`` has the input's shape without the batch axis
    (1 along ``shared_axes``) and broadcasts as stored."""

    tfjs_vars: tuple[str, ...] = ("alpha",)

    def __init__(self, name: str, cls: str, alpha: np.ndarray) -> None:
        super().__init__(name, cls)
        self.alpha = param(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x < 0, self.alpha * x, x)

    def export_tfjs(self) -> dict[str, np.ndarray]:
        return {"alpha": to_numpy(self.alpha)}


@register("PReLU")
def _prelu_layer(c: BuildContext) -> TfjsLayer:
    return PReLU(c.name, c.cls, c.weight("alpha"))


# ---------------------------------------------------------------------------
# Export halves (torch module call -> Keras layers): see tfjs_codec.torch.exporter

#: torch activation module -> the Keras activation computing the same numbers.
TORCH_ACTIVATIONS: dict[type[nn.Module], str] = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SELU: "selu", nn.SiLU: "swish",
    nn.Mish: "mish", nn.Softsign: "softsign",
}


@attach_export(
    "Activation", *TORCH_ACTIVATIONS, nn.Hardtanh, nn.ELU, nn.GELU, nn.Softplus, nn.LogSoftmax
)
def _export_activation(ex: Any, call: Any) -> Any:
    from .exporter import ops

    m, x = call.module, call.tensor()
    for cls, name in TORCH_ACTIVATIONS.items():  # ReLU6 before its base class Hardtanh
        if isinstance(m, cls):
            return ops.activation(call, name, x)
    if isinstance(m, nn.Hardtanh):
        return ops.hardtanh(call, x, m.min_val, m.max_val)
    if isinstance(m, nn.ELU):
        return ops.elu(call, x, m.alpha)
    if isinstance(m, nn.GELU):
        return ops.gelu(call, x, m.approximate)
    if isinstance(m, nn.Softplus):
        return ops.softplus(call, x, m.beta)
    return ops.softmax(call, x, m.dim, True)  # nn.LogSoftmax


@attach_export("ReLU", nn.Hardsigmoid, nn.Hardswish)
def _export_hard_sigmoid_swish(ex: Any, call: Any) -> Any:
    """torch's Hardsigmoid clip(x/6 + 1/2, 0, 1) as Rescaling + ReLU(max_value=1) (tfjs' hard_sigmoid is
    0.2x + 0.5, another function); Hardswish multiplies it with x."""
    from .exporter import ops

    if isinstance(call.module, nn.Hardswish):
        return ops.hardswish(call, call.tensor())
    return ops.hardsigmoid(call, call.tensor())


@attach_export("Softmax", nn.Softmax)
def _export_softmax(ex: Any, call: Any) -> Any:
    from .exporter import ops

    return ops.softmax(call, call.tensor(), call.module.dim, False)


@attach_export("LeakyReLU", nn.LeakyReLU)
def _export_leaky_relu(ex: Any, call: Any) -> Any:
    from .exporter import ops

    return ops.leaky_relu(call, call.tensor(), call.module.negative_slope)


@attach_export("PReLU", nn.PReLU)
def _export_prelu(ex: Any, call: Any) -> Any:
    """PReLU: one slope, or one per channel (torch axis 1, the last Keras axis), shared over the other axes."""
    from .exporter.graph import channels_last, identity

    m, x = call.module, call.tensor()
    n = m.num_parameters
    if x.rank >= 3 and n > 1:
        x = call.graph.layout(x, channels_last(x.rank), call.base)
    else:
        x = call.graph.layout(x, x.perm if len(x.perm) == x.rank else identity(x.rank), call.base)
    keras_rank = x.rank - 1
    alpha = to_numpy(m.weight)
    if n == 1:
        shared: list[int] | None = list(range(1, keras_rank + 1))
        value = alpha.reshape((1,) * keras_rank)
    else:
        shared = list(range(1, keras_rank)) or None
        value = alpha.reshape((1,) * (keras_rank - 1) + (n,))
    config = {
        "alpha_initializer": {"class_name": "Constant", "config": {"value": 0.25}}, "alpha_regularizer": None,
        "alpha_constraint": None, "shared_axes": shared,
    }
    ref = call.emit(ExportedLayer("PReLU", config, {"alpha": value}), [x])
    return x.with_(ref=ref, nonneg=False)
