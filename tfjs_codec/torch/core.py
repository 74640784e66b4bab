"""Core layers: InputLayer, Dense, Embedding, and the dropout family."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .activations import linear
from .registry import ActivationFn, BuildContext, Builder, Lambda, TfjsLayer, maybe_param, param, register, to_numpy

__all__ = ["Dense", "Dropout", "Embedding"]


@register("InputLayer")
def _identity(c: BuildContext) -> TfjsLayer:
    return Lambda(c.name, c.cls, linear)


# ---------------------------------------------------------------------------
# Dense


class Dense(TfjsLayer):
    """Dense: ``kernel`` (in, out) -> ``weight`` (out, in); ``act(x W^T + b)`` on the last axis."""

    tfjs_vars: tuple[str, ...] = ("kernel", "bias")

    def __init__(self, name: str, cls: str, kernel: np.ndarray, bias: np.ndarray | None, act: ActivationFn) -> None:
        super().__init__(name, cls)
        self.weight = param(kernel.T)
        self.bias = maybe_param(bias)
        self.act = act
        self.tfjs_vars = ("kernel", "bias") if bias is not None else ("kernel",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(F.linear(x, self.weight, self.bias))

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {"kernel": to_numpy(self.weight).T}
        if self.bias is not None:
            out["bias"] = to_numpy(self.bias)
        return out


@register("Dense")
def _dense(c: BuildContext) -> TfjsLayer:
    use_bias = c.opt("use_bias", True)
    return Dense(c.name, c.cls, c.weight("kernel"), c.maybe("bias", use_bias), c.activation())


# ---------------------------------------------------------------------------
# Embedding


class Embedding(TfjsLayer):
    """Embedding: ``embeddings`` (vocabulary, dim) is torch's ``weight`` as is."""

    tfjs_vars: tuple[str, ...] = ("embeddings",)

    def __init__(self, name: str, cls: str, table: np.ndarray) -> None:
        super().__init__(name, cls)
        self.weight = param(table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.embedding(x.long(), self.weight)

    def export_tfjs(self) -> dict[str, np.ndarray]:
        return {"embeddings": to_numpy(self.weight)}


@register("Embedding")
def _embedding(c: BuildContext) -> TfjsLayer:
    if c.opt("mask_zero"):
        raise c.fail("mask_zero", "= True is not supported by tfjs_codec.torch (masks are not propagated)")
    return Embedding(c.name, c.cls, c.weight("embeddings"))


# ---------------------------------------------------------------------------
# Dropout family (identity at inference)


class Dropout(TfjsLayer):
    """Dropout and SpatialDropout (one mask per sample and channel) in train mode; identity in eval."""

    def __init__(self, name: str, cls: str, rate: float, spatial_dims: int = 0) -> None:
        super().__init__(name, cls)
        self.rate = rate
        self.spatial_dims = spatial_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        if self.spatial_dims:  # SpatialDropout: one mask per sample and channel
            shape = (x.shape[0],) + (1,) * self.spatial_dims + (x.shape[-1],)
            mask = torch.bernoulli(torch.full(shape, 1 - self.rate, dtype=x.dtype, device=x.device))
            return x * mask / (1 - self.rate)
        return F.dropout(x, self.rate, True)


def _dropout(spatial: int) -> Builder:
    def build(c: BuildContext) -> TfjsLayer:
        if c.opt("noise_shape") is not None:
            raise c.fail("noise_shape", f"= {c.opt('noise_shape')!r} is not supported by tfjs_codec.torch")
        return Dropout(c.name, c.cls, float(c.opt("rate", 0.0)), spatial)

    return build


register("Dropout")(_dropout(0))
register("SpatialDropout1D")(_dropout(1))
register("SpatialDropout2D")(_dropout(2))
