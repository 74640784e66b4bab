"""The activation functions, by the names tfjs and Keras save: one table, importing nothing of the adapter.

tfjs' names map to these functions; where tfjs' math differs from torch's function of
the same name it follows tfjs: ``hard_sigmoid`` is ``clip(0.2 x + 0.5, 0, 1)`` (torch's
``Hardsigmoid`` is x/6 + 1/2), ``gelu_new`` is the tanh approximation. The builders of
every family (:mod:`tfjs_codec.torch.registry`'s ``BuildContext.activation``) read it;
the activation layers are in :mod:`tfjs_codec.torch.activations`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["ACTIVATIONS", "ActivationFn", "SELU_ALPHA", "SELU_SCALE", "hard_sigmoid", "linear"]

#: An activation: tensor -> tensor.
ActivationFn = Callable[[torch.Tensor], torch.Tensor]


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """tfjs' and Keras 2's hard sigmoid, clip(0.2 x + 0.5, 0, 1) (not torch's x/6 + 1/2)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


# Named module-level functions rather than lambdas, so modules holding them pickle
# (torch.save of a whole module).
def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def linear(x: torch.Tensor) -> torch.Tensor:
    """The identity (Keras' ``linear`` activation)."""
    return x


#: SELU's constants as tfjs spells them (its selu kernel and AlphaDropout).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _relu6(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, 0.0, 6.0)


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return F.softmax(x, dim=-1)


def _log_softmax(x: torch.Tensor) -> torch.Tensor:
    return F.log_softmax(x, dim=-1)


#: activation name as saved (snake_case) or as tfjs spells it (camelCase) -> function.
ACTIVATIONS: dict[str, ActivationFn] = {
    "linear": linear,
    "relu": F.relu,
    "relu6": _relu6,
    "elu": F.elu,
    "selu": F.selu,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "hardSigmoid": hard_sigmoid,
    "tanh": torch.tanh,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "logSoftmax": _log_softmax,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "swish": F.silu,
    "silu": F.silu,
    "mish": F.mish,
    "gelu": F.gelu,
    "gelu_new": _gelu_tanh,
    "exponential": torch.exp,
}
