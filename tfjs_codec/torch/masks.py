"""Keras masks beside tensors: what ``Masking`` and ``Embedding(mask_zero)`` hand to recurrent layers.

tfjs propagates a (batch, steps) keep-mask beside each tensor; recurrent layers keep the
previous output and states at masked steps. tfjs_codec.torch carries the mask as an
attribute of the tensor: set by :func:`attach_mask`, read by :func:`mask_of`, and passed on
by the layers tfjs declares ``supportsMasking`` (:func:`passes_mask`: Dense, Activation,
ReLU, PReLU, the dropout and noise family, BatchNormalization, LayerNormalization,
TimeDistributed; recurrent layers and Bidirectional pass it on when they return sequences).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch

__all__ = ["attach_mask", "mask_of", "passes_mask"]


def attach_mask(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Attach a (batch, steps) boolean keep-mask to ``y``; returns ``y``."""
    y._tfjs_mask = mask  # type: ignore[attr-defined]
    return y


def mask_of(x: torch.Tensor) -> torch.Tensor | None:
    """The keep-mask attached to ``x`` by :func:`attach_mask`, or None."""
    return getattr(x, "_tfjs_mask", None)


_M = TypeVar("_M", bound=type)


def passes_mask(cls: _M) -> _M:
    """Class decorator: the module's output carries the mask of its (first) input, as in tfjs."""
    forward: Callable[..., Any] = cls.forward  # type: ignore[attr-defined]

    @functools.wraps(forward)
    def wrapped(self: Any, x: torch.Tensor, *rest: Any) -> Any:
        y = forward(self, x, *rest)
        mask = mask_of(x)
        if mask is not None and isinstance(y, torch.Tensor) and mask_of(y) is None:
            attach_mask(y, mask)
        return y

    cls.forward = wrapped  # type: ignore[attr-defined]
    return cls
