"""Recurrent layers in the export: ``nn.LSTM`` / ``nn.RNN`` calls and the parts of their outputs.

A call ``out, (h, c) = lstm(x)`` gives a lazy :class:`_Rnn`; Keras layers are
added only for the parts used: ``out`` (every step: the top layer with
``return_sequences``), ``h[-1]`` or ``out[:, -1]`` (the last state), and for a
bidirectional RNN ``torch.cat((h[-2], h[-1]), dim=1)`` (``Bidirectional`` with
``return_sequences`` false). Layers below the top one return sequences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .calls import Call
from .graph import GLOROT, ORTHOGONAL, ZEROS, Value, identity

__all__ = ["rnn_call", "rnn_cat", "rnn_getitem"]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy()


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


def rnn_call(call: Call) -> Any:
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
            step = isinstance(index, tuple) and len(index) in (2, 3) and index[0] == slice(None)
            steps = rnn.x.shape[1]
            if step and isinstance(index[1], int) and -steps <= index[1] < steps and all(
                i == slice(None) for i in index[2:]
            ):
                t = index[1] % steps
                if t == steps - 1 and rnn.dirs == 1:
                    return rnn.output(False)
                return _sequence_step(call, rnn.output(True), t)
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
                raise call.fail(
                    f"h_n[{index}] is the final state of layer {i // rnn.dirs}; only the top layer's final state is a tfjs output"
                )
            if rnn.dirs == 1:
                return rnn.output(False)
            return _RnnPart(rnn, "final", i % 2)
        raise call.fail(f"index {index!r} of an RNN's state")
    return None


def _sequence_step(call: Call, seq: Value, t: int) -> Value:
    """``out[:, t]`` of (N, T, F) sequences with T fixed by the trace: Reshape to a (T, F, 1) image,
    Cropping2D to row t, Reshape to (F,). (The last step of a bidirectional RNN's sequences is the
    forward direction's last step and the backward one's first: not the final states tfjs'
    Bidirectional returns, so it is cut out of the sequences.)"""
    n, steps, width = seq.shape
    image = call.add("_steps", "Reshape", {"target_shape": [steps, width, 1]}, [seq])
    cropped = call.add("_step", "Cropping2D", {"cropping": [[t, steps - 1 - t], [0, 0]], "data_format": "channels_last"},
                       [Value(image, (n, steps, width, 1), identity(4))])
    ref = call.add("", "Reshape", {"target_shape": [width]}, [Value(cropped, (n, 1, width, 1), identity(4))])
    return Value(ref, (n, width), identity(2))


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
