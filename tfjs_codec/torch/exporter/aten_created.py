"""Aten handlers for tensors made in ``forward``: full, zeros / ones (and their ``_like`` and
``new_`` forms), arange and scalar_tensor. A constant shape becomes a ``Const``; a shape that
depends on the batch a ``Fill``.

Semantics are tfjs-converter 4.22's, as the project's graph interpreter runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .aten_base import Call, as_value, handles, target_key, tensor
from .tf_emit import Value
from .tf_graph import attr_type


def _fill(c: Call, like: Value | None, sizes: Sequence[Any] | None, value: Any) -> Value:
    e = c.e
    dt = c.dtype
    if all(d >= 0 for d in c.shape):
        return e.const(torch.full(c.shape, value), dt)
    if like is not None:
        shape = (
            e.op("Shape", [like], {"T": attr_type(like.dtype), "out_type": attr_type("int32")}, [like.rank], "int32").ref or ""
        )
    else:
        assert sizes is not None
        shape = e.shape_vector([s if isinstance(s, Value) else int(s) for s in sizes])
    return e.op("Fill", [shape, e.const(value, dt)], {"T": attr_type(dt), "index_type": attr_type("int32")}, c.shape, dt)


@handles("full")
def _full(c: Call) -> Value:
    return _fill(c, None, c.args[0], c.args[1])


@handles("full_like")
def _full_like(c: Call) -> Value:
    return _fill(c, tensor(c, c.args[0]), None, c.args[1])


@handles("zeros_like", "ones_like")
def _zeros_like(c: Call) -> Value:
    return _fill(c, tensor(c, c.args[0]), None, 0 if target_key(c.node.target) == "aten.zeros_like" else 1)


@handles("zeros", "ones", "new_zeros", "new_ones")
def _zeros(c: Call) -> Value:
    key = target_key(c.node.target)
    sizes = c.args[1] if key.startswith("aten.new_") else c.args[0]
    return _fill(c, None, sizes, 1 if key.endswith("ones") else 0)


@handles("arange")
def _arange(c: Call) -> Value:
    args = list(c.args)
    start, end, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], args[2] if len(args) > 2 else 1)
    e = c.e
    dt = c.dtype
    vs = [e.cast(as_value(c, v, dt), dt) for v in (start, end, step)]
    return e.op("Range", vs, {"Tidx": attr_type(dt)}, c.shape, dt)


@handles("scalar_tensor")
def _scalar_tensor(c: Call) -> Value:
    v = c.args[0]
    if isinstance(v, Value):
        return c.e.cast(v, c.dtype)
    return c.e.const(v, c.dtype)
