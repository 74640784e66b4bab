"""Aten handlers for shapes and indexing: views, permutes, (un)squeeze, expand, repeat, flip,
cat, split, unbind, slicing, select, embedding, ``index_select``, ``index`` and ``gather``.

Semantics are tfjs-converter 4.22's, as the project's graph interpreter runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .aten_base import Call, as_value, gather, handles, norm_dim, strided_slice, tensor
from .tf_emit import Unsupported, Value
from .tf_graph import attr_int, attr_ints, attr_type


def _dims(c: Call, x: Value, sizes: Sequence[Any]) -> list[int | Value]:
    return [s if isinstance(s, Value) else int(s) for s in sizes]


@handles("view", "_unsafe_view", "reshape")
def _view(c: Call) -> Value:
    x = tensor(c, c.args[0])
    return c.e.reshape(x, _dims(c, x, c.args[1]), c.shape)


@handles("permute")
def _permute(c: Call) -> Value:
    x = tensor(c, c.args[0])
    return c.e.transpose(x, [norm_dim(d, x.rank) for d in c.args[1]])


@handles("t", "transpose")
def _transpose(c: Call) -> Value:
    x = tensor(c, c.args[0])
    perm = list(range(x.rank))
    if x.rank >= 2:
        a, b = (norm_dim(c.args[1], x.rank), norm_dim(c.args[2], x.rank)) if len(c.args) > 2 else (0, 1)
        perm[a], perm[b] = perm[b], perm[a]
    return c.e.transpose(x, perm)


@handles("unsqueeze")
def _unsqueeze(c: Call) -> Value:
    x = tensor(c, c.args[0])
    d = norm_dim(c.args[1], x.rank + 1)
    if x.is_const and x.ref is None:
        assert x.tensor is not None
        return c.e.const(x.tensor.unsqueeze(d), name=x.name)
    return c.e.op("ExpandDims", [x, c.e.int_scalar(d)], {"T": attr_type(x.dtype), "Tdim": attr_type("int32")}, c.shape, x.dtype)


@handles("squeeze")
def _squeeze(c: Call) -> Value:
    x = tensor(c, c.args[0])
    dims = c.args[1] if len(c.args) > 1 else list(range(x.rank))
    dims = [dims] if isinstance(dims, int) else list(dims)
    dims = [norm_dim(d, x.rank) for d in dims if x.shape[norm_dim(d, x.rank)] == 1]
    if not dims:
        return x
    return c.e.op("Squeeze", [x], {"T": attr_type(x.dtype), "squeeze_dims": attr_ints(dims)}, c.shape, x.dtype)


@handles("expand")
def _expand(c: Call) -> Value:
    x = tensor(c, c.args[0])
    sizes = list(c.args[1])
    lead = len(sizes) - x.rank
    dims: list[int | Value] = []
    for i, s in enumerate(sizes):
        if isinstance(s, Value):
            dims.append(s)
        elif s == -1:
            xi = i - lead
            dims.append(x.shape[xi] if x.shape[xi] >= 0 else c.e.dim(x, xi))
        else:
            dims.append(int(s))
    if len(sizes) == x.rank and all(
        (not isinstance(d, Value) and d == x.shape[i]) or (isinstance(d, Value) and x.shape[i] < 0 and sizes[i] == -1)
        for i, d in enumerate(dims)
    ):
        return x
    shape = c.e.shape_vector(dims)
    return c.e.op("BroadcastTo", [x, shape], {"T": attr_type(x.dtype), "Tidx": attr_type("int32")}, c.shape, x.dtype)


@handles("repeat")
def _repeat(c: Call) -> Value:
    x = tensor(c, c.args[0])
    reps = [r if isinstance(r, Value) else int(r) for r in c.args[1]]
    e = c.e
    if len(reps) > x.rank:
        lead = len(reps) - x.rank
        new = [1] * lead + list(x.shape)
        x = e.reshape(x, [e.dim(x, i - lead) if d < 0 else d for i, d in enumerate(new)], new)
    return e.op("Tile", [x, e.shape_vector(reps)], {"T": attr_type(x.dtype), "Tmultiples": attr_type("int32")}, c.shape, x.dtype)


@handles("flip")
def _flip(c: Call) -> Value:
    x = tensor(c, c.args[0])
    axes = [norm_dim(d, x.rank) for d in c.args[1]]
    return c.e.op("ReverseV2", [x, c.e.int_vec(axes)], {"T": attr_type(x.dtype), "Tidx": attr_type("int32")}, x.shape, x.dtype)


@handles("cat", "concat")
def _cat(c: Call) -> Value:
    xs = [x for x in c.args[0] if not (isinstance(x, Value) and 0 in x.shape and x.rank == 1)]
    d = c.arg(1, "dim", 0)
    xs = [c.e.cast(as_value(c, x, c.dtype), c.dtype) for x in xs]
    axis = norm_dim(d, xs[0].rank)
    if len(xs) == 1:
        only: Value = xs[0]
        return only
    return c.e.op(
        "ConcatV2",
        [*xs, c.e.int_scalar(axis)],
        {"T": attr_type(c.dtype), "N": attr_int(len(xs)), "Tidx": attr_type("int32")},
        c.shape,
        c.dtype,
    )


@handles("split_with_sizes", "split")
def _split(c: Call) -> list[Value]:
    x = tensor(c, c.args[0])
    sizes = c.args[1]
    axis = norm_dim(c.arg(2, "dim", 0), x.rank)
    n = x.shape[axis]
    if isinstance(sizes, int):
        sizes = [min(sizes, n - i) for i in range(0, n, sizes)]
    shapes = [[*x.shape[:axis], s, *x.shape[axis + 1 :]] for s in sizes]
    return c.e.multi(
        "SplitV",
        [x, c.e.int_vec(sizes), c.e.int_scalar(axis)],
        {"T": attr_type(x.dtype), "Tlen": attr_type("int32"), "num_split": attr_int(len(sizes))},
        shapes,
        [x.dtype] * len(sizes),
    )


@handles("unbind")
def _unbind(c: Call) -> list[Value]:
    x = tensor(c, c.args[0])
    axis = norm_dim(c.arg(1, "dim", 0), x.rank)
    n = x.shape[axis]
    shape = [*x.shape[:axis], *x.shape[axis + 1 :]]
    return c.e.multi(
        "Unpack", [x], {"T": attr_type(x.dtype), "num": attr_int(n), "axis": attr_int(axis)}, [shape] * n, [x.dtype] * n
    )


_BIG = 2**62


@handles("slice")
def _slice(c: Call) -> Value:
    x = tensor(c, c.args[0])
    axis = norm_dim(c.arg(1, "dim", 0), x.rank)
    start, end, step = c.arg(2, "start", None), c.arg(3, "end", None), c.arg(4, "step", 1)
    n = x.shape[axis]
    if isinstance(start, Value) or isinstance(end, Value):
        raise Unsupported("slice bounds computed from the input's size")
    start = 0 if start is None else start
    end = _BIG if end is None else end
    if n < 0:
        if start == 0 and end >= _BIG // 2 and step == 1:
            return x
        if start < 0 or end < 0:
            raise Unsupported("a slice of the batch dimension with negative bounds")
        begin_v, end_v = start, min(end, 2**31 - 1)
    else:
        begin_v, end_v = (start + n if start < 0 else start), (end + n if end < 0 else end)
        begin_v, end_v = min(max(begin_v, 0), n), min(max(end_v, 0), n)
        if begin_v == 0 and end_v == n and step == 1:
            return x
    begin, endl, strides = [0] * x.rank, [0] * x.rank, [1] * x.rank
    begin[axis], endl[axis], strides[axis] = begin_v, end_v, step
    mask = ((1 << x.rank) - 1) & ~(1 << axis)
    return strided_slice(c, x, begin, endl, strides, begin_mask=mask, end_mask=mask, shape=c.shape)


@handles("select")
def _select(c: Call) -> Value:
    x = tensor(c, c.args[0])
    axis = norm_dim(c.args[1], x.rank)
    i = c.args[2]
    if isinstance(i, Value):
        raise Unsupported("select at an index computed from the input")
    n = x.shape[axis]
    if i < 0:
        if n < 0:
            raise Unsupported("select with a negative index on the batch dimension")
        i += n
    begin, end, strides = [0] * x.rank, [0] * x.rank, [1] * x.rank
    begin[axis], end[axis] = i, i + 1
    mask = ((1 << x.rank) - 1) & ~(1 << axis)
    return strided_slice(c, x, begin, end, strides, begin_mask=mask, end_mask=mask, shrink=1 << axis, shape=c.shape)


@handles("embedding")
def _embedding(c: Call) -> Value:
    w, ids = c.args[0], c.args[1]
    return gather(c, tensor(c, w), tensor(c, ids), 0)


@handles("index_select")
def _index_select(c: Call) -> Value:
    x = tensor(c, c.args[0])
    return gather(c, x, tensor(c, c.args[2]), norm_dim(c.args[1], x.rank))


@handles("index")
def _index(c: Call) -> Value:
    x = tensor(c, c.args[0])
    idxs = list(c.args[1])
    used = [i for i, v in enumerate(idxs) if v is not None]
    if any(isinstance(idxs[i], Value) and idxs[i].dtype == "bool" for i in used):
        raise Unsupported("boolean-mask indexing (its output size depends on the data)")
    if len(used) == 1:
        i = used[0]
        return gather(c, x, tensor(c, idxs[i]), i)
    if used != list(range(used[0], used[0] + len(used))):
        raise Unsupported("indexing with tensors on dimensions that are not adjacent")
    # outer-product indices (each varying along its own dim of the broadcast shape): one gather per dim
    consts = [idxs[i].tensor if isinstance(idxs[i], Value) else None for i in used]
    if any(t is None for t in consts):
        raise Unsupported("indexing several dimensions with tensors computed from the input")
    tensors = [t for t in consts if t is not None]
    shape = torch.broadcast_shapes(*[t.shape for t in tensors])  # type: ignore[no-untyped-call]
    if len(shape) != len(tensors):
        raise Unsupported("indexing several dimensions with index tensors that are not an outer product")
    lines = []
    for k, t in enumerate(tensors):
        full = t.expand(shape)
        line = full.movedim(k, 0).reshape(shape[k], -1)[:, 0]
        expect = line.reshape([-1 if j == k else 1 for j in range(len(shape))]).expand(shape)
        if not torch.equal(expect, full):
            raise Unsupported("indexing several dimensions with index tensors that are not an outer product")
        lines.append(line)
    y = x
    for k, line in enumerate(lines):
        y = gather(c, y, line, used[0] + k)
    return y


@handles("gather")
def _torch_gather(c: Call) -> Value:
    x, dim, idx = tensor(c, c.args[0]), c.args[1], tensor(c, c.args[2])
    axis = norm_dim(dim, x.rank)
    e = c.e
    if x.rank != idx.rank:
        raise Unsupported("gather with an index of another rank")
    for i in range(x.rank):
        if i != axis and idx.shape[i] != x.shape[i]:
            if idx.shape[i] < 0 or x.shape[i] < 0:
                raise Unsupported("gather with an index smaller than the input on the batch dimension")
            end = [0] * x.rank
            end[i] = idx.shape[i]
            mask = ((1 << x.rank) - 1) & ~(1 << i)
            x = strided_slice(
                c,
                x,
                [0] * x.rank,
                end,
                [1] * x.rank,
                begin_mask=mask,
                end_mask=mask,
                shape=[idx.shape[i] if j == i else d for j, d in enumerate(x.shape)],
            )
    perm = list(range(x.rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    xt, it = e.transpose(x, perm), e.cast(e.transpose(idx, perm), "int32")
    r = x.rank - 1
    y = e.op(
        "GatherV2",
        [xt, it, e.int_scalar(r)],
        {"Tparams": attr_type(x.dtype), "Tindices": attr_type("int32"), "Taxis": attr_type("int32"), "batch_dims": attr_int(r)},
        list(it.shape),
        x.dtype,
    )
    return e.transpose(y, perm)
