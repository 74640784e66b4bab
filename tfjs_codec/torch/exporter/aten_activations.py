"""Aten handlers for activations: GELU, SiLU, hard sigmoid / swish, softplus, Mish, ELU / SELU,
leaky ReLU, PReLU, softmax and log-softmax.

Semantics are tfjs-converter 4.22's, as the project's graph interpreter runs them.
"""

from __future__ import annotations

import math

from .aten_base import HANDLERS, Call, Handler, handles, norm_dim, tensor
from .tf_emit import Unsupported, Value
from .tf_graph import attr_float, attr_type


@handles("gelu")
def _gelu(c: Call) -> Value:
    x = tensor(c, c.args[0])
    e = c.e
    if c.kwargs.get("approximate", c.args[1] if len(c.args) > 1 else "none") == "tanh":
        cube = e.binary("Mul", e.unary("Square", x), x, x.shape)
        inner = e.binary("AddV2", x, e.binary("Mul", cube, e.const(0.044715, "float32"), x.shape), x.shape)
        t = e.unary("Tanh", e.binary("Mul", inner, e.const(math.sqrt(2.0 / math.pi), "float32"), x.shape))
    else:
        t = e.unary("Erf", e.binary("Mul", x, e.const(1.0 / math.sqrt(2.0), "float32"), x.shape))
    half = e.binary("Mul", x, e.const(0.5, "float32"), x.shape)
    return e.binary("Mul", half, e.binary("AddV2", t, e.const(1.0, "float32"), x.shape), x.shape)


@handles("silu")
def _silu(c: Call) -> Value:
    x = tensor(c, c.args[0])
    return c.e.binary("Mul", x, c.e.unary("Sigmoid", x), x.shape)


@handles("hardsigmoid")
def _hardsigmoid(c: Call) -> Value:
    x = tensor(c, c.args[0])
    r = c.e.unary("Relu6", c.e.binary("AddV2", x, c.e.const(3.0, "float32"), x.shape))
    return c.e.binary("Mul", r, c.e.const(1.0 / 6.0, "float32"), x.shape)


@handles("hardswish")
def _hardswish(c: Call) -> Value:
    x = tensor(c, c.args[0])
    r = c.e.unary("Relu6", c.e.binary("AddV2", x, c.e.const(3.0, "float32"), x.shape))
    return c.e.binary("Mul", c.e.binary("Mul", x, r, x.shape), c.e.const(1.0 / 6.0, "float32"), x.shape)


def _softplus_v(c: Call, x: Value, beta: float = 1.0) -> Value:
    if beta == 1:
        return c.e.unary("Softplus", x)
    s = c.e.unary("Softplus", c.e.binary("Mul", x, c.e.const(beta, "float32"), x.shape))
    return c.e.binary("Mul", s, c.e.const(1.0 / beta, "float32"), x.shape)


@handles("softplus")
def _softplus(c: Call) -> Value:
    return _softplus_v(c, tensor(c, c.args[0]), float(c.arg(1, "beta", 1.0)))


@handles("mish")
def _mish(c: Call) -> Value:
    x = tensor(c, c.args[0])
    return c.e.binary("Mul", x, c.e.unary("Tanh", _softplus_v(c, x)), x.shape)


@handles("elu")
def _elu(c: Call) -> Value:
    x = tensor(c, c.args[0])
    alpha, scale, in_scale = float(c.arg(1, "alpha", 1.0)), float(c.arg(2, "scale", 1.0)), float(c.arg(3, "input_scale", 1.0))
    if in_scale == 1 and abs(alpha - 1.6732632423543772) < 1e-6 and abs(scale - 1.0507009873554805) < 1e-6:
        return c.e.unary("Selu", x)
    if in_scale != 1:
        raise Unsupported(f"elu with input_scale {in_scale}")
    y = c.e.unary("Elu", x)
    if alpha != 1:  # elu_alpha(x) = x > 0 ? x : alpha * elu(x)
        neg = c.e.binary("Mul", y, c.e.const(alpha, "float32"), x.shape)
        y = c.e.op(
            "SelectV2",
            [c.e.op("Greater", [x, c.e.const(0.0, "float32")], {"T": attr_type("float32")}, x.shape, "bool"), y, neg],
            {"T": attr_type("float32")},
            x.shape,
            "float32",
        )
    if scale != 1:
        y = c.e.binary("Mul", y, c.e.const(scale, "float32"), x.shape)
    return y


@handles("leaky_relu")
def _leaky(c: Call) -> Value:
    x = tensor(c, c.args[0])
    return c.e.unary("LeakyRelu", x, {"alpha": attr_float(float(c.arg(1, "negative_slope", 0.01)))})


@handles("prelu", "_prelu_kernel")
def _prelu(c: Call) -> Value:
    x, w = tensor(c, c.args[0]), c.args[1]
    wt = w.tensor if isinstance(w, Value) else None
    if wt is None:
        raise Unsupported("prelu weight computed from the inputs")
    if wt.numel() > 1 and x.rank > 2:
        alpha = c.e.const(wt.reshape([-1] + [1] * (x.rank - 2)), "float32", name=w.name)
    else:
        alpha = c.e.const(wt.reshape(-1) if wt.numel() > 1 else wt.reshape(()), "float32", name=w.name)
    return c.e.op("Prelu", [x, alpha], {"T": attr_type("float32")}, x.shape, "float32")


def _softmax_like(op: str) -> Handler:
    def fn(c: Call) -> Value:
        x = c.e.cast(tensor(c, c.args[0]), "float32")
        d = norm_dim(c.args[1], x.rank)
        if d == x.rank - 1:
            return c.e.unary(op, x)
        perm = list(range(x.rank))
        perm[d], perm[-1] = perm[-1], perm[d]
        return c.e.transpose(c.e.unary(op, c.e.transpose(x, perm)), perm)

    return fn


HANDLERS["aten._softmax"] = _softmax_like("Softmax")
HANDLERS["aten._log_softmax"] = _softmax_like("LogSoftmax")
HANDLERS["aten.softmax"] = _softmax_like("Softmax")
HANDLERS["aten.log_softmax"] = _softmax_like("LogSoftmax")
