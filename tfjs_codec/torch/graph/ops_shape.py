"""Shape, slicing, joining, gathering and creation ops.

Semantics of tfjs-converter 4.22 (``transformation_executor``,
``slice_join_executor``, ``creation_executor``, ``graph_executor``), which
follow TensorFlow's: ``StridedSlice`` with every mask (begin, end, ellipsis,
new axis, shrink axis; negative strides), ``GatherV2`` with ``batch_dims``,
``MirrorPad`` REFLECT / SYMMETRIC, ``Range`` accumulated in float32 as tfjs
does, shape-producing ops returning int32 (tfjs has no int64).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .registry import Node, register, validator
from .values import ints, norm_axis, scalar, scalar_int


def _device(x: Any) -> torch.device | None:
    return x.device if isinstance(x, torch.Tensor) else None


# --------------------------------------------------------------------------
# pass-through


@register("Identity", "Snapshot", "EnsureShape", "PlaceholderWithDefault")
def _identity(node: Node, x: Any, *_: Any) -> Any:
    return x


@register("IdentityN")
def _identity_n(node: Node, *xs: Any) -> tuple[Any, ...]:
    return tuple(xs)


@register("StopGradient")
def _stop_gradient(node: Node, x: torch.Tensor) -> torch.Tensor:
    return x.detach()


# --------------------------------------------------------------------------
# shapes


@register("Reshape", static=(1,))
def _reshape(node: Node, x: torch.Tensor, shape: Any) -> torch.Tensor:
    return x.reshape(ints(shape))


@register("Squeeze")
def _squeeze(node: Node, x: torch.Tensor) -> torch.Tensor:
    dims = node.attr("squeeze_dims", None)
    if dims is None:
        dims = node.attr("axis", [])
    if not dims:
        return x.reshape([d for d in x.shape if d != 1])
    axes = {norm_axis(a, x.dim()) for a in dims}
    return x.reshape([d for i, d in enumerate(x.shape) if i not in axes])


@register("ExpandDims", static=(1,))
def _expand_dims(node: Node, x: torch.Tensor, axis: Any) -> torch.Tensor:
    return x.unsqueeze(norm_axis(scalar_int(axis), x.dim() + 1))


@register("Transpose", static=(1,))
def _transpose(node: Node, x: torch.Tensor, perm: Any) -> torch.Tensor:
    return x.permute(ints(perm))


@register("Shape")
def _shape(node: Node, x: Any) -> torch.Tensor:
    return torch.tensor(list(x.shape), dtype=torch.int32, device=_device(x))


@register("ShapeN")
def _shape_n(node: Node, *xs: Any) -> tuple[torch.Tensor, ...]:
    return tuple(torch.tensor(list(x.shape), dtype=torch.int32, device=_device(x)) for x in xs)


@register("Size")
def _size(node: Node, x: Any) -> torch.Tensor:
    return torch.tensor(int(np.prod(list(x.shape))), dtype=torch.int32, device=_device(x))


@register("Rank")
def _rank(node: Node, x: Any) -> torch.Tensor:
    return torch.tensor(len(x.shape), dtype=torch.int32, device=_device(x))


@register("BroadcastTo", static=(1,))
def _broadcast_to(node: Node, x: torch.Tensor, shape: Any) -> torch.Tensor:
    return torch.broadcast_to(x, ints(shape))


@register("BroadcastArgs")
def _broadcast_args(node: Node, a: Any, b: Any) -> torch.Tensor:
    return torch.tensor(list(np.broadcast_shapes(tuple(ints(a)), tuple(ints(b)))), dtype=torch.int32)


# --------------------------------------------------------------------------
# creation


@register("Fill", static=(0,))
def _fill(node: Node, dims: Any, value: torch.Tensor) -> torch.Tensor:
    return value.reshape(()).expand(ints(dims)).contiguous()


@register("ZerosLike")
def _zeros_like(node: Node, x: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x)


@register("OnesLike")
def _ones_like(node: Node, x: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(x)


@register("Range", static=(0, 1, 2))
def _range(node: Node, start: torch.Tensor, limit: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """tfjs ``range``: ``ceil((limit - start) / delta)`` values, each the previous plus delta."""
    s, lim, d = scalar(start), scalar(limit), scalar(delta)
    n = max(int(np.ceil((lim - s) / d)), 0) if d != 0 else 0
    if isinstance(start, torch.Tensor):
        dtype, device = node.attr("Tidx", start.dtype), start.device
    else:  # a literal known at build time
        dtype, device = node.attr("Tidx", torch.float32 if isinstance(s, float) else torch.int32), None
    if dtype != torch.float32:
        return torch.arange(n, dtype=torch.int64, device=device).mul(int(d)).add(int(s)).to(torch.int32)
    vals = np.full(n, np.float32(d), dtype=np.float32)
    if n:
        vals[0] = np.float32(s)
    return torch.from_numpy(np.cumsum(vals, dtype=np.float32)).to(device)


@register("OneHot", static=(1,))
def _one_hot(node: Node, indices: torch.Tensor, depth: Any, on: torch.Tensor, off: torch.Tensor) -> torch.Tensor:
    """tfjs ``oneHot``: the new axis is always the last one (tfjs-converter does not read ``axis``)."""
    n = scalar_int(depth)
    hot = indices.long().unsqueeze(-1) == torch.arange(n, device=indices.device)
    return torch.where(hot, on.reshape(()), off.reshape(()))


@register("SparseToDense", static=(1,))
def _sparse_to_dense(node: Node, idx: torch.Tensor, shape: Any, values: torch.Tensor, default: torch.Tensor) -> torch.Tensor:
    dims = ints(shape)
    out = default.reshape(()).expand(dims).clone()
    index = idx.long()
    if index.dim() < 2:
        index = index.reshape(-1, 1) if len(dims) == 1 else index.reshape(1, -1)
    vals = values.expand(index.shape[0]) if values.dim() == 0 else values
    out[tuple(index[:, k] for k in range(index.shape[1]))] = vals.to(out.dtype)
    return out


@register("ScatterNd", static=(2,))
def _scatter_nd(node: Node, indices: torch.Tensor, updates: torch.Tensor, shape: Any) -> torch.Tensor:
    out = torch.zeros(ints(shape), dtype=updates.dtype, device=updates.device)
    index = indices.long()
    return out.index_put(tuple(index[..., k] for k in range(index.shape[-1])), updates, accumulate=True)


# --------------------------------------------------------------------------
# joining and splitting


@register("ConcatV2", static=(-1,))
def _concat_v2(node: Node, *args: Any) -> torch.Tensor:
    xs, axis = args[:-1], scalar_int(args[-1])
    return torch.cat(list(xs), dim=norm_axis(axis, xs[0].dim()))


@register("Concat", static=(0,))
def _concat(node: Node, axis: Any, *xs: torch.Tensor) -> torch.Tensor:
    return torch.cat(list(xs), dim=norm_axis(scalar_int(axis), xs[0].dim()))


@register("Pack")
def _pack(node: Node, *xs: torch.Tensor) -> torch.Tensor:
    axis = int(node.attr("axis", 0))
    return torch.stack(list(xs), dim=norm_axis(axis, xs[0].dim() + 1))


@register("Unpack")
def _unpack(node: Node, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.unbind(x, dim=norm_axis(int(node.attr("axis", 0)), x.dim()))


@register("Split", static=(0,))
def _split(node: Node, axis: Any, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    dim = norm_axis(scalar_int(axis), x.dim())
    n = int(node.attr("num_split"))
    return torch.split(x, x.shape[dim] // n, dim=dim)


@register("SplitV", static=(1, 2))
def _split_v(node: Node, x: torch.Tensor, sizes: Any, axis: Any) -> tuple[torch.Tensor, ...]:
    dim = norm_axis(scalar_int(axis), x.dim())
    s = ints(sizes)
    if -1 in s:
        s[s.index(-1)] = x.shape[dim] - sum(v for v in s if v != -1)
    return torch.split(x, s, dim=dim)


@register("Tile", static=(1,))
def _tile(node: Node, x: torch.Tensor, multiples: Any) -> torch.Tensor:
    return x.repeat(ints(multiples))


@register("Reverse", "ReverseV2", static=(1,))
def _reverse(node: Node, x: torch.Tensor, axis: Any) -> torch.Tensor:
    if node.op == "Reverse":  # v1: a bool per dimension
        dims = [i for i, flag in enumerate(ints(axis)) if flag]
    else:
        dims = [norm_axis(a, x.dim()) for a in ints(axis)]
    return torch.flip(x, dims) if dims else x


# --------------------------------------------------------------------------
# slicing


@register("Slice", static=(1, 2))
def _slice(node: Node, x: torch.Tensor, begin: Any, size: Any) -> torch.Tensor:
    b, s = ints(begin), ints(size)
    idx = tuple(slice(bi, None if si == -1 else bi + si) for bi, si in zip(b, s, strict=False))
    return x[idx]


def strided_slice(
    x: torch.Tensor,
    begin: list[int],
    end: list[int],
    strides: list[int],
    begin_mask: int = 0,
    end_mask: int = 0,
    ellipsis_mask: int = 0,
    new_axis_mask: int = 0,
    shrink_axis_mask: int = 0,
) -> torch.Tensor:
    """TensorFlow's ``strided_slice`` (Python slicing semantics, bit masks per spec entry).

    The first ellipsis bit stands for the dimensions the rest of the spec does
    not name; a new-axis bit wins over a shrink bit at the same position;
    negative strides walk backwards (begin defaults to the end).
    """
    n = len(begin)
    spec: list[tuple[Any, ...]] = []
    named = sum(1 for i in range(n) if not (ellipsis_mask >> i) & 1 and not (new_axis_mask >> i) & 1)
    seen_ellipsis = False
    for i in range(n):
        bit = 1 << i
        if ellipsis_mask & bit:
            if not seen_ellipsis:
                spec.extend([("full",)] * max(x.dim() - named, 0))
            seen_ellipsis = True
        elif new_axis_mask & bit:
            spec.append(("new",))
        elif shrink_axis_mask & bit:
            spec.append(("index", begin[i]))
        else:
            spec.append(("slice", None if begin_mask & bit else begin[i], None if end_mask & bit else end[i], strides[i]))
    idx: list[Any] = []
    flips: list[tuple[int, slice]] = []
    dim = 0  # input dimension
    out_dim = 0
    for item in spec:
        kind = item[0]
        if kind == "new":
            idx.append(None)
            out_dim += 1
            continue
        if kind == "full":
            idx.append(slice(None))
        elif kind == "index":
            idx.append(int(item[1]))
            out_dim -= 1
        else:
            _, b, e, s = item
            if s > 0:
                idx.append(slice(b, e, s))
            else:
                idx.append(slice(None))
                flips.append((out_dim, slice(b, e, s)))
        dim += 1
        out_dim += 1
    y = x[tuple(idx)]
    for d, sl in flips:
        size = y.shape[d]
        picks = list(range(*sl.indices(size)))
        y = y.index_select(d, torch.tensor(picks, dtype=torch.long, device=y.device))
    return y


@register("StridedSlice", static=(1, 2, 3))
def _strided_slice(node: Node, x: torch.Tensor, begin: Any, end: Any, strides: Any) -> torch.Tensor:
    return strided_slice(
        x,
        ints(begin),
        ints(end),
        ints(strides),
        int(node.attr("begin_mask", 0)),
        int(node.attr("end_mask", 0)),
        int(node.attr("ellipsis_mask", 0)),
        int(node.attr("new_axis_mask", 0)),
        int(node.attr("shrink_axis_mask", 0)),
    )


# --------------------------------------------------------------------------
# padding


def _pad_list(paddings: Any) -> list[tuple[int, int]]:
    flat = ints(paddings)  # [rank, 2]
    return [(flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)]


@register("Pad", "PadV2", static=(1, 2))
def _pad(node: Node, x: torch.Tensor, paddings: Any, value: Any = None) -> torch.Tensor:
    pads = _pad_list(paddings)
    flat: list[int] = []
    for a, b in reversed(pads):
        flat += [a, b]
    fill = 0.0 if value is None else scalar(value)
    return F.pad(x, flat, value=fill)


@validator("MirrorPad")
def _check_mirror(node: Node) -> str | None:
    mode = node.attr("mode", None)
    return None if mode in ("REFLECT", "SYMMETRIC") else f"mode {mode!r}"


@register("MirrorPad", static=(1,))
def _mirror_pad(node: Node, x: torch.Tensor, paddings: Any) -> torch.Tensor:
    reflect = node.attr("mode") == "REFLECT"
    for axis, (a, b) in enumerate(_pad_list(paddings)):
        if not a and not b:
            continue
        d = x.shape[axis]
        if reflect:
            left, right = list(range(a, 0, -1)), list(range(d - 2, d - 2 - b, -1))
        else:
            left, right = list(range(a - 1, -1, -1)), list(range(d - 1, d - 1 - b, -1))
        picks = torch.tensor(left + list(range(d)) + right, dtype=torch.long, device=x.device)
        x = x.index_select(axis, picks)
    return x


# --------------------------------------------------------------------------
# gathering


def gather(params: torch.Tensor, indices: torch.Tensor, axis: int, batch_dims: int = 0) -> torch.Tensor:
    """tfjs / TensorFlow ``gather`` along ``axis`` with ``batch_dims`` leading batch dimensions."""
    axis = norm_axis(axis, params.dim())
    batch_dims = norm_axis(batch_dims, indices.dim()) if batch_dims < 0 else batch_dims
    idx = indices.long()
    if batch_dims == 0:
        out = params.index_select(axis, idx.reshape(-1))
        return out.reshape(list(params.shape[:axis]) + list(idx.shape) + list(params.shape[axis + 1 :]))
    shape_p, shape_i = list(params.shape), list(idx.shape)
    bn = int(np.prod(shape_p[:batch_dims]))
    p = params.reshape([bn] + shape_p[batch_dims:]).movedim(axis - batch_dims + 1, 1)
    i = idx.reshape([bn] + shape_i[batch_dims:])
    rows = torch.arange(bn, device=p.device).reshape([bn] + [1] * (i.dim() - 1))
    g = p[rows, i]  # [bn, *I[b:], pre..., post...]
    k = i.dim() - 1
    pre = axis - batch_dims
    perm = [0] + list(range(1 + k, 1 + k + pre)) + list(range(1, 1 + k)) + list(range(1 + k + pre, g.dim()))
    return g.permute(perm).reshape(shape_p[:axis] + shape_i[batch_dims:] + shape_p[axis + 1 :])


@register("GatherV2", static=(2,))
def _gather_v2(node: Node, params: torch.Tensor, indices: torch.Tensor, axis: Any) -> torch.Tensor:
    return gather(params, indices, scalar_int(axis), int(node.attr("batch_dims", 0)))


@register("Gather")
def _gather(node: Node, params: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    return gather(params, indices, 0)


@register("GatherNd")
def _gather_nd(node: Node, params: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    idx = indices.long()
    return params[tuple(idx[..., k] for k in range(idx.shape[-1]))]


# --------------------------------------------------------------------------
# space <-> batch


@register("SpaceToBatchND", static=(1, 2))
def _space_to_batch(node: Node, x: torch.Tensor, block: Any, paddings: Any) -> torch.Tensor:
    bs = ints(block)
    m = len(bs)
    pads = _pad_list(paddings)
    flat: list[int] = [0, 0] * (x.dim() - 1 - m)
    for a, b in reversed(pads):
        flat += [a, b]
    x = F.pad(x, flat)
    b0, spatial, rest = x.shape[0], list(x.shape[1 : 1 + m]), list(x.shape[1 + m :])
    shape = [b0]
    for s, k in zip(spatial, bs, strict=False):
        shape += [s // k, k]
    x = x.reshape(shape + rest)
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + list(range(1 + 2 * m, 1 + 2 * m + len(rest)))
    x = x.permute(perm)
    return x.reshape([b0 * int(np.prod(bs))] + [s // k for s, k in zip(spatial, bs, strict=False)] + rest)


@register("BatchToSpaceND", static=(1, 2))
def _batch_to_space(node: Node, x: torch.Tensor, block: Any, crops: Any) -> torch.Tensor:
    bs = ints(block)
    m = len(bs)
    cr = _pad_list(crops)
    b0 = x.shape[0] // int(np.prod(bs))
    spatial, rest = list(x.shape[1 : 1 + m]), list(x.shape[1 + m :])
    x = x.reshape(bs + [b0] + spatial + rest)
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    x = x.permute(perm).reshape([b0] + [s * k for s, k in zip(spatial, bs, strict=False)] + rest)
    idx = [slice(None)] + [slice(a, x.shape[1 + i] - b) for i, (a, b) in enumerate(cr)]
    return x[tuple(idx)]


@register("Einsum")
def _einsum(node: Node, *xs: torch.Tensor) -> torch.Tensor:
    return torch.einsum(node.attr("equation"), *xs)


# --------------------------------------------------------------------------
# random (tfjs ignores the seeds of a graph model's random ops; so does torch here)


def _random_dtype(node: Node) -> torch.dtype:
    dtype = node.attr("dtype", torch.float32)
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


@register("RandomUniform", static=(0,))
def _random_uniform(node: Node, shape: Any) -> torch.Tensor:
    """tfjs ``randomUniform(shape, minval, maxval, dtype)``: values in [minval, maxval)."""
    lo, hi = float(node.attr("minval", 0.0)), float(node.attr("maxval", 1.0))
    out = torch.rand(ints(shape)) * (hi - lo) + lo
    return out.to(_random_dtype(node))


@register("RandomStandardNormal", static=(0,))
def _random_normal(node: Node, shape: Any) -> torch.Tensor:
    return torch.randn(ints(shape)).to(_random_dtype(node))


@register("TruncatedNormal", static=(0,))
def _truncated_normal(node: Node, shape: Any) -> torch.Tensor:
    """Normal values redrawn outside two standard deviations, as tfjs ``truncatedNormal``."""
    out = torch.empty(ints(shape))
    torch.nn.init.trunc_normal_(out, 0.0, 1.0, -2.0, 2.0)
    return out.to(_random_dtype(node))


@register("LinSpace", static=(0, 1, 2))
def _linspace(node: Node, start: torch.Tensor, stop: torch.Tensor, num: Any) -> torch.Tensor:
    return torch.linspace(float(scalar(start)), float(scalar(stop)), scalar_int(num), dtype=torch.float32)


@register("MatrixBandPart", static=(1, 2))
def _band_part(node: Node, x: torch.Tensor, lower: Any, upper: Any) -> torch.Tensor:
    """Keep ``lower`` sub- and super-diagonals of the last two axes (negative: all).

    tfjs-converter 4.22 maps both ``numLower`` and ``numUpper`` to input 1, so
    ``num_upper`` is ``num_lower`` in tfjs; this does the same.
    """
    lo = up = scalar_int(lower)
    m, n = x.shape[-2], x.shape[-1]
    i = torch.arange(m, device=x.device).reshape(-1, 1)
    j = torch.arange(n, device=x.device).reshape(1, -1)
    keep = torch.ones((m, n), dtype=torch.bool, device=x.device)
    if lo >= 0:
        keep &= (i - j) <= lo
    if up >= 0:
        keep &= (j - i) <= up
    return torch.where(keep, x, torch.zeros_like(x))
