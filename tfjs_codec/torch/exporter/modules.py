"""Handlers for torch module calls: ``nn.Linear`` -> Dense, ``nn.Conv2d`` -> Conv2D, ...

Weight layouts (torch -> tfjs): Linear ``(out, in)`` -> kernel ``(in, out)``;
Conv ``(out, in, *k)`` -> ``(*k, in, out)``; depthwise ``(in*m, 1, kh, kw)`` ->
``(kh, kw, in, m)``; ConvTranspose2d ``(in, out, kh, kw)`` -> ``(kh, kw, out, in)``;
LSTM / RNN ``weight_ih`` -> kernel (transposed), ``weight_hh`` -> recurrent_kernel
(transposed), ``bias_ih + bias_hh`` -> bias (torch's gate order i, f, g, o is
Keras' i, f, c, o).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .engine import MODULES, Call, Exporter
from .graph import GLOROT, ONES, ORTHOGONAL, ZEROS, Value, channels_last, identity
from .ops import (
    activation,
    adaptive_avg,
    pad_spatial,
    pool,
    reshape_to,
    same_pads,
    softmax,
    upsample,
    zero_pad,
)

__all__ = ["rnn_cat", "rnn_getitem"]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy()


def _dense_config(units: int, use_bias: bool) -> dict[str, Any]:
    return {
        "units": units, "activation": "linear", "use_bias": use_bias, "kernel_initializer": GLOROT,
        "bias_initializer": ZEROS, "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None,
    }


def _linear(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, nn.Linear)
    x = call.tensor()
    if x.rank < 2:
        raise call.fail("input without a batch axis")
    x = call.graph.last_axis(x, x.rank - 1, call.base)
    weights = {"kernel": _np(m.weight).T}
    if m.bias is not None:
        weights["bias"] = _np(m.bias)
    ref = call.add("", "Dense", _dense_config(m.out_features, m.bias is not None), [x], weights)
    return Value(ref, call.out_shape, x.perm)


MODULES[nn.Linear] = _linear


# ---------------------------------------------------------------------------
# Convolutions


def _conv_config(filters: int | None, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...], padding: str, bias: bool) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if filters is not None:
        config["filters"] = filters
        config.update({"kernel_initializer": GLOROT, "kernel_regularizer": None, "kernel_constraint": None})
    config.update({"kernel_size": list(k), "strides": list(s), "padding": padding})
    if len(k) == 2:
        config["data_format"] = "channels_last"
    config.update({
        "dilation_rate": list(d), "activation": "linear", "use_bias": bias, "bias_initializer": ZEROS,
        "bias_regularizer": None, "activity_regularizer": None, "bias_constraint": None,
    })
    return config


def _conv(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, (nn.Conv1d, nn.Conv2d))
    rank = 1 if isinstance(m, nn.Conv1d) else 2
    x = call.tensor()
    if x.rank != rank + 2:
        raise call.fail(f"input of rank {x.rank}: Conv{rank}d without a batch axis is not supported")
    if m.padding_mode != "zeros":
        raise call.fail(f"padding_mode={m.padding_mode!r}: tfjs convolutions pad with zeros only")
    k, s, d = tuple(m.kernel_size), tuple(m.stride), tuple(m.dilation)
    cin, cout, groups = m.in_channels, m.out_channels, m.groups
    depthwise = groups > 1 and groups == cin and cout % cin == 0
    if groups > 1 and not depthwise:
        raise call.fail(f"groups={groups} (in {cin}, out {cout}): tfjs has no grouped convolution, only depthwise (groups == in_channels)")
    if depthwise and rank == 1:
        raise call.fail("a depthwise Conv1d (groups == in_channels) has no tfjs layer (DepthwiseConv2D only)")
    if max(d) > 1 and max(s) > 1:
        raise call.fail(f"dilation {list(d)} with stride {list(s)}: tfjs convolutions refuse both > 1")
    if depthwise and max(d) > 1:
        raise call.fail(f"dilation {list(d)} on a depthwise convolution: tfjs 4.22's CPU DepthwiseConv2D ignores dilation_rate")
    spatial = x.shape[2:]
    if m.padding == "valid":
        pads = [(0, 0)] * rank
    elif m.padding == "same":
        pads = []
        for kk, dd in zip(k, d):
            total = dd * (kk - 1)
            pads.append((total // 2, total - total // 2))
    else:
        pads = [(int(p), int(p)) for p in m.padding]
    x = call.graph.layout(x, channels_last(x.rank), call.base)
    tf_same = [same_pads(n, kk, ss, dd) for n, kk, ss, dd in zip(spatial, k, s, d)]
    if all(p == (0, 0) for p in pads):
        padding = "valid"
    elif list(pads) == tf_same:
        padding = "same"
    else:
        x = zero_pad(call, x, pads)
        padding = "valid"
    w = _np(m.weight)
    weights: dict[str, np.ndarray] = {}
    if depthwise:
        mult = cout // cin
        config = _conv_config(None, k, s, d, padding, m.bias is not None)
        config.update({"depth_multiplier": mult, "depthwise_initializer": GLOROT, "depthwise_regularizer": None,
                       "depthwise_constraint": None})
        weights["depthwise_kernel"] = w.reshape(cin, mult, *k).transpose(2, 3, 0, 1)
        cls = "DepthwiseConv2D"
    else:
        config = _conv_config(cout, k, s, d, padding, m.bias is not None)
        weights["kernel"] = np.moveaxis(w, [0, 1], [-1, -2])
        cls = f"Conv{rank}D"
    if m.bias is not None:
        weights["bias"] = _np(m.bias)
    ref = call.add("", cls, config, [x], weights)
    return Value(ref, call.out_shape, channels_last(x.rank))


def _conv_transpose(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, nn.ConvTranspose2d)
    x = call.tensor()
    if x.rank != 4:
        raise call.fail(f"input of rank {x.rank}: ConvTranspose2d without a batch axis is not supported")
    if m.groups != 1:
        raise call.fail(f"groups={m.groups}: tfjs' Conv2DTranspose has no groups")
    if tuple(m.dilation) != (1, 1):
        raise call.fail(f"dilation {list(m.dilation)}: tfjs' Conv2DTranspose has no dilation")
    if m.padding_mode != "zeros":
        raise call.fail(f"padding_mode={m.padding_mode!r} is not supported")
    k, s = tuple(m.kernel_size), tuple(m.stride)
    p, op = tuple(int(v) for v in m.padding), tuple(int(v) for v in m.output_padding)  # type: ignore[union-attr]
    out = call.out_shape
    spatial = x.shape[2:]
    # tfjs 'valid' output: n*s + max(k - s, 0), starting at torch's uncropped position 0.
    crops = []
    for n, kk, ss, pp, oo, want in zip(spatial, k, s, p, op, out[2:]):
        full = n * ss + max(kk - ss, 0)
        end = full - pp - want
        if end < 0:
            raise call.fail(
                f"output_padding {list(op)} > padding {list(p)}: the extra rows hold only the bias in torch; tfjs' "
                "Conv2DTranspose has no such output"
            )
        crops.append((pp, end))
    x = call.graph.layout(x, channels_last(4), call.base)
    same = all(want == n * ss and c[0] == max(kk - ss, 0) // 2 for want, n, ss, kk, c in zip(out[2:], spatial, s, k, crops))
    config = _conv_config(m.out_channels, k, s, (1, 1), "same" if same else "valid", m.bias is not None)
    del config["dilation_rate"]
    weights = {"kernel": _np(m.weight).transpose(2, 3, 1, 0)}
    if m.bias is not None:
        weights["bias"] = _np(m.bias)
    ref = call.add("", "Conv2DTranspose", config, [x], weights)
    if not same and any(c != (0, 0) for c in crops):
        ref = call.graph.add(call.base + "_crop", "Cropping2D",
                             {"cropping": [list(c) for c in crops], "data_format": "channels_last"}, [ref])
    return Value(ref, out, channels_last(4))


MODULES[nn.Conv1d] = MODULES[nn.Conv2d] = _conv
MODULES[nn.ConvTranspose2d] = _conv_transpose


# ---------------------------------------------------------------------------
# Pooling, padding, upsampling


def _maxpool(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, (nn.MaxPool1d, nn.MaxPool2d))
    if m.return_indices:
        raise call.fail("return_indices=True is not supported")
    rank = 1 if isinstance(m, nn.MaxPool1d) else 2
    return pool(call, call.tensor(), op="max", rank=rank, kernel=m.kernel_size, stride=m.stride, padding=m.padding,
                dilation=m.dilation, ceil_mode=m.ceil_mode)


def _avgpool(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, (nn.AvgPool1d, nn.AvgPool2d))
    rank = 1 if isinstance(m, nn.AvgPool1d) else 2
    return pool(call, call.tensor(), op="avg", rank=rank, kernel=m.kernel_size, stride=m.stride, padding=m.padding,
                ceil_mode=m.ceil_mode, count_include_pad=m.count_include_pad,
                divisor_override=getattr(m, "divisor_override", None))


def _adaptive(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d))
    return adaptive_avg(call, call.tensor(), m.output_size, 1 if isinstance(m, nn.AdaptiveAvgPool1d) else 2)


def _zeropad(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, (nn.ZeroPad2d, nn.ZeroPad1d))
    return pad_spatial(call, call.tensor(), list(m.padding))


def _upsample(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, nn.Upsample)
    return upsample(call, call.tensor(), m.mode, m.align_corners)


def _flatten(ex: Exporter, call: Call) -> Value:
    return reshape_to(call, call.tensor(), call.out_shape)


def _identity(ex: Exporter, call: Call) -> Value:
    return call.tensor()


MODULES[nn.MaxPool1d] = MODULES[nn.MaxPool2d] = _maxpool
MODULES[nn.AvgPool1d] = MODULES[nn.AvgPool2d] = _avgpool
MODULES[nn.AdaptiveAvgPool1d] = MODULES[nn.AdaptiveAvgPool2d] = _adaptive
MODULES[nn.ZeroPad2d] = MODULES[nn.ZeroPad1d] = _zeropad
MODULES[nn.Upsample] = _upsample
MODULES[nn.Flatten] = MODULES[nn.Unflatten] = _flatten
for _cls in (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.FeatureAlphaDropout):
    MODULES[_cls] = _identity


# ---------------------------------------------------------------------------
# Activations


def _act(name: str) -> Any:
    def handle(ex: Exporter, call: Call) -> Value:
        return activation(call, name)

    return handle


def _hardtanh(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, nn.Hardtanh)
    if (m.min_val, m.max_val) != (0.0, 6.0):
        raise call.fail(f"Hardtanh({m.min_val}, {m.max_val}): only Hardtanh(0, 6) (ReLU6) has a tfjs layer")
    return activation(call, "relu6")


def _leaky(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, nn.LeakyReLU)
    x = call.tensor()
    return x.with_(ref=call.add("", "LeakyReLU", {"alpha": float(m.negative_slope)}, [x]), nonneg=False)


def _elu(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, nn.ELU)
    if m.alpha != 1.0:
        raise call.fail(f"alpha={m.alpha}: tfjs 4.22's ELU supports alpha 1 only ('Non-default alpha value is not supported')")
    return activation(call, "elu")


def _gelu(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, nn.GELU)
    if m.approximate != "none":
        raise call.fail(
            "approximate='tanh': tfjs 4.22 writes this activation as 'gelu_new' but cannot load it back "
            "(it looks up 'geluNew'); use the exact GELU (approximate='none')"
        )
    return activation(call, "gelu")


def _softplus(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, nn.Softplus)
    if m.beta != 1.0:
        raise call.fail(f"beta={m.beta}: Keras softplus is log(1 + exp(x)) (beta 1)")
    return activation(call, "softplus")


def _softmax(log: bool) -> Any:
    def handle(ex: Exporter, call: Call) -> Value:
        m = call.module
        assert isinstance(m, (nn.Softmax, nn.LogSoftmax))
        return softmax(call, call.tensor(), m.dim, log)

    return handle


def _prelu(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, nn.PReLU)
    x = call.tensor()
    n = m.num_parameters
    if x.rank >= 3 and n > 1:
        x = call.graph.layout(x, channels_last(x.rank), call.base)
    elif x.rank == 2 or n == 1:
        x = call.graph.layout(x, x.perm if len(x.perm) == x.rank else identity(x.rank), call.base)
    keras_rank = x.rank - 1
    alpha = _np(m.weight)
    if n == 1:
        shared = list(range(1, keras_rank + 1))
        value = alpha.reshape((1,) * keras_rank)
    else:
        shared = list(range(1, keras_rank))
        value = alpha.reshape((1,) * (keras_rank - 1) + (n,))
    config = {"alpha_initializer": {"class_name": "Constant", "config": {"value": 0.25}}, "alpha_regularizer": None,
              "alpha_constraint": None, "shared_axes": shared or None}
    ref = call.add("", "PReLU", config, [x], {"alpha": value})
    return x.with_(ref=ref, nonneg=False)


def _hardsigmoid(ex: Exporter, call: Call) -> Value:
    raise call.fail(
        "torch's Hardsigmoid is relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1), not tfjs' hard_sigmoid clip(0.2 x + 0.5, 0, 1); "
        "a same-named activation would give different numbers"
    )


for _cls, _name in (
    (nn.ReLU, "relu"), (nn.ReLU6, "relu6"), (nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh"), (nn.SELU, "selu"),
    (nn.SiLU, "swish"), (nn.Mish, "mish"), (nn.Softsign, "softsign"),
):
    MODULES[_cls] = _act(_name)
MODULES[nn.Hardtanh] = _hardtanh  # nn.ReLU6 is a Hardtanh subclass, found first along the MRO
MODULES[nn.LeakyReLU] = _leaky
MODULES[nn.ELU] = _elu
MODULES[nn.GELU] = _gelu
MODULES[nn.Softplus] = _softplus
MODULES[nn.Softmax] = _softmax(False)
MODULES[nn.LogSoftmax] = _softmax(True)
MODULES[nn.PReLU] = _prelu
MODULES[nn.Hardsigmoid] = _hardsigmoid


# ---------------------------------------------------------------------------
# Normalization, Embedding


def _batchnorm(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))
    x = call.tensor()
    if not m.track_running_stats or m.running_mean is None or m.running_var is None:
        raise call.fail("track_running_stats=False normalizes with the batch's statistics at inference; tfjs uses moving statistics")
    x = call.graph.last_axis(x, 1, call.base) if x.rank >= 3 else call.graph.layout(x, identity(2), call.base)
    momentum = 0.99 if m.momentum is None else 1.0 - float(m.momentum)
    config = {
        "axis": -1, "momentum": momentum, "epsilon": float(m.eps), "center": m.affine, "scale": m.affine,
        "beta_initializer": ZEROS, "gamma_initializer": ONES, "moving_mean_initializer": ZEROS,
        "moving_variance_initializer": ONES, "beta_regularizer": None, "gamma_regularizer": None,
        "beta_constraint": None, "gamma_constraint": None,
    }
    weights: dict[str, np.ndarray] = {}
    if m.affine:
        weights["gamma"] = _np(m.weight)
        weights["beta"] = _np(m.bias)
    weights["moving_mean"] = _np(m.running_mean)
    weights["moving_variance"] = _np(m.running_var)
    ref = call.add("", "BatchNormalization", config, [x], weights)
    return x.with_(ref=ref, nonneg=False)


def _layernorm(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, nn.LayerNorm)
    x = call.tensor()
    k = len(m.normalized_shape)
    if k >= x.rank:
        raise call.fail(f"normalizes over {k} axes of a rank-{x.rank} tensor, including the batch axis")
    tail = tuple(range(x.rank - k, x.rank))
    if not (len(x.perm) == x.rank and x.perm[-k:] == tail):
        full = x.perm + tuple(a for a in range(x.rank) if a not in x.perm)
        x = call.graph.layout(x, tuple(a for a in full if a not in tail) + tail, call.base)
    config = {
        "axis": list(range(x.rank - k, x.rank)), "epsilon": float(m.eps), "center": m.bias is not None,
        "scale": m.weight is not None, "beta_initializer": ZEROS, "gamma_initializer": ONES,
        "beta_regularizer": None, "gamma_regularizer": None,
    }
    weights: dict[str, np.ndarray] = {}
    if m.weight is not None:
        weights["gamma"] = _np(m.weight)
    if m.bias is not None:
        weights["beta"] = _np(m.bias)
    ref = call.add("", "LayerNormalization", config, [x], weights)
    return x.with_(ref=ref, nonneg=False)


def _embedding(ex: Exporter, call: Call) -> Value:
    m = call.module
    assert isinstance(m, nn.Embedding)
    x = call.tensor()
    if m.max_norm is not None:
        raise call.fail(f"max_norm={m.max_norm}: torch renormalizes rows when looked up; tfjs' Embedding does not")
    x = call.graph.layout(x, identity(x.rank), call.base)
    config = {
        "input_dim": m.num_embeddings, "output_dim": m.embedding_dim,
        "embeddings_initializer": {"class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
        "embeddings_regularizer": None, "activity_regularizer": None, "embeddings_constraint": None,
        "mask_zero": None, "input_length": None,
    }
    ref = call.add("", "Embedding", config, [x], {"embeddings": _np(m.weight)})
    return Value(ref, call.out_shape, identity(x.rank + 1))


MODULES[nn.BatchNorm1d] = MODULES[nn.BatchNorm2d] = _batchnorm
MODULES[nn.LayerNorm] = _layernorm
MODULES[nn.Embedding] = _embedding


# ---------------------------------------------------------------------------
# Recurrent: LSTM, RNN (GRU refused)


@dataclass
class _Rnn:
    """An nn.LSTM / nn.RNN call; Keras layers are added when an output is used."""

    call: Call
    module: nn.LSTM | nn.RNN
    x: Value
    lower: Value | None = None
    tops: dict[bool, Value] = field(default_factory=dict)
    is_rnn_value = True

    @property
    def dirs(self) -> int:
        return 2 if self.module.bidirectional else 1

    def output(self, sequences: bool) -> Value:
        """The top layer's output: every step (N, T, D*H) or the last state (N, D*H)."""
        if sequences in self.tops:
            return self.tops[sequences]
        m, call = self.module, self.call
        if self.lower is None:
            v = call.graph.layout(self.x, identity(3), call.base)
            for layer in range(m.num_layers - 1):
                v = self._layer(v, layer, True)
            self.lower = v
        top = self._layer(self.lower, m.num_layers - 1, sequences)
        self.tops[sequences] = top
        return top

    def _cell(self, layer: int, suffix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        m = self.module
        hidden = m.hidden_size
        lstm = isinstance(m, nn.LSTM)
        config: dict[str, Any] = {"units": hidden, "activation": "tanh"}
        if lstm:
            config["recurrent_activation"] = "sigmoid"
        else:
            config["activation"] = m.nonlinearity
        config.update({
            "use_bias": m.bias, "kernel_initializer": GLOROT, "recurrent_initializer": ORTHOGONAL,
            "bias_initializer": ZEROS,
        })
        if lstm:
            config["unit_forget_bias"] = True
        config.update({
            "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
            "bias_constraint": None, "dropout": 0, "recurrent_dropout": 0,
        })
        if lstm:
            config["implementation"] = None
        config.update({"return_state": False, "go_backwards": False, "stateful": False, "unroll": False})
        name = f"_l{layer}{suffix}"
        weights = {
            "kernel": _np(getattr(m, "weight_ih" + name)).T,
            "recurrent_kernel": _np(getattr(m, "weight_hh" + name)).T,
        }
        if m.bias:
            weights["bias"] = _np(getattr(m, "bias_ih" + name)) + _np(getattr(m, "bias_hh" + name))
        return config, weights

    def _layer(self, v: Value, layer: int, sequences: bool) -> Value:
        m, call = self.module, self.call
        cls = "LSTM" if isinstance(m, nn.LSTM) else "SimpleRNN"
        suffix = f"_{layer}" if m.num_layers > 1 else ""
        n, t = v.shape[0], v.shape[1]
        width = self.dirs * m.hidden_size
        shape = (n, t, width) if sequences else (n, width)
        if not m.bidirectional:
            config, weights = self._cell(layer, "")
            config["return_sequences"] = sequences
            ref = call.add(suffix, cls, config, [v], weights)
            return Value(ref, shape, identity(len(shape)))
        inner = "lstm" if cls == "LSTM" else "simple_rnn"
        fwd, wf = self._cell(layer, "")
        bwd, wb = self._cell(layer, "_reverse")
        fwd["return_sequences"] = sequences
        fwd.update({"name": inner, "trainable": True})
        weights = {f"forward_{inner}/{k}": a for k, a in wf.items()}
        weights.update({f"backward_{inner}/{k}": a for k, a in wb.items()})
        config = {"layer": {"class_name": cls, "config": fwd}, "merge_mode": "concat"}
        ref = call.add(suffix, "Bidirectional", config, [v], weights)
        return Value(ref, shape, identity(len(shape)))


@dataclass
class _RnnPart:
    """``out[1]`` of an RNN call (``(h_n, c_n)`` or ``h_n``), ``h_n``, or one direction of the top layer's ``h_n``."""

    rnn: _Rnn
    what: str  # "sequences" (out[0]), "state" (LSTM's (h, c)), "h", "c", "final"
    direction: int = 0
    is_rnn_value = True

    def value(self) -> Value | None:
        """The Keras tensor of this part when used as a tensor (only the sequences are one)."""
        return self.rnn.output(True) if self.what == "sequences" else None


def _rnn(ex: Exporter, call: Call) -> Any:
    m = call.module
    assert isinstance(m, (nn.LSTM, nn.RNN, nn.GRU))
    if isinstance(m, nn.GRU):
        raise call.fail(
            "torch's GRU applies the reset gate after the recurrent product, n = tanh(W_in x + b_in + r * (W_hn h + "
            "b_hn)); tfjs-layers 4.22 runs only reset_after=false, n = tanh(W_in x + b_in + W_hn (r * h)), and refuses "
            "reset_after=true ('GRUCell does not support reset_after parameter set to true'). The two differ for any "
            "W_hn that is not diagonal, and no other tfjs layer computes a recurrence, so no exact export exists: use an "
            "LSTM, or train the GRU in tfjs"
        )
    if len(call.args) > 1 and call.args[1] is not None or call.kwargs.get("hx") is not None:
        raise call.fail("an initial state (hx) is not supported: tfjs recurrent layers start from zeros")
    if not m.batch_first:
        raise call.fail("batch_first=False: the batch is axis 1 of the input; tfjs takes the batch first (use batch_first=True)")
    if isinstance(m, nn.LSTM) and m.proj_size:
        raise call.fail(f"proj_size={m.proj_size}: tfjs' LSTM has no projection")
    x = call.tensor()
    if x.rank != 3:
        raise call.fail(f"input of rank {x.rank}: an unbatched sequence is not supported (give (N, T, features))")
    return _Rnn(call, m, x)


MODULES[nn.LSTM] = MODULES[nn.RNN] = MODULES[nn.GRU] = _rnn


def rnn_getitem(call: Call, obj: Any, index: Any) -> Any:
    """``out, (h, c) = lstm(x)`` and ``h[-1]`` / ``out[:, -1]``; None when ``obj`` is not an RNN's."""
    if isinstance(obj, _Rnn):
        if index == 0:
            return _RnnPart(obj, "sequences")
        if index == 1:
            return _RnnPart(obj, "state" if isinstance(obj.module, nn.LSTM) else "h")
        raise call.fail(f"index {index!r} of an RNN's (output, state)")
    if isinstance(obj, _RnnPart):
        rnn = obj.rnn
        if obj.what == "sequences":
            last = isinstance(index, tuple) and len(index) in (2, 3) and index[0] == slice(None)
            if last and index[1] in (-1, rnn.x.shape[1] - 1) and all(i == slice(None) for i in index[2:]):
                if rnn.dirs == 2:
                    raise call.fail(
                        "out[:, -1] of a bidirectional RNN is the forward direction's last step and the backward "
                        "direction's first; tfjs' Bidirectional returns both final states instead: use "
                        "torch.cat((h_n[-2], h_n[-1]), dim=1)"
                    )
                return rnn.output(False)
            return None  # any other indexing of the sequences: the generic getitem refuses it
        if obj.what == "state":
            if index in (0, 1, -2, -1):
                return _RnnPart(rnn, "h" if index in (0, -2) else "c")
        elif obj.what in ("h", "c") and isinstance(index, int):
            total = rnn.module.num_layers * rnn.dirs
            i = index % total if -total <= index < total else None
            if i is None:
                raise call.fail(f"index {index} of h_n with {total} entries")
            if obj.what == "c":
                raise call.fail("the LSTM cell state c_n has no tfjs output (tfjs' LSTM returns h only)")
            if i // rnn.dirs != rnn.module.num_layers - 1:
                raise call.fail(f"h_n[{index}] is the final state of layer {i // rnn.dirs}; only the top layer's final state is a tfjs output")
            if rnn.dirs == 1:
                return rnn.output(False)
            return _RnnPart(rnn, "final", i % 2)
        raise call.fail(f"index {index!r} of an RNN's state")
    return None


def rnn_cat(call: Call, tensors: list[Any], dim: int) -> Value | None:
    """``torch.cat((h_n[-2], h_n[-1]), dim=1)``: a bidirectional RNN's final states, as Bidirectional gives them."""
    parts = [t for t in tensors if isinstance(t, _RnnPart)]
    if not parts:
        return None
    if (
        len(tensors) == 2 and len(parts) == 2 and parts[0].what == parts[1].what == "final"
        and parts[0].rnn is parts[1].rnn and (parts[0].direction, parts[1].direction) == (0, 1) and dim in (1, -1)
    ):
        return parts[0].rnn.output(False)
    raise call.fail("concatenates RNN states other than torch.cat((h_n[-2], h_n[-1]), dim=1) of a bidirectional RNN")


# ---------------------------------------------------------------------------
# Layers of modules made by to_module (channels-last already): exported as they were read


def tfjs_layer(ex: Exporter, call: Call) -> Value:
    """A layer of a :func:`~tfjs_codec.torch.to_module` module: its Keras class and config, current weights."""
    m = call.module
    assert m is not None
    config = getattr(m, "tfjs_config", None)
    if config is None:
        raise call.fail(f"{m.tfjs_class} layer {m.tfjs_name!r} does not carry its Keras config")
    inputs = [call.graph.layout(v, identity(v.rank), call.base) for v in call.args if isinstance(v, Value)]
    if len(inputs) != len(call.args):
        raise call.fail("takes an argument that is not a tensor computed from the input")
    config = {k: v for k, v in config.items() if k not in ("name", "trainable", "batch_input_shape", "input_shape", "dtype")}
    out = call.out_shape
    ref = call.add("", m.tfjs_class, config, inputs, m.export_tfjs())
    return Value(ref, out, identity(len(out)))


def _register_tfjs_layer() -> None:
    from .engine import tfjs_layer_class

    MODULES[tfjs_layer_class()] = tfjs_layer


_register_tfjs_layer()
