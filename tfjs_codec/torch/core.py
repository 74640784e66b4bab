"""Core layers: InputLayer, Dense, Embedding, Masking, and the dropout and noise family.

Dropout, SpatialDropout, GaussianNoise, GaussianDropout and AlphaDropout are the identity
in eval mode (tfjs' inference) and draw their noise as tfjs does in train mode.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TfjsFormatError
from .activations import SELU_ALPHA, SELU_SCALE, linear
from .masks import attach_mask, mask_of, passes_mask
from .registry import (
    ActivationFn,
    BuildContext,
    Builder,
    ExportedLayer,
    Lambda,
    TfjsLayer,
    attach_export,
    maybe_param,
    param,
    register,
    to_numpy,
)

__all__ = [
    "NOT_IN_TFJS",
    "AlphaDropout",
    "Dense",
    "Dropout",
    "Embedding",
    "GaussianDropout",
    "GaussianNoise",
    "Masking",
    "attach_mask",
    "mask_of",
]


@register("InputLayer")
def _identity(c: BuildContext) -> TfjsLayer:
    return Lambda(c.name, c.cls, linear)


# ---------------------------------------------------------------------------
# Dense


@passes_mask
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

    def __init__(self, name: str, cls: str, table: np.ndarray, *, mask_zero: bool = False) -> None:
        super().__init__(name, cls)
        self.weight = param(table)
        self.mask_zero = mask_zero

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.embedding(x.long(), self.weight)
        if self.mask_zero:
            attach_mask(y, x != 0)
        return y

    def export_tfjs(self) -> dict[str, np.ndarray]:
        return {"embeddings": to_numpy(self.weight)}


@register("Embedding")
def _embedding(c: BuildContext) -> TfjsLayer:
    return Embedding(c.name, c.cls, c.weight("embeddings"), mask_zero=bool(c.opt("mask_zero", False)))


# ---------------------------------------------------------------------------
# Dropout family (identity at inference)


@passes_mask
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


@passes_mask
class GaussianNoise(TfjsLayer):
    """Identity in eval; in train mode adds N(0, stddev) noise, as tfjs does."""

    def __init__(self, name: str, cls: str, stddev: float) -> None:
        super().__init__(name, cls)
        self.stddev = stddev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return x + torch.randn_like(x) * self.stddev


@passes_mask
class GaussianDropout(TfjsLayer):
    """Identity in eval; in train mode (0 < rate < 1) multiplies by N(1, sqrt(rate / (1 - rate))) noise."""

    def __init__(self, name: str, cls: str, rate: float) -> None:
        super().__init__(name, cls)
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not 0 < self.rate < 1:
            return x
        return x * (1 + torch.randn_like(x) * math.sqrt(self.rate / (1 - self.rate)))




@passes_mask
class AlphaDropout(TfjsLayer):
    """Identity in eval; in train mode (0 < rate < 1) alpha dropout as Keras defines it: dropped values
    become ``-alpha * scale`` (SELU's saturation value), then ``a x + b`` keeps mean and variance.
    (tfjs 4.22 sets them to ``+alpha * scale``, a sign slip that shifts the mean: see the README.)"""

    def __init__(self, name: str, cls: str, rate: float, noise_shape: tuple[int, ...] | None) -> None:
        super().__init__(name, cls)
        self.rate, self.noise_shape = rate, noise_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not 0 < self.rate < 1:
            return x
        shape = self.noise_shape or tuple(x.shape)
        kept = (torch.rand(shape, device=x.device) >= self.rate).to(x.dtype)
        alpha_p = -SELU_ALPHA * SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * self.rate
        y: torch.Tensor = (x * kept + (1 - kept) * alpha_p) * a + b
        return y


@register("GaussianNoise")
def _gaussian_noise(c: BuildContext) -> TfjsLayer:
    return GaussianNoise(c.name, c.cls, float(c.opt("stddev", 0.0)))


@register("GaussianDropout")
def _gaussian_dropout(c: BuildContext) -> TfjsLayer:
    return GaussianDropout(c.name, c.cls, float(c.opt("rate", 0.0)))


@register("AlphaDropout")
def _alpha_dropout(c: BuildContext) -> TfjsLayer:
    shape = c.opt("noise_shape")
    return AlphaDropout(c.name, c.cls, float(c.opt("rate", 0.0)), None if shape is None else tuple(int(s) for s in shape))


# ---------------------------------------------------------------------------
# Masking


class Masking(TfjsLayer):
    """Masking: zeroes the time steps whose features all equal ``mask_value`` and marks them masked.

    The mask goes with the output (see :mod:`~tfjs_codec.torch.masks`) to the recurrent layer
    (or Bidirectional) that uses it: there masked steps keep the previous output and state.
    """

    def __init__(self, name: str, cls: str, mask_value: float) -> None:
        super().__init__(name, cls)
        self.mask_value = mask_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = (x != self.mask_value).any(dim=-1, keepdim=True)
        return attach_mask(x * keep.to(x.dtype), keep.squeeze(-1))


@register("Masking")
def _masking(c: BuildContext) -> TfjsLayer:
    value = c.opt("mask_value", 0.0)
    return Masking(c.name, c.cls, 0.0 if value is None else float(value))


# ---------------------------------------------------------------------------
# Keras classes tfjs cannot load

#: Keras layer classes that tfjs-layers 4.22 does not register for deserialization
#: (tf.loadLayersModel fails with "Unknown layer"), so no browser runs a model holding them.
NOT_IN_TFJS = (
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomCrop", "RandomHeight",
    "RandomBrightness", "Normalization", "Discretization", "Hashing", "StringLookup", "IntegerLookup",
    "TextVectorization", "EinsumDense", "MultiHeadAttention", "Attention", "AdditiveAttention", "Lambda",
    "UnitNormalization", "GroupNormalization",
)


def _not_in_tfjs(c: BuildContext) -> TfjsLayer:
    raise TfjsFormatError(
        f"{c.cls} is not a layer class tfjs-layers 4.22 can deserialize (tf.loadLayersModel fails with "
        f"'Unknown layer: {c.cls}'), so tfjs_codec.torch does not build it either", file=c.file, field=c.where,
    )


register(*NOT_IN_TFJS)(_not_in_tfjs)


# ---------------------------------------------------------------------------
# Export halves (torch module call -> Keras layers): see tfjs_codec.torch.exporter


def _np32(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy()


def dense_config(units: int, use_bias: bool) -> dict[str, Any]:
    """A Dense config as tfjs-layers writes it (linear activation)."""
    from .exporter.graph import GLOROT, ZEROS

    return {
        "units": units, "activation": "linear", "use_bias": use_bias, "kernel_initializer": GLOROT,
        "bias_initializer": ZEROS, "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None,
    }


@attach_export("Dense", nn.Linear)
def _export_linear(ex: Any, call: Any) -> Any:
    """Linear on the last axis: kernel = weight.T."""
    from .exporter.graph import Value

    m, x = call.module, call.tensor()
    x = call.graph.last_axis(x, x.rank - 1, call.base)
    weights = {"kernel": _np32(m.weight).T}
    if m.bias is not None:
        weights["bias"] = _np32(m.bias)
    ref = call.emit(ExportedLayer("Dense", dense_config(m.out_features, m.bias is not None), weights), [x])
    return Value(ref, call.out_shape, x.perm)


@attach_export("Embedding", nn.Embedding)
def _export_embedding(ex: Any, call: Any) -> Any:
    """Embedding: the table as is (padding_idx only shapes training; max_norm is refused)."""
    from .exporter.graph import Value, identity

    m, x = call.module, call.tensor()
    if m.max_norm is not None:
        raise call.fail(f"max_norm={m.max_norm}: torch renormalizes rows when looked up; tfjs' Embedding does not")
    x = call.graph.layout(x, identity(x.rank), call.base)
    config = {
        "input_dim": m.num_embeddings, "output_dim": m.embedding_dim,
        "embeddings_initializer": {"class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
        "embeddings_regularizer": None, "activity_regularizer": None, "embeddings_constraint": None,
        "mask_zero": None, "input_length": None,
    }
    ref = call.emit(ExportedLayer("Embedding", config, {"embeddings": _np32(m.weight)}), [x])
    return Value(ref, call.out_shape, identity(x.rank + 1))


@attach_export("Dropout", nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
def _export_dropout(ex: Any, call: Any) -> Any:
    """nn.Dropout -> Keras Dropout (same rate: trains alike in tfjs); the other variants: identity at inference."""
    m, x = call.module, call.tensor()
    if type(m) is nn.Dropout and m.p > 0:
        ref = call.emit(ExportedLayer("Dropout", {"rate": float(m.p), "noise_shape": None, "seed": None}), [x])
        return x.with_(ref=ref)
    return x
