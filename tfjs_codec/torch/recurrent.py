"""Recurrent layers: LSTM, GRU (both reset variants) and SimpleRNN with the Keras equations.

Layouts: ``weight_ih`` = kernel.T, ``weight_hh`` = recurrent_kernel.T, ``bias`` as stored,
Keras gate order. Recurrent cells follow Keras (``x`` the step input, ``h`` the state,
``ra`` the recurrent activation, ``act`` the activation; kernels split per gate):

- LSTM: ``i, f, c~, o = x K + h R + b`` (gate order i, f, c, o);
  ``c = ra(f) c + ra(i) act(c~)``, ``h = ra(o) act(c)``.
- GRU ``reset_after=True`` (Keras 2 default; bias (2, 3u) = input, recurrent):
  ``z = ra(xK_z + b_z + hR_z + b'_z)``, ``r`` likewise,
  ``h~ = act(xK_h + b_h + r * (hR_h + b'_h))``, ``h = z h + (1 - z) h~``.
- GRU ``reset_after=False`` (the only variant tfjs-layers runs; bias (3u,)):
  ``h~ = act(xK_h + b_h + (r * h) R_h)``.
- SimpleRNN: ``h = act(x K + b + h R)``.

A mask (from ``Masking`` or ``Embedding(mask_zero)``, see :mod:`~tfjs_codec.torch.masks`)
makes masked steps keep the previous output and states, as tfjs' ``rnn()`` does.

Wrappers hold other layers (:class:`Wrapper`): ``RNN`` over a cell (:class:`CellRNN`) or a
list of cells / ``StackedRNNCells`` (:class:`StackedRecurrent`), ``Bidirectional`` and
``TimeDistributed``; the wrapped layers' weights keep the names tfjs or Keras give them below
the wrapper's (``forward_lstm_LSTM1/kernel``, ``RNNCell_0/kernel``,
``forward_lstm/lstm_cell/kernel``). ``ConvLSTM2D`` is the LSTM with convolutions.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TfjsFormatError
from .masks import attach_mask, mask_of, passes_mask
from .registry import (
    ActivationFn,
    BuildContext,
    Builder,
    TfjsLayer,
    attach_export,
    build_layer,
    maybe_param,
    param,
    register,
    same_pads,
    to_numpy,
)

__all__ = ["Bidirectional", "CellRNN", "ConvLSTM2D", "Recurrent", "StackedRecurrent", "TimeDistributed", "Wrapper"]


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
        self.weight_ih = param(kernel.T)
        self.weight_hh = param(recurrent.T)
        self.bias = maybe_param(bias)
        self.tfjs_vars = ("kernel", "recurrent_kernel") + (("bias",) if bias is not None else ())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.dropout:
            raise RuntimeError(
                f"layer {self.tfjs_name!r} ({self.tfjs_class}): dropout/recurrent_dropout are not implemented in "
                "training mode by tfjs_codec.torch"
            )
        mask = mask_of(x)
        keep = None if mask is None else mask.to(x.dtype)
        if self.go_backwards:
            x = x.flip(1)
            keep = None if keep is None else keep.flip(1)
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
            h_prev, c_prev = h, c
            if self.kind == "lstm":
                z = xt + F.linear(h, self.weight_hh)
                i, f, g, o = torch.split(z, u, dim=-1)
                c = self.rec_act(f) * c + self.rec_act(i) * self.act(g)
                h = self.rec_act(o) * self.act(c)
            elif self.kind == "gru_after":
                xz, xr, xh = torch.split(xt, u, dim=-1)
                hz, hr, hh = torch.split(F.linear(h, self.weight_hh, bias_rec), u, dim=-1)
                z, r = self.rec_act(xz + hz), self.rec_act(xr + hr)
                h = z * h + (1 - z) * self.act(xh + r * hh)
            elif self.kind == "gru_before":
                xz, xr, xh = torch.split(xt, u, dim=-1)
                hz, hr = torch.split(F.linear(h, self.weight_hh[: 2 * u]), u, dim=-1)
                z, r = self.rec_act(xz + hz), self.rec_act(xr + hr)
                h = z * h + (1 - z) * self.act(xh + F.linear(r * h, self.weight_hh[2 * u :]))
            else:
                h = self.act(xt + F.linear(h, self.weight_hh))
            if keep is not None:  # a masked step keeps the previous output and states (tfjs' rnn())
                m = keep[:, t].unsqueeze(-1)
                h = h * m + h_prev * (1 - m)
                c = c * m + c_prev * (1 - m)
            outs.append(h)
        if self.return_sequences:
            y = torch.stack(outs, dim=1)
            return y if mask is None else attach_mask(y, mask)
        return h

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {"kernel": to_numpy(self.weight_ih).T, "recurrent_kernel": to_numpy(self.weight_hh).T}
        if self.bias is not None:
            out["bias"] = to_numpy(self.bias)
        return out


def _recurrent(kind: str) -> Builder:
    def build(c: BuildContext) -> TfjsLayer:
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


register("LSTM")(_recurrent("lstm"))
register("GRU")(_recurrent("gru"))
register("SimpleRNN")(_recurrent("simple"))


# ---------------------------------------------------------------------------
# Wrapped layers: RNN(cell), StackedRNNCells, Bidirectional, TimeDistributed


class _Scope:
    """The weight getter of a wrapped layer: ``var`` looked up under the first prefix that has it.

    tfjs names a wrapped layer's weights ``wrapper/forward_lstm_LSTM1/kernel``,
    ``rnn/RNNCell_0/kernel``; Keras ``wrapper/forward_lstm/lstm_cell/kernel``,
    ``rnn/lstm_cell/kernel``. ``used`` records the relative name each var was found under.
    """

    def __init__(self, c: BuildContext, prefixes: list[str]) -> None:
        self.c, self.prefixes = c, prefixes
        self.used: dict[str, str] = {}

    def __call__(self, var: str) -> np.ndarray | None:
        for prefix in self.prefixes:
            key = f"{prefix}/{var}" if prefix else var
            array = self.c._get(key)
            if array is not None:
                self.used[var] = key
                return array
        return None


_CELL_SCOPES = ("lstm_cell", "gru_cell", "simple_rnn_cell")


class Wrapper(TfjsLayer):
    """A layer holding other layers (``inner``), each with its weights under its own relative names."""

    def __init__(self, name: str, cls: str, inner: list[TfjsLayer], scopes: list[_Scope]) -> None:
        super().__init__(name, cls)
        self.inner = nn.ModuleList(inner)
        self._names = [dict(s.used) for s in scopes]
        self.tfjs_vars = tuple(names[v] for layer, names in zip(inner, self._names, strict=True) for v in layer.tfjs_vars)

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for layer, names in zip(self.inner, self._names, strict=True):
            for var, array in cast(TfjsLayer, layer).export_tfjs().items():
                out[names[var]] = array
        return out


def _inner(c: BuildContext, key: str) -> tuple[str, str, dict[str, Any]]:
    """(name, class, config) of the layer or cell a wrapper's config holds under ``key``."""
    spec = c.opt(key)
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise c.fail(key, f"= {spec!r} is not a {{class_name, config}} layer spec")
    config = dict(spec.get("config") or {})
    return str(config.get("name") or spec["class_name"]), spec["class_name"], config


