"""Aten handlers for reductions and sorting: mean / sum / prod / amax / amin / any / all, variance,
vector norms, max / min (with indices), argmax / argmin, cumsum, topk and sort.

Semantics are tfjs-converter 4.22's, as the project's graph interpreter runs them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .aten_base import HANDLERS, Call, Handler, handles, norm_dim, same_dtype, target_key, tensor
from .tf_emit import Unsupported, Value
from .tf_graph import attr_bool, attr_type


def _axes(x: Value, dims: Any) -> list[int]:
    if dims is None or dims == []:
        return list(range(x.rank))
    if isinstance(dims, int):
        dims = [dims]
    return sorted(norm_dim(d, x.rank) for d in dims)


def _reduction(op: str) -> Handler:
    def fn(c: Call) -> Value:
        x = tensor(c, c.args[0])
        dims = c.arg(1, "dim", None)
        keep = bool(c.arg(2, "keepdim", False))
        if op in ("Mean",) or c.dtype == "float32":
            x = c.e.cast(x, c.dtype if op not in ("Any", "All") else "bool")
        if op in ("Sum", "Prod") and x.dtype == "bool":
            x = c.e.cast(x, "int32")
        if op in ("Any", "All"):
            x = c.e.cast(x, "bool")
            return c.e.op(
                op, [x, c.e.int_vec(_axes(x, dims))], {"Tidx": attr_type("int32"), "keep_dims": attr_bool(keep)}, c.shape, "bool"
            )
        return c.e.reduce(op, x, _axes(x, dims), keep, c.shape)

    return fn


HANDLERS["aten.mean"] = _reduction("Mean")
HANDLERS["aten.sum"] = _reduction("Sum")
HANDLERS["aten.amax"] = _reduction("Max")
HANDLERS["aten.amin"] = _reduction("Min")
HANDLERS["aten.any"] = _reduction("Any")
HANDLERS["aten.all"] = _reduction("All")


@handles("prod")
def _prod(c: Call) -> Value:
    x = tensor(c, c.args[0])
    dims = c.args[1] if len(c.args) > 1 else None
    keep = bool(c.arg(2, "keepdim", False))
    x = c.e.cast(x, c.dtype)
    return c.e.reduce("Prod", x, _axes(x, dims), keep, c.shape)


@handles("var")
def _var(c: Call) -> Value:
    return _variance(c, c.shape)[0]


def _variance(c: Call, var_shape: Sequence[int], mean_shape: Sequence[int] | None = None) -> list[Value]:
    """[var] of the call's input over its ``dim`` (torch's ``correction`` and ``keepdim``), or
    [var, mean] when ``mean_shape`` is given (``var_mean``)."""
    x = c.e.cast(tensor(c, c.args[0]), "float32")
    dims = c.arg(1, "dim", None)
    correction = c.kwargs.get("correction", 1)
    correction = 1 if correction is None else correction
    keep = bool(c.kwargs.get("keepdim", False))
    axes = _axes(x, dims)
    n = int(np.prod([x.shape[a] for a in axes]))
    e = c.e
    kshape = [1 if i in axes else d for i, d in enumerate(x.shape)]
    mean = e.reduce("Mean", x, axes, True, kshape)
    v = e.reduce("Mean", e.binary("SquaredDifference", x, mean, x.shape), axes, keep, var_shape)
    if correction:
        v = e.binary("Mul", v, e.const(n / (n - correction), "float32"), var_shape)
    if mean_shape is None:
        return [v]
    return [v, mean if keep else e.reduce("Mean", x, axes, False, mean_shape)]


@handles("argmax", "argmin")
def _argmax(c: Call) -> Value:
    x = tensor(c, c.args[0])
    dim, keep = c.arg(1, "dim", None), bool(c.arg(2, "keepdim", False))
    e = c.e
    if dim is None:
        x = e.reshape(x, [-1], [int(np.prod(x.shape))])
        dim = 0
    axis = norm_dim(dim, x.rank)
    op = "ArgMax" if target_key(c.node.target) == "aten.argmax" else "ArgMin"
    return _arg_index(c, op, x, axis, keep, c.shape)


def _arg_index(c: Call, op: str, x: Value, axis: int, keep: bool, shape: Sequence[int]) -> Value:
    """``ArgMax`` / ``ArgMin`` (int32) of ``x`` along ``axis``, kept as a dimension of size 1 with
    ``keep``; ``shape`` is the output's."""
    e = c.e
    reduced = [d for i, d in enumerate(x.shape) if i != axis]
    y = e.op(
        op,
        [x, e.int_scalar(axis)],
        {"T": attr_type(x.dtype), "Tidx": attr_type("int32"), "output_type": attr_type("int32")},
        reduced,
        "int32",
    )
    if keep:
        y = e.op("ExpandDims", [y, e.int_scalar(axis)], {"T": attr_type("int32"), "Tdim": attr_type("int32")}, shape, "int32")
    return y


