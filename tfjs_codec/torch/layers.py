"""Keras / tfjs-layers layers as torch modules, with their weight layouts.

Every module takes and returns channels-last tensors (NWC, NHWC), as tfjs and
Keras do, so outputs compare one to one. Each one converts its weights from the
tfjs layout on :meth:`TfjsLayer.load_tfjs` and back on :meth:`TfjsLayer.export_tfjs`.

Recurrent cells follow Keras (``x`` the step input, ``h`` the state, ``ra`` the
recurrent activation, ``act`` the activation; kernels split per gate):

- LSTM: ``i, f, c~, o = x K + h R + b`` (gate order i, f, c, o);
  ``c = ra(f) c + ra(i) act(c~)``, ``h = ra(o) act(c)``.
- GRU ``reset_after=True`` (Keras 2 default; bias (2, 3u) = input, recurrent):
  ``z = ra(xK_z + b_z + hR_z + b'_z)``, ``r`` likewise,
  ``h~ = act(xK_h + b_h + r * (hR_h + b'_h))``, ``h = z h + (1 - z) h~``.
- GRU ``reset_after=False`` (the only variant tfjs-layers runs; bias (3u,)):
  ``h~ = act(xK_h + b_h + (r * h) R_h)``.
- SimpleRNN: ``h = act(x K + b + h R)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TfjsFormatError

__all__ = ["ACTIVATIONS", "BUILDERS", "TfjsLayer", "build_layer"]


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """tfjs' and Keras 2's hard sigmoid, clip(0.2 x + 0.5, 0, 1) (not torch's x/6 + 1/2)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


# Named module-level functions rather than lambdas, so modules holding them pickle
# (torch.save of a whole module).
def _linear(x: torch.Tensor) -> torch.Tensor:
    return x


def _relu6(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, 0.0, 6.0)


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return F.softmax(x, dim=-1)


def _log_softmax(x: torch.Tensor) -> torch.Tensor:
    return F.log_softmax(x, dim=-1)


#: An elementwise activation.
ActivationFn = Callable[[torch.Tensor], torch.Tensor]


#: activation name as saved (snake_case) or as tfjs spells it (camelCase) -> function.
ACTIVATIONS: dict[str, ActivationFn] = {
    "linear": _linear,
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


class _Ctx:
    """What a builder needs: the layer's identity, config and weights."""

    def __init__(self, name: str, cls: str, config: dict[str, Any], get: Callable[[str], np.ndarray | None], file: str):
        self.name = name
        self.cls = cls
        self.config = config
        self._get = get
        self.file = file

    def fail(self, option: str, reason: str) -> TfjsFormatError:
        return TfjsFormatError(
            f"option {option!r} {reason}", file=self.file, field=f"layer {self.name!r} ({self.cls})"
        )

    def opt(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)

    def only(self, key: str, allowed: Sequence[Any], default: Any = None) -> Any:
        """The option's value, or an error when it is not one of ``allowed``."""
        value = self.config.get(key, default)
        if value not in allowed:
            shown = ", ".join(repr(a) for a in allowed)
            raise self.fail(key, f"= {value!r} is not supported by tfjs_codec.torch (supported: {shown})")
        return value

    def activation(self, key: str = "activation", default: str = "linear") -> ActivationFn:
        value = self.config.get(key, default)
        if value is None:
            value = "linear"
        if isinstance(value, dict):  # {"class_name": ..., "config": ...} forms
            value = value.get("class_name") or value.get("config", {}).get("name")
        fn = ACTIVATIONS.get(value)
        if fn is None:
            raise self.fail(key, f"= {value!r} is not a supported activation")
        return fn

    def ints(self, key: str, rank: int, default: Any = 1) -> tuple[int, ...]:
        value = self.config.get(key, default)
        if value is None:
            value = default
        if isinstance(value, (int, float)):
            return (int(value),) * rank
        value = tuple(int(v) for v in value)
        if len(value) != rank:
            raise self.fail(key, f"= {list(value)!r} should have {rank} entries")
        return value

    def weight(self, var: str) -> np.ndarray:
        array = self._get(var)
        if array is None:
            raise TfjsFormatError(
                f"has no weight {var!r} in the manifest", file=self.file, field=f"layer {self.name!r} ({self.cls})"
            )
        return np.asarray(array, dtype=np.float32)

    def maybe(self, var: str, present: bool) -> np.ndarray | None:
        return self.weight(var) if present else None

    def channels_last(self) -> None:
        self.only("data_format", ("channels_last", None))


def _param(array: np.ndarray) -> nn.Parameter:
    return nn.Parameter(torch.from_numpy(np.array(array, dtype=np.float32, order="C", copy=True)))


def _maybe_param(array: np.ndarray | None) -> nn.Parameter | None:
    return None if array is None else _param(array)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


class TfjsLayer(nn.Module):
    """A layer of a tfjs / Keras model; knows its tfjs weight names and layouts."""

    #: tfjs variable names (``kernel``, ``bias``, ...) this layer holds, set per instance.
    tfjs_vars: tuple[str, ...] = ()

    def __init__(self, name: str, class_name: str) -> None:
        super().__init__()
        self.tfjs_name = name
        self.tfjs_class = class_name

    def export_tfjs(self) -> dict[str, np.ndarray]:
        """var -> its current value in the tfjs layout (float32)."""
        return {}

    def extra_repr(self) -> str:
        return f"{self.tfjs_class} {self.tfjs_name!r}"


# ---------------------------------------------------------------------------
# Structure-only layers


class Lambda(TfjsLayer):
    def __init__(self, name: str, cls: str, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__(name, cls)
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


class Dropout(TfjsLayer):
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


class Merge(TfjsLayer):
    def __init__(self, name: str, cls: str, op: str, axis: int = -1) -> None:
        super().__init__(name, cls)
        self.op = op
        self.axis = axis

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.op == "concat":
            return torch.cat(xs, dim=self.axis)
        out = xs[0]
        for x in xs[1:]:
            if self.op == "add" or self.op == "average":
                out = out + x
            elif self.op == "mul":
                out = out * x
            elif self.op == "max":
                out = torch.maximum(out, x)
            elif self.op == "min":
                out = torch.minimum(out, x)
        if self.op == "sub":
            out = xs[0] - xs[1]
        if self.op == "average":
            out = out / len(xs)
        return out


# ---------------------------------------------------------------------------
# Dense, Embedding


class Dense(TfjsLayer):
    tfjs_vars: tuple[str, ...] = ("kernel", "bias")

    def __init__(self, name: str, cls: str, kernel: np.ndarray, bias: np.ndarray | None, act: ActivationFn) -> None:
        super().__init__(name, cls)
        self.weight = _param(kernel.T)
        self.bias = _maybe_param(bias)
        self.act = act
        self.tfjs_vars = ("kernel", "bias") if bias is not None else ("kernel",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(F.linear(x, self.weight, self.bias))

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {"kernel": _np(self.weight).T}
        if self.bias is not None:
            out["bias"] = _np(self.bias)
        return out


class Embedding(TfjsLayer):
    tfjs_vars: tuple[str, ...] = ("embeddings",)

    def __init__(self, name: str, cls: str, table: np.ndarray) -> None:
        super().__init__(name, cls)
        self.weight = _param(table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.embedding(x.long(), self.weight)

    def export_tfjs(self) -> dict[str, np.ndarray]:
        return {"embeddings": _np(self.weight)}


# ---------------------------------------------------------------------------
# Convolutions and pooling (channels-last outside, channels-first inside)


def _same_pads(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int]) -> list[int]:
    """F.pad arguments (last dim first) for TensorFlow's "same" padding (extra at the end)."""
    pads: list[tuple[int, int]] = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation, strict=False):
        eff = (k - 1) * d + 1
        total = max((math.ceil(n / s) - 1) * s + eff - n, 0)
        pads.append((total // 2, total - total // 2))
    flat: list[int] = []
    for before, after in reversed(pads):
        flat += [before, after]
    return flat


_CONV = {1: F.conv1d, 2: F.conv2d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d}
_MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d}
_AVGPOOL = {1: F.avg_pool1d, 2: F.avg_pool2d}


def _to_cf(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(-1, 1)


def _to_cl(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(1, -1)


class Conv(TfjsLayer):
    """Conv1D, Conv2D, DepthwiseConv2D and SeparableConv2D."""

    def __init__(
        self,
        name: str,
        cls: str,
        *,
        rank: int,
        kind: str,
        kernels: dict[str, np.ndarray],
        bias: np.ndarray | None,
        strides: tuple[int, ...],
        dilation: tuple[int, ...],
        padding: str,
        act: ActivationFn,
    ) -> None:
        super().__init__(name, cls)
        self.rank, self.kind = rank, kind
        self.strides, self.dilation, self.padding, self.act = strides, dilation, padding, act
        if kind == "conv":
            k = kernels["kernel"]  # (*k, in, out)
            self.weight = _param(np.moveaxis(k, [-1, -2], [0, 1]))
            self.tfjs_vars = ("kernel",)
        else:
            dk = kernels["depthwise_kernel"]  # (kh, kw, in, m)
            self.in_channels, self.multiplier = dk.shape[-2], dk.shape[-1]
            w = np.moveaxis(dk, [-2, -1], [0, 1])  # (in, m, kh, kw)
            self.depthwise_weight = _param(w.reshape((w.shape[0] * w.shape[1], 1) + w.shape[2:]))
            self.tfjs_vars = ("depthwise_kernel",)
            if kind == "separable":
                pk = kernels["pointwise_kernel"]  # (1, 1, in*m, out)
                self.pointwise_weight = _param(np.moveaxis(pk, [-1, -2], [0, 1]))
                self.tfjs_vars += ("pointwise_kernel",)
        self.bias = _maybe_param(bias)
        if bias is not None:
            self.tfjs_vars += ("bias",)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        k = (self.weight if self.kind == "conv" else self.depthwise_weight).shape[2:]
        if self.padding == "same":
            return F.pad(x, _same_pads(x.shape[2:], k, self.strides, self.dilation))
        if self.padding == "causal":
            return F.pad(x, [(k[0] - 1) * self.dilation[0], 0])
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._pad(_to_cf(x))
        conv = _CONV[self.rank]
        if self.kind == "conv":
            y = conv(x, self.weight, self.bias, self.strides, 0, self.dilation)
        else:
            bias = self.bias if self.kind == "depthwise" else None
            y = conv(x, self.depthwise_weight, bias, self.strides, 0, self.dilation, groups=self.in_channels)
            if self.kind == "separable":
                y = conv(y, self.pointwise_weight, self.bias)
        return self.act(_to_cl(y))

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {}
        if self.kind == "conv":
            out["kernel"] = np.moveaxis(_np(self.weight), [0, 1], [-1, -2])
        else:
            w = _np(self.depthwise_weight)
            w = w.reshape((self.in_channels, self.multiplier) + w.shape[2:])
            out["depthwise_kernel"] = np.moveaxis(w, [0, 1], [-2, -1])
            if self.kind == "separable":
                out["pointwise_kernel"] = np.moveaxis(_np(self.pointwise_weight), [0, 1], [-1, -2])
        if self.bias is not None:
            out["bias"] = _np(self.bias)
        return out


class ConvTranspose(TfjsLayer):
    """Conv2DTranspose (and Conv1DTranspose): kernel (*k, out, in) -> (in, out, *k)."""

    def __init__(
        self,
        name: str,
        cls: str,
        *,
        rank: int,
        kernel: np.ndarray,
        bias: np.ndarray | None,
        strides: tuple[int, ...],
        dilation: tuple[int, ...],
        padding: str,
        act: ActivationFn,
    ) -> None:
        super().__init__(name, cls)
        self.rank, self.strides, self.dilation, self.padding, self.act = rank, strides, dilation, padding, act
        self.weight = _param(np.moveaxis(kernel, [-1, -2], [0, 1]))
        self.bias = _maybe_param(bias)
        self.tfjs_vars = ("kernel", "bias") if bias is not None else ("kernel",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _to_cf(x)
        y = _CONV_T[self.rank](x, self.weight, None, self.strides, 0, 0, 1, self.dilation)
        index: list[slice] = [slice(None), slice(None)]
        pads: list[int] = []
        for i, (n, k, s, d) in enumerate(zip(x.shape[2:], self.weight.shape[2:], self.strides, self.dilation, strict=False)):
            eff = (k - 1) * d + 1
            out = n * s if self.padding == "same" else n * s + max(eff - s, 0)
            before = max((n - 1) * s + eff - out, 0) // 2
            have = y.shape[2 + i] - before
            index.append(slice(before, before + min(out, have)))
            pads = [0, max(out - have, 0)] + pads
        y = y[tuple(index)]
        if any(pads):
            y = F.pad(y, pads)
        if self.bias is not None:
            y = y + self.bias.reshape((1, -1) + (1,) * self.rank)
        return self.act(_to_cl(y))

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {"kernel": np.moveaxis(_np(self.weight), [0, 1], [-1, -2])}
        if self.bias is not None:
            out["bias"] = _np(self.bias)
        return out


class Pool(TfjsLayer):
    def __init__(
        self, name: str, cls: str, *, rank: int, op: str, pool: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> None:
        super().__init__(name, cls)
        self.rank, self.op, self.pool, self.strides, self.padding = rank, op, pool, strides, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _to_cf(x)
        ones = (1,) * self.rank
        if self.op == "max":
            if self.padding == "same":
                x = F.pad(x, _same_pads(x.shape[2:], self.pool, self.strides, ones), value=-math.inf)
            y = _MAXPOOL[self.rank](x, self.pool, self.strides)
        elif self.padding == "same":
            pads = _same_pads(x.shape[2:], self.pool, self.strides, ones)
            pool = _AVGPOOL[self.rank]
            count = pool(F.pad(torch.ones_like(x[:1, :1]), pads), self.pool, self.strides)
            y = pool(F.pad(x, pads), self.pool, self.strides) / count
        else:
            y = _AVGPOOL[self.rank](x, self.pool, self.strides)
        return _to_cl(y)


class GlobalPool(TfjsLayer):
    def __init__(self, name: str, cls: str, *, op: str, keepdims: bool) -> None:
        super().__init__(name, cls)
        self.op, self.keepdims = op, keepdims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(1, x.dim() - 1))
        if self.op == "avg":
            return x.mean(dim=dims, keepdim=self.keepdims)
        return x.amax(dim=dims, keepdim=self.keepdims)


# ---------------------------------------------------------------------------
# Normalization


class BatchNorm(TfjsLayer):
    """BatchNormalization with tfjs-layers' (and Keras 2's) statistics.

    ``momentum`` is the Keras momentum m (torch's momentum would be 1 - m). In eval mode the
    input is normalized with the moving statistics. In train mode it is normalized with the
    batch mean and biased batch variance (over every axis but ``axis``), and the moving
    statistics move towards them as tfjs-layers does::

        moving_mean     -= (moving_mean - batch_mean) * (1 - m)
        moving_variance -= (moving_variance - batch_variance) * (1 - m)

    with the biased batch variance (divided by n, the number of values per channel), as
    tfjs-layers (``tf.moments``) and Keras 2 (whose fused kernel's Bessel correction it
    removes again) use, not torch's ``nn.BatchNorm`` unbiased n / (n - 1) variance.
    """

    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(
        self,
        name: str,
        cls: str,
        *,
        axis: int,
        eps: float,
        momentum: float,
        gamma: np.ndarray | None,
        beta: np.ndarray | None,
        mean: np.ndarray,
        var: np.ndarray,
    ) -> None:
        super().__init__(name, cls)
        self.axis, self.eps, self.momentum = axis, eps, momentum
        self.weight = _maybe_param(gamma)
        self.bias = _maybe_param(beta)
        self.register_buffer("running_mean", torch.from_numpy(np.array(mean, np.float32)))
        self.register_buffer("running_var", torch.from_numpy(np.array(var, np.float32)))
        self.tfjs_vars = tuple(
            v for v, p in (("gamma", gamma), ("beta", beta), ("moving_mean", 0), ("moving_variance", 0)) if p is not None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        moved = x.movedim(self.axis, -1)
        flat = moved.reshape(-1, moved.shape[-1])
        if not self.training:
            y = F.batch_norm(flat, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        else:
            var, mean = torch.var_mean(flat, dim=0, correction=0)
            with torch.no_grad():
                decay = 1.0 - self.momentum
                self.running_mean.sub_((self.running_mean - mean) * decay)
                self.running_var.sub_((self.running_var - var) * decay)
            y = (flat - mean) * torch.rsqrt(var + self.eps)
            if self.weight is not None:
                y = y * self.weight
            if self.bias is not None:
                y = y + self.bias
        return y.reshape(moved.shape).movedim(-1, self.axis)

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {"moving_mean": _np(self.running_mean), "moving_variance": _np(self.running_var)}
        if self.weight is not None:
            out["gamma"] = _np(self.weight)
        if self.bias is not None:
            out["beta"] = _np(self.bias)
        return out


class LayerNorm(TfjsLayer):
    """LayerNormalization over the given axes, as tfjs-layers and Keras 2 compute it.

    ``axes`` are the config's ``axis`` entries in their saved order (negative ones resolved
    against the input's rank at call time). Mean and (biased) variance are taken over those
    axes; gamma and beta keep their tfjs shape ``[input_shape[a] for a in axes]`` and are
    reshaped (not transposed) to the input's rank with the normalized axes' sizes in place,
    as both tfjs-layers and Keras do, so axes given out of order ([2, 1]) behave as there.
    """

    def __init__(
        self, name: str, cls: str, *, axes: tuple[int, ...], eps: float, gamma: np.ndarray | None, beta: np.ndarray | None
    ) -> None:
        super().__init__(name, cls)
        self.axes, self.eps = axes, eps
        self.weight = _maybe_param(gamma)
        self.bias = _maybe_param(beta)
        self.tfjs_vars = tuple(v for v, p in (("gamma", gamma), ("beta", beta)) if p is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rank = x.dim()
        axes = [a + rank if a < 0 else a for a in self.axes]
        if any(a < 1 or a >= rank for a in axes) or len(set(axes)) != len(axes):
            raise RuntimeError(
                f"layer {self.tfjs_name!r} ({self.tfjs_class}): axis {list(self.axes)!r} does not fit an input of "
                f"rank {rank} (the batch axis 0 cannot be normalized)"
            )
        sizes = tuple(x.shape[a] for a in axes)
        for param in (self.weight, self.bias):
            if param is not None and tuple(param.shape) != sizes:
                raise RuntimeError(
                    f"layer {self.tfjs_name!r} ({self.tfjs_class}): gamma/beta of shape {list(param.shape)!r} do not "
                    f"fit axis {list(self.axes)!r} of an input of shape {list(x.shape)!r}"
                )
        dims = tuple(sorted(axes))
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        shape = [1] * rank
        for a in axes:
            shape[a] = x.shape[a]
        if self.weight is not None:
            y = y * self.weight.reshape(shape)
        if self.bias is not None:
            y = y + self.bias.reshape(shape)
        return y

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {}
        if self.weight is not None:
            out["gamma"] = _np(self.weight)
        if self.bias is not None:
            out["beta"] = _np(self.bias)
        return out


# ---------------------------------------------------------------------------
# Recurrent


class Recurrent(TfjsLayer):
    """LSTM, GRU (both reset variants) and SimpleRNN with the Keras equations."""

    def __init__(
        self,
        name: str,
        cls: str,
        *,
        kind: str,
        units: int,
        act: ActivationFn,
        rec_act: ActivationFn,
        kernel: np.ndarray,
        recurrent: np.ndarray,
        bias: np.ndarray | None,
        return_sequences: bool,
        go_backwards: bool,
        dropout: bool,
    ) -> None:
        super().__init__(name, cls)
        self.kind, self.units, self.act, self.rec_act = kind, units, act, rec_act
        self.return_sequences, self.go_backwards, self.dropout = return_sequences, go_backwards, dropout
        self.weight_ih = _param(kernel.T)
        self.weight_hh = _param(recurrent.T)
        self.bias = _maybe_param(bias)
        self.tfjs_vars = ("kernel", "recurrent_kernel") + (("bias",) if bias is not None else ())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.dropout:
            raise RuntimeError(
                f"layer {self.tfjs_name!r} ({self.tfjs_class}): dropout/recurrent_dropout are not implemented in "
                "training mode by tfjs_codec.torch"
            )
        if self.go_backwards:
            x = x.flip(1)
        u = self.units
        bias_in = bias_rec = None
        if self.bias is not None:
            if self.kind == "gru_after":
                bias_in, bias_rec = self.bias[0], self.bias[1]
            else:
                bias_in = self.bias
        xs = F.linear(x, self.weight_ih, bias_in)
        h = x.new_zeros(x.shape[0], u)
        c = x.new_zeros(x.shape[0], u)
        outs = []
        for t in range(x.shape[1]):
            xt = xs[:, t]
            if self.kind == "lstm":
                z = xt + F.linear(h, self.weight_hh)
                i, f, g, o = z.split(u, dim=-1)
                c = self.rec_act(f) * c + self.rec_act(i) * self.act(g)
                h = self.rec_act(o) * self.act(c)
            elif self.kind == "gru_after":
                xz, xr, xh = xt.split(u, dim=-1)
                hz, hr, hh = F.linear(h, self.weight_hh, bias_rec).split(u, dim=-1)
                z, r = self.rec_act(xz + hz), self.rec_act(xr + hr)
                h = z * h + (1 - z) * self.act(xh + r * hh)
            elif self.kind == "gru_before":
                xz, xr, xh = xt.split(u, dim=-1)
                hz, hr = F.linear(h, self.weight_hh[: 2 * u]).split(u, dim=-1)
                z, r = self.rec_act(xz + hz), self.rec_act(xr + hr)
                h = z * h + (1 - z) * self.act(xh + F.linear(r * h, self.weight_hh[2 * u :]))
            else:
                h = self.act(xt + F.linear(h, self.weight_hh))
            outs.append(h)
        if self.return_sequences:
            return torch.stack(outs, dim=1)
        return h

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {"kernel": _np(self.weight_ih).T, "recurrent_kernel": _np(self.weight_hh).T}
        if self.bias is not None:
            out["bias"] = _np(self.bias)
        return out


# ---------------------------------------------------------------------------
# Builders: (ctx) -> TfjsLayer


def _check_common(c: _Ctx) -> None:
    # A stored activity regularizer does not change outputs; masking does.
    if c.opt("mask_zero"):
        raise c.fail("mask_zero", "= True is not supported by tfjs_codec.torch (masks are not propagated)")


def _dense(c: _Ctx) -> TfjsLayer:
    use_bias = c.opt("use_bias", True)
    return Dense(c.name, c.cls, c.weight("kernel"), c.maybe("bias", use_bias), c.activation())


def _activation(c: _Ctx) -> TfjsLayer:
    return Lambda(c.name, c.cls, c.activation())


def _conv(rank: int, kind: str) -> Callable[[_Ctx], TfjsLayer]:
    def build(c: _Ctx) -> TfjsLayer:
        c.channels_last()
        padding = c.only("padding", ("valid", "same", "causal") if rank == 1 else ("valid", "same"), "valid")
        c.only("groups", (1, None), 1)
        if kind == "conv":
            kernels = {"kernel": c.weight("kernel")}
        else:
            kernels = {"depthwise_kernel": c.weight("depthwise_kernel")}
            if kind == "separable":
                kernels["pointwise_kernel"] = c.weight("pointwise_kernel")
        strides = c.ints("strides", rank)
        dilation = c.ints("dilation_rate", rank)
        if max(strides) > 1 and max(dilation) > 1:
            raise c.fail("dilation_rate", "> 1 together with strides > 1 is not supported (Keras rejects it too)")
        return Conv(
            c.name, c.cls, rank=rank, kind=kind, kernels=kernels, bias=c.maybe("bias", c.opt("use_bias", True)),
            strides=strides, dilation=dilation, padding=padding, act=c.activation(),
        )

    return build


def _conv_transpose(rank: int) -> Callable[[_Ctx], TfjsLayer]:
    def build(c: _Ctx) -> TfjsLayer:
        c.channels_last()
        c.only("output_padding", (None,), None)
        return ConvTranspose(
            c.name, c.cls, rank=rank, kernel=c.weight("kernel"), bias=c.maybe("bias", c.opt("use_bias", True)),
            strides=c.ints("strides", rank), dilation=c.ints("dilation_rate", rank),
            padding=c.only("padding", ("valid", "same"), "valid"), act=c.activation(),
        )

    return build


def _pool(rank: int, op: str) -> Callable[[_Ctx], TfjsLayer]:
    def build(c: _Ctx) -> TfjsLayer:
        c.channels_last()
        pool = c.ints("pool_size", rank, 2)
        strides = c.ints("strides", rank, pool) if c.opt("strides") is not None else pool
        return Pool(c.name, c.cls, rank=rank, op=op, pool=pool, strides=strides,
                    padding=c.only("padding", ("valid", "same"), "valid"))

    return build


def _global_pool(op: str) -> Callable[[_Ctx], TfjsLayer]:
    def build(c: _Ctx) -> TfjsLayer:
        c.channels_last()
        return GlobalPool(c.name, c.cls, op=op, keepdims=bool(c.opt("keepdims", False)))

    return build


def _axis(c: _Ctx, default: int = -1) -> Any:
    axis = c.opt("axis", default)
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    return axis


def _batchnorm(c: _Ctx) -> TfjsLayer:
    axis = _axis(c)
    if not isinstance(axis, int):
        raise c.fail("axis", f"= {axis!r} is not supported (one axis only)")
    if c.opt("renorm"):
        raise c.fail("renorm", "= True is not supported by tfjs_codec.torch")
    if c.opt("virtual_batch_size") is not None:
        raise c.fail("virtual_batch_size", f"= {c.opt('virtual_batch_size')!r} is not supported by tfjs_codec.torch")
    center, scale = c.opt("center", True), c.opt("scale", True)
    return BatchNorm(
        c.name, c.cls, axis=axis, eps=float(c.opt("epsilon", 1e-3)), momentum=float(c.opt("momentum", 0.99)),
        gamma=c.maybe("gamma", scale), beta=c.maybe("beta", center),
        mean=c.weight("moving_mean"), var=c.weight("moving_variance"),
    )


def _layernorm(c: _Ctx) -> TfjsLayer:
    axis = c.opt("axis", -1)
    axes = [axis] if isinstance(axis, int) else axis
    if not isinstance(axes, list) or not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise c.fail("axis", f"= {axis!r} is not an integer or a list of integers")
    if 0 in axes:
        raise c.fail("axis", f"= {axis!r} includes the batch axis 0, which is not supported by tfjs_codec.torch")
    if len(set(axes)) != len(axes):
        raise c.fail("axis", f"= {axis!r} repeats an axis")
    gamma = c.maybe("gamma", c.opt("scale", True))
    beta = c.maybe("beta", c.opt("center", True))
    for var, array in (("gamma", gamma), ("beta", beta)):
        if array is not None and array.ndim != len(axes):
            raise c.fail("axis", f"= {axis!r} does not match the shape {list(array.shape)!r} of weight {var!r}")
    return LayerNorm(c.name, c.cls, axes=tuple(axes), eps=float(c.opt("epsilon", 1e-3)), gamma=gamma, beta=beta)


def _embedding(c: _Ctx) -> TfjsLayer:
    _check_common(c)
    return Embedding(c.name, c.cls, c.weight("embeddings"))


def _recurrent(kind: str) -> Callable[[_Ctx], TfjsLayer]:
    def build(c: _Ctx) -> TfjsLayer:
        for key in ("return_state", "stateful"):
            if c.opt(key):
                raise c.fail(key, "= True is not supported by tfjs_codec.torch")
        if c.opt("time_major"):
            raise c.fail("time_major", "= True is not supported by tfjs_codec.torch")
        k = kind
        if kind == "gru":
            k = "gru_after" if c.opt("reset_after", False) else "gru_before"
        use_bias = c.opt("use_bias", True)
        rec_default = "sigmoid" if kind != "simple" else None
        return Recurrent(
            c.name, c.cls, kind=k, units=int(c.opt("units")), act=c.activation("activation", "tanh"),
            rec_act=c.activation("recurrent_activation", rec_default or "linear"),
            kernel=c.weight("kernel"), recurrent=c.weight("recurrent_kernel"), bias=c.maybe("bias", use_bias),
            return_sequences=bool(c.opt("return_sequences", False)), go_backwards=bool(c.opt("go_backwards", False)),
            dropout=bool(c.opt("dropout", 0) or c.opt("recurrent_dropout", 0)),
        )

    return build


def _flatten_fn(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def _reshape_fn(x: torch.Tensor, *, target: tuple[int, ...]) -> torch.Tensor:
    return x.reshape((x.shape[0],) + target)


def _permute_fn(x: torch.Tensor, *, dims: tuple[int, ...]) -> torch.Tensor:
    return x.permute(dims)


def _repeat_fn(x: torch.Tensor, *, n: int) -> torch.Tensor:
    return x.unsqueeze(1).expand(x.shape[0], n, *x.shape[1:])


def _flatten(c: _Ctx) -> TfjsLayer:
    c.channels_last()
    return Lambda(c.name, c.cls, _flatten_fn)


def _reshape(c: _Ctx) -> TfjsLayer:
    target = tuple(int(v) for v in c.opt("target_shape"))
    return Lambda(c.name, c.cls, partial(_reshape_fn, target=target))


def _permute(c: _Ctx) -> TfjsLayer:
    dims = (0,) + tuple(int(d) for d in c.opt("dims"))
    return Lambda(c.name, c.cls, partial(_permute_fn, dims=dims))


def _repeat(c: _Ctx) -> TfjsLayer:
    n = int(c.opt("n"))
    return Lambda(c.name, c.cls, partial(_repeat_fn, n=n))


def _dropout(spatial: int) -> Callable[[_Ctx], TfjsLayer]:
    def build(c: _Ctx) -> TfjsLayer:
        if c.opt("noise_shape") is not None:
            raise c.fail("noise_shape", f"= {c.opt('noise_shape')!r} is not supported by tfjs_codec.torch")
        return Dropout(c.name, c.cls, float(c.opt("rate", 0.0)), spatial)

    return build


def _merge(op: str) -> Callable[[_Ctx], TfjsLayer]:
    def build(c: _Ctx) -> TfjsLayer:
        return Merge(c.name, c.cls, op, int(c.opt("axis", -1)) if op == "concat" else -1)

    return build


def _identity(c: _Ctx) -> TfjsLayer:
    return Lambda(c.name, c.cls, _linear)


#: Keras / tfjs class name -> builder.
BUILDERS: dict[str, Callable[[_Ctx], TfjsLayer]] = {
    "InputLayer": _identity,
    "Dense": _dense,
    "Activation": _activation,
    "Dropout": _dropout(0),
    "SpatialDropout1D": _dropout(1),
    "SpatialDropout2D": _dropout(2),
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Permute": _permute,
    "RepeatVector": _repeat,
    "Conv1D": _conv(1, "conv"),
    "Conv2D": _conv(2, "conv"),
    "DepthwiseConv2D": _conv(2, "depthwise"),
    "SeparableConv2D": _conv(2, "separable"),
    "Conv2DTranspose": _conv_transpose(2),
    "MaxPooling1D": _pool(1, "max"),
    "MaxPooling2D": _pool(2, "max"),
    "AveragePooling1D": _pool(1, "avg"),
    "AveragePooling2D": _pool(2, "avg"),
    "GlobalAveragePooling1D": _global_pool("avg"),
    "GlobalAveragePooling2D": _global_pool("avg"),
    "GlobalMaxPooling1D": _global_pool("max"),
    "GlobalMaxPooling2D": _global_pool("max"),
    "BatchNormalization": _batchnorm,
    "LayerNormalization": _layernorm,
    "Embedding": _embedding,
    "LSTM": _recurrent("lstm"),
    "GRU": _recurrent("gru"),
    "SimpleRNN": _recurrent("simple"),
    "Concatenate": _merge("concat"),
    "Add": _merge("add"),
    "Subtract": _merge("sub"),
    "Multiply": _merge("mul"),
    "Average": _merge("average"),
    "Maximum": _merge("max"),
    "Minimum": _merge("min"),
}


def build_layer(name: str, cls: str, config: dict[str, Any], get: Callable[[str], np.ndarray | None], *, file: str) -> TfjsLayer:
    """Build the torch module of one layer.

    Args:
        name: the layer's name.
        cls: its class name (``Dense``, ``Conv2D``, ...).
        config: its config.
        get: var name (``kernel``) -> the decoded array, or None when absent.
        file: the manifest file name, for errors.

    Returns:
        The layer module, weights loaded.

    Raises:
        TfjsFormatError: an unsupported class or option, or a missing weight;
            the message names the layer, its class and the option.
    """
    builder = BUILDERS.get(cls)
    ctx = _Ctx(name, cls, config, get, file)
    if builder is None:
        raise TfjsFormatError(
            "layer class is not supported by tfjs_codec.torch", file=file, field=f"layer {name!r} ({cls})"
        )
    return builder(ctx)