def _build_inner(c: BuildContext, cls: str, config: dict[str, Any], prefixes: list[str]) -> tuple[TfjsLayer, _Scope]:
    scope = _Scope(c, prefixes)
    layer = build_layer(f"{c.name}/{config.get('name', cls)}", cls, config, scope, file=c.file)
    return layer, scope


@passes_mask
class TimeDistributed(Wrapper):
    """TimeDistributed: the wrapped layer applied to every step (axis 1) of the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], x.shape[1]
        y: torch.Tensor = self.inner[0](x.reshape((b * t,) + tuple(x.shape[2:])))
        return y.reshape((b, t) + tuple(y.shape[1:]))


@register("TimeDistributed")
def _time_distributed(c: BuildContext) -> TfjsLayer:
    _, cls, config = _inner(c, "layer")
    layer, scope = _build_inner(c, cls, config, ["", config.get("name", "")])
    return TimeDistributed(c.name, c.cls, [layer], [scope])


class Bidirectional(Wrapper):
    """Bidirectional: the layer forwards and a copy backwards (``go_backwards`` flipped), the backward
    sequence reversed back when sequences are returned, merged by ``merge_mode`` (``concat``, ``sum``,
    ``ave``, ``mul``, or None: both outputs)."""

    def __init__(self, name: str, cls: str, inner: list[TfjsLayer], scopes: list[_Scope], *, merge: str | None,
                 return_sequences: bool) -> None:
        super().__init__(name, cls, inner, scopes)
        self.merge, self.return_sequences = merge, return_sequences

    def forward(self, x: torch.Tensor) -> Any:
        y, y_rev = self.inner[0](x), self.inner[1](x)
        if self.return_sequences:
            y_rev = y_rev.flip(1)
        if self.merge == "concat":
            out = torch.cat([y, y_rev], dim=-1)
        elif self.merge == "sum":
            out = y + y_rev
        elif self.merge == "ave":
            out = 0.5 * (y + y_rev)
        elif self.merge == "mul":
            out = y * y_rev
        else:
            return y, y_rev
        mask = mask_of(x)
        return out if mask is None or not self.return_sequences else attach_mask(out, mask)


@register("Bidirectional")
def _bidirectional(c: BuildContext) -> TfjsLayer:
    name, cls, config = _inner(c, "layer")
    merge = c.only("merge_mode", ("concat", "sum", "ave", "mul", None), "concat")
    for key in ("return_state", "stateful"):
        if config.get(key):
            raise c.fail(key, "= True (of the wrapped layer) is not supported by tfjs_codec.torch")
    layers, scopes = [], []
    for direction, backwards in (("forward", bool(config.get("go_backwards"))), ("backward", not config.get("go_backwards"))):
        prefix = f"{direction}_{name}"
        layer, scope = _build_inner(c, cls, {**config, "go_backwards": backwards},
                                    [prefix] + [f"{prefix}/{cell}" for cell in _CELL_SCOPES])
        layers.append(layer)
        scopes.append(scope)
    return Bidirectional(c.name, c.cls, layers, scopes, merge=merge, return_sequences=bool(config.get("return_sequences")))


class StackedRecurrent(Wrapper):
    """RNN over StackedRNNCells: the cells run one after the other over the sequence (the same
    values as stepping them together), the first one in the sequence's direction."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if mask_of(x) is not None:
            raise RuntimeError(
                f"layer {self.tfjs_name!r} ({self.tfjs_class}): masked inputs to stacked RNN cells are not supported "
                "by tfjs_codec.torch"
            )
        for layer in self.inner:
            x = layer(x)
        return x