@handles("cumsum")
def _cumsum(c: Call) -> Value:
    x = c.e.cast(tensor(c, c.args[0]), c.dtype)
    axis = norm_dim(c.args[1], x.rank)
    return c.e.op(
        "Cumsum",
        [x, c.e.int_scalar(axis)],
        {"T": attr_type(x.dtype), "Tidx": attr_type("int32"), "exclusive": attr_bool(False), "reverse": attr_bool(False)},
        x.shape,
        x.dtype,
    )


def _topk_last(c: Call, x: Value, k: int, axis: int, largest: bool) -> tuple[Value, Value]:
    e = c.e
    perm = list(range(x.rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    xt = e.transpose(x, perm)
    if not largest:
        xt = e.unary("Neg", xt)
    shape = [*xt.shape[:-1], k]
    vals, idx = e.multi(
        "TopKV2", [xt, e.int_scalar(k)], {"T": attr_type(x.dtype), "sorted": attr_bool(True)}, [shape, shape], [x.dtype, "int32"]
    )
    if not largest:
        vals = e.unary("Neg", vals)
    return e.transpose(vals, perm), e.transpose(idx, perm)


@handles("topk")
def _topk(c: Call) -> list[Value]:
    x = tensor(c, c.args[0])
    k = int(c.args[1])
    axis = norm_dim(c.arg(2, "dim", -1), x.rank)
    largest = bool(c.arg(3, "largest", True))
    return list(_topk_last(c, x, k, axis, largest))


@handles("sort")
def _sort(c: Call) -> list[Value]:
    x = tensor(c, c.args[0])
    axis = norm_dim(c.arg(1, "dim", -1), x.rank)
    descending = bool(c.arg(2, "descending", False))
    if x.shape[axis] < 0:
        raise Unsupported("sort along the batch dimension")
    return list(_topk_last(c, x, x.shape[axis], axis, descending))


@handles("max", "min")
def _max_min(c: Call) -> Any:
    x = tensor(c, c.args[0])
    is_max = target_key(c.node.target) == "aten.max"
    op = "Max" if is_max else "Min"
    if len(c.args) < 2 or isinstance(c.args[1], Value):
        if len(c.args) >= 2:  # max(a, b): elementwise
            a, b = same_dtype(c, x, c.args[1], c.dtype)
            return c.e.binary("Maximum" if is_max else "Minimum", a, b, c.shape)
        return c.e.reduce(op, x, list(range(x.rank)), False, c.shape)
    axis = norm_dim(c.args[1], x.rank)
    keep = bool(c.arg(2, "keepdim", False))
    vals_shape, idx_shape = c.shapes[0], c.shapes[1]
    vals = c.e.reduce(op, x, [axis], keep, vals_shape)
    return [vals, _arg_index(c, "ArgMax" if is_max else "ArgMin", x, axis, keep, idx_shape)]


@handles("var_mean")
def _var_mean(c: Call) -> list[Value]:
    return _variance(c, c.shapes[0], c.shapes[1])


@handles("linalg_vector_norm")
def _vector_norm(c: Call) -> Value:
    x = c.e.cast(tensor(c, c.args[0]), "float32")
    order = float(c.arg(1, "ord", 2))
    axes = _axes(x, c.arg(2, "dim", None))
    keep = bool(c.arg(3, "keepdim", False))
    e = c.e
    if order == 2:
        return e.unary("Sqrt", e.reduce("Sum", e.unary("Square", x), axes, keep, c.shape))
    if order == 1:
        return e.reduce("Sum", e.unary("Abs", x), axes, keep, c.shape)
    if order == math.inf:
        return e.reduce("Max", e.unary("Abs", x), axes, keep, c.shape)
    if order == -math.inf:
        return e.reduce("Min", e.unary("Abs", x), axes, keep, c.shape)
    p = e.binary("Pow", e.unary("Abs", x), e.const(order, "float32"), x.shape)
    return e.binary("Pow", e.reduce("Sum", p, axes, keep, c.shape), e.const(1.0 / order, "float32"), c.shape)
