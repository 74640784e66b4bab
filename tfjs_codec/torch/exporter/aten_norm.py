"""Aten handlers for normalization: batch norm (running statistics folded to a scale and an
offset, or batch statistics), layer norm and group norm.

Semantics are tfjs-converter 4.22's, as the project's graph interpreter runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .aten_base import Call, const_tensor, handles, target_key, tensor
from .tf_emit import Emitter, Value
from .tf_graph import attr_type


def _channel_const(e: Emitter, t: torch.Tensor, rank: int, name: str) -> Value:
    """A per-channel vector (dim 1 of a rank-``rank`` tensor) shaped to broadcast: [C, 1, 1]."""
    t = t.detach().to(torch.float32)
    return e.const(t.reshape([-1] + [1] * (rank - 2)) if rank > 2 else t.reshape(-1), "float32", name=name)


@handles("_native_batch_norm_legit_no_training", "_native_batch_norm_legit", "native_batch_norm")
def _batch_norm(c: Call) -> list[Any]:
    x = c.e.cast(tensor(c, c.args[0]), "float32")
    key = target_key(c.node.target)
    overload = c.node.target._overloadname
    if key == "aten._native_batch_norm_legit" and overload == "no_stats":
        w, b = c.args[1], c.args[2]
        eps = float(c.args[5])
        axes = [0] + list(range(2, x.rank))
        return [_normalize(c, x, axes, eps, w, b, per_channel=True), None, None]
    if key == "aten._native_batch_norm_legit_no_training":
        w, b, mean, var, eps = c.args[1], c.args[2], c.args[3], c.args[4], c.args[6]
    else:
        w, b, mean, var, eps = c.args[1], c.args[2], c.args[3], c.args[4], c.args[7]
        if c.args[5]:  # batch statistics (no running statistics tracked)
            axes = [0] + list(range(2, x.rank))
            return [_normalize(c, x, axes, float(eps), w, b, per_channel=True), None, None]
    m = const_tensor(mean, "running_mean").to(torch.float64)
    v = const_tensor(var, "running_var").to(torch.float64)
    scale = 1.0 / torch.sqrt(v + float(eps))
    if w is not None:
        scale = scale * const_tensor(w, "batch norm weight").to(torch.float64)
    shift = -m * scale
    if b is not None:
        shift = shift + const_tensor(b, "batch norm bias").to(torch.float64)
    e = c.e
    y = e.binary("Mul", x, _channel_const(e, scale, x.rank, e._name("scale")), x.shape)
    y = e.binary("AddV2", y, _channel_const(e, shift, x.rank, e._name("offset")), x.shape)
    return [y, None, None]


def _normalize(
    c: Call,
    x: Value,
    axes: list[int],
    eps: float,
    w: Any,
    b: Any,
    *,
    per_channel: bool,
    affine_shape: Sequence[int] | None = None,
) -> Value:
    """(x - mean) * rsqrt(var + eps) over ``axes`` (biased variance), then * w + b."""
    e = c.e
    kshape = [1 if i in axes else d for i, d in enumerate(x.shape)]
    mean = e.reduce("Mean", x, axes, True, kshape)
    var = e.reduce("Mean", e.binary("SquaredDifference", x, mean, x.shape), axes, True, kshape)
    inv = e.unary("Rsqrt", e.binary("AddV2", var, e.const(float(eps), "float32"), kshape))
    y = e.binary("Mul", e.binary("Sub", x, mean, x.shape), inv, x.shape)
    for v, op in ((w, "Mul"), (b, "AddV2")):
        if v is None:
            continue
        if isinstance(v, Value) and v.tensor is not None:
            t = v.tensor.to(torch.float32)
            cv = _channel_const(e, t, x.rank, v.name or e._name("affine")) if per_channel else e.const(t, "float32", name=v.name)
        else:
            cv = tensor(c, v)
            if per_channel and x.rank > 2 and cv.rank == 1:
                cv = e.op(
                    "Reshape",
                    [cv, e.int_vec([-1] + [1] * (x.rank - 2))],
                    {"T": attr_type(cv.dtype), "Tshape": attr_type("int32")},
                    [cv.shape[0]] + [1] * (x.rank - 2),
                    cv.dtype,
                )
        y = e.binary(op, y, cv, x.shape)
    return y


@handles("native_layer_norm")
def _layer_norm(c: Call) -> list[Any]:
    x = c.e.cast(tensor(c, c.args[0]), "float32")
    n = len(c.args[1])
    axes = list(range(x.rank - n, x.rank))
    return [_normalize(c, x, axes, float(c.args[4]), c.args[2], c.args[3], per_channel=False), None, None]


@handles("native_group_norm")
def _group_norm(c: Call) -> list[Any]:
    x = c.e.cast(tensor(c, c.args[0]), "float32")
    w, b, groups, eps = c.args[1], c.args[2], int(c.args[6]), float(c.args[7])
    e = c.e
    ch = x.shape[1]
    rest = int(np.prod(x.shape[2:])) if x.rank > 2 else 1
    g = e.reshape(
        x,
        [e.dim(x, 0) if x.shape[0] < 0 else x.shape[0], groups, (ch // groups) * rest],
        [x.shape[0], groups, (ch // groups) * rest],
    )
    y = _normalize(c, g, [2], eps, None, None, per_channel=False)
    y = e.reshape(y, [e.dim(x, 0) if x.shape[0] < 0 else x.shape[0], *x.shape[1:]], x.shape)
    for v, op in ((w, "Mul"), (b, "AddV2")):
        if v is not None:
            y = e.binary(op, y, _channel_const(e, const_tensor(v, "group norm affine"), x.rank, v.name), x.shape)
    return [y, None, None]