_CELLS = {"LSTMCell": "lstm", "GRUCell": "gru", "SimpleRNNCell": "simple"}


def _cell_list(c: BuildContext, spec: Any) -> list[dict[str, Any]]:
    if isinstance(spec, list):
        return spec
    if isinstance(spec, dict) and spec.get("class_name") == "StackedRNNCells":
        cells = (spec.get("config") or {}).get("cells")
        if isinstance(cells, list):
            return cells
    if isinstance(spec, dict):
        return [spec]
    raise c.fail("cell", f"= {spec!r} is not a cell, a list of cells or StackedRNNCells")


@register("RNN")
def _rnn(c: BuildContext) -> TfjsLayer:
    for key in ("return_state", "stateful", "time_major"):
        if c.opt(key):
            raise c.fail(key, "= True is not supported by tfjs_codec.torch")
    cells = _cell_list(c, c.opt("cell"))
    layers, scopes = [], []
    for i, spec in enumerate(cells):
        cls = spec.get("class_name") if isinstance(spec, dict) else None
        if cls not in _CELLS:
            raise c.fail("cell", f"holds a {cls!r} cell; tfjs_codec.torch builds LSTMCell, GRUCell and SimpleRNNCell")
        config = dict(spec.get("config") or {})
        last = i == len(cells) - 1
        config.update(
            return_sequences=bool(c.opt("return_sequences", False)) if last else True,
            go_backwards=bool(c.opt("go_backwards", False)) if i == 0 else False,
        )
        cell_name = str(config.get("name") or "")
        prefixes = ["", cell_name] if len(cells) == 1 else [f"RNNCell_{i}", cell_name, f"stacked_rnn_cells/{cell_name}"]
        scope = _Scope(c, prefixes)
        ctx = BuildContext(c.name, c.cls, config, scope, c.file)
        layers.append(_recurrent(_CELLS[cls])(ctx))
        scopes.append(scope)
    if len(layers) == 1:  # one cell: the plain recurrent layer, weights under the RNN's own name
        return CellRNN(c.name, c.cls, layers, scopes)
    return StackedRecurrent(c.name, c.cls, layers, scopes)


class CellRNN(Wrapper):
    """RNN over one LSTMCell, GRUCell or SimpleRNNCell: the matching recurrent layer inside."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.inner[0](x)
        return y


def _cell_refused(c: BuildContext) -> TfjsLayer:
    raise TfjsFormatError(
        "is an RNN cell, not a layer of a model: tfjs_codec.torch builds it inside the RNN layer that holds it "
        "(its 'cell' option)", file=c.file, field=c.where,
    )


register("LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells", "ConvLSTM2DCell")(_cell_refused)


# ---------------------------------------------------------------------------
# ConvLSTM2D


class ConvLSTM2D(TfjsLayer):
    """ConvLSTM2D (channels-last, (batch, time, H, W, C)): the LSTM equations with convolutions,
    ``x * K`` with the layer's strides, padding and dilation, ``h * R`` with ``same`` padding and
    stride 1; kernels (kh, kw, in, 4f) -> (4f, in, kh, kw), gates i, f, c, o."""

    def __init__(
        self, name: str, cls: str, *, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray | None,
        strides: tuple[int, int], dilation: tuple[int, int], padding: str, act: ActivationFn, rec_act: ActivationFn,
        return_sequences: bool, go_backwards: bool,
    ) -> None:
        super().__init__(name, cls)
        self.weight = param(np.moveaxis(kernel, [-1, -2], [0, 1]))
        self.weight_hh = param(np.moveaxis(recurrent, [-1, -2], [0, 1]))
        self.bias = maybe_param(bias)
        self.strides, self.dilation, self.padding = strides, dilation, padding
        self.act, self.rec_act = act, rec_act
        self.return_sequences, self.go_backwards = return_sequences, go_backwards
        self.tfjs_vars = ("kernel", "recurrent_kernel") + (("bias",) if bias is not None else ())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.go_backwards:
            x = x.flip(1)
        b, t = x.shape[0], x.shape[1]
        xs = x.reshape((b * t,) + tuple(x.shape[2:])).movedim(-1, 1)
        if self.padding == "same":
            xs = F.pad(xs, same_pads(xs.shape[2:], self.weight.shape[2:], self.strides, self.dilation))
        xs = F.conv2d(xs, self.weight, self.bias, self.strides, 0, self.dilation)
        xs = xs.reshape((b, t) + tuple(xs.shape[1:]))
        f = self.weight_hh.shape[1]
        h = x.new_zeros((b, f) + tuple(xs.shape[3:]))
        c = torch.zeros_like(h)
        pads = same_pads(h.shape[2:], self.weight_hh.shape[2:], (1, 1), (1, 1))
        outs = []
        for step in range(t):
            z = xs[:, step] + F.conv2d(F.pad(h, pads), self.weight_hh)
            i, fg, g, o = torch.split(z, f, dim=1)
            c = self.rec_act(fg) * c + self.rec_act(i) * self.act(g)
            h = self.rec_act(o) * self.act(c)
            outs.append(h.movedim(1, -1))
        return torch.stack(outs, dim=1) if self.return_sequences else outs[-1]

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {
            "kernel": np.moveaxis(to_numpy(self.weight), [0, 1], [-1, -2]),
            "recurrent_kernel": np.moveaxis(to_numpy(self.weight_hh), [0, 1], [-1, -2]),
        }
        if self.bias is not None:
            out["bias"] = to_numpy(self.bias)
        return out


@register("ConvLSTM2D")
def _conv_lstm2d(c: BuildContext) -> TfjsLayer:
    c.channels_last()
    for key in ("return_state", "stateful"):
        if c.opt(key):
            raise c.fail(key, "= True is not supported by tfjs_codec.torch")
    if c.opt("dropout") or c.opt("recurrent_dropout"):
        raise c.fail("dropout", "/ recurrent_dropout > 0 is not supported by tfjs_codec.torch")
    sh, sw = c.ints("strides", 2)
    dh, dw = c.ints("dilation_rate", 2)
    strides, dilation = (sh, sw), (dh, dw)
    return ConvLSTM2D(
        c.name, c.cls, kernel=c.weight("kernel"), recurrent=c.weight("recurrent_kernel"),
        bias=c.maybe("bias", c.opt("use_bias", True)), strides=strides, dilation=dilation,
        padding=c.only("padding", ("valid", "same"), "valid"), act=c.activation("activation", "tanh"),
        rec_act=c.activation("recurrent_activation", "hard_sigmoid"),
        return_sequences=bool(c.opt("return_sequences", False)), go_backwards=bool(c.opt("go_backwards", False)),
    )


# ---------------------------------------------------------------------------
# Export halves (torch module call -> Keras layers): see tfjs_codec.torch.exporter


@attach_export("LSTM", nn.LSTM)
@attach_export("SimpleRNN", nn.RNN)
@attach_export("GRU", nn.GRU)
def _export_rnn(ex: Any, call: Any) -> Any:
    """LSTM / RNN (batch_first, stacked, bidirectional -> Bidirectional); GRU is refused (reset gate placement)."""
    from .exporter.rnn import rnn_call

    return rnn_call(call)
