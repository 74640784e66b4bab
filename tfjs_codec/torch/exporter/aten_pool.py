"""Aten handlers for pooling, resizing, pixel shuffle and padding: max / average / adaptive
pooling, bilinear and nearest upsampling, ``pixel_shuffle`` (DepthToSpace), constant, reflect and
replicate padding. Pooling, resizing and DepthToSpace run NHWC between ``Transpose`` nodes.

Semantics are tfjs-converter 4.22's, as the project's graph interpreter runs them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .aten_base import NCHW, NEG, NHWC, Call, gather, handles, pad_nhwc, target_key, tensor
from .tf_emit import Unsupported, Value
from .tf_graph import attr_bool, attr_int, attr_ints, attr_str, attr_type


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    eff = (k - 1) * d + 1
    num = size + 2 * p - eff
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pair(v: Any, n: int = 2) -> list[int]:
    if isinstance(v, (list, tuple)):
        vals = [int(a) for a in v]
        return vals * n if len(vals) == 1 else vals
    return [int(v)] * n


def _padded_nhwc(
    c: Call, x: Value, k: Sequence[int], s: Sequence[int], p: Sequence[int], ceil: bool, value: float
) -> tuple[Value, list[int]]:
    """NCHW ``x`` as NHWC, padded by ``p`` (with ``value``) and, in ceil mode, by what the last
    partial windows need; and the output's (height, width): windows over it with VALID padding
    are torch's."""
    outs = [_pool_out(x.shape[2 + i], k[i], s[i], p[i], 1, ceil) for i in range(2)]
    extra = [max((outs[i] - 1) * s[i] + k[i] - (x.shape[2 + i] + 2 * p[i]), 0) for i in range(2)]
    xn = pad_nhwc(c, c.e.transpose(x, NHWC), [(p[0], p[0] + extra[0]), (p[1], p[1] + extra[1])], value)
    return xn, outs


def _pool(c: Call, op: str, xn: Value, k: Sequence[int], s: Sequence[int], out: Sequence[int]) -> Value:
    """One ``MaxPool`` / ``AvgPool`` (VALID padding) of NHWC ``xn``: windows ``k``, strides ``s``,
    output (height, width) ``out``."""
    return c.e.op(
        op,
        [xn],
        {
            "T": attr_type("float32"),
            "ksize": attr_ints([1, k[0], k[1], 1]),
            "strides": attr_ints([1, s[0], s[1], 1]),
            "padding": attr_str("VALID"),
            "data_format": attr_str("NHWC"),
        },
        [xn.shape[0], out[0], out[1], xn.shape[3]],
        "float32",
    )


@handles("max_pool2d_with_indices", "max_pool2d")
def _max_pool(c: Call) -> Any:
    x = c.e.cast(tensor(c, c.args[0]), "float32")
    k = _pair(c.args[1])
    s = _pair(c.arg(2, "stride", []) or k)
    p = _pair(c.arg(3, "padding", 0))
    d = _pair(c.arg(4, "dilation", 1))
    ceil = bool(c.arg(5, "ceil_mode", False))
    if d != [1, 1]:
        raise Unsupported(f"dilation {d} on max pooling (tfjs' maxPool has none)")
    xn, outs = _padded_nhwc(c, x, k, s, p, ceil, NEG)
    out = c.e.transpose(_pool(c, "MaxPool", xn, k, s, outs), NCHW)
    return [out, None] if target_key(c.node.target) == "aten.max_pool2d_with_indices" else out


@handles("avg_pool2d")
def _avg_pool(c: Call) -> Value:
    x = c.e.cast(tensor(c, c.args[0]), "float32")
    k = _pair(c.args[1])
    s = _pair(c.arg(2, "stride", []) or k)
    p = _pair(c.arg(3, "padding", 0))
    ceil = bool(c.arg(4, "ceil_mode", False))
    include = bool(c.arg(5, "count_include_pad", True))
    override = c.arg(6, "divisor_override", None)
    e = c.e
    size = [x.shape[2], x.shape[3]]
    xn, outs = _padded_nhwc(c, x, k, s, p, ceil, 0.0)
    y = _pool(c, "AvgPool", xn, k, s, outs)
    # torch's divisor per output position (ATen's AvgPool2d kernel); AvgPool divided by k*k
    div = np.empty(outs, dtype=np.float64)
    for oh in range(outs[0]):
        for ow in range(outs[1]):
            hs, ws = oh * s[0] - p[0], ow * s[1] - p[1]
            he, we = min(hs + k[0], size[0] + p[0]), min(ws + k[1], size[1] + p[1])
            pool = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, size[0]), min(we, size[1])
            div[oh, ow] = override if override else (pool if include else (he - hs) * (we - ws))
    factor = (k[0] * k[1]) / div
    if not np.allclose(factor, 1.0, rtol=0, atol=0):
        if np.all(factor == factor.flat[0]):
            y = e.binary("Mul", y, e.const(float(factor.flat[0]), "float32"), y.shape)
        else:
            y = e.binary(
                "Mul", y, e.const(torch.from_numpy(factor.astype(np.float32)).reshape(outs[0], outs[1], 1), "float32"), y.shape
            )
    return e.transpose(y, NCHW)


def _adaptive_matrix(n_in: int, n_out: int) -> np.ndarray:
    m = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        lo, hi = (i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


@handles("_adaptive_avg_pool2d", "adaptive_avg_pool2d")
def _adaptive_avg(c: Call) -> Value:
    x = c.e.cast(tensor(c, c.args[0]), "float32")
    oh, ow = _pair(c.args[1])
    h, w = x.shape[-2], x.shape[-1]
    e = c.e
    if (oh, ow) == (1, 1):
        return e.reduce("Mean", x, [x.rank - 2, x.rank - 1], True, c.shape)
    if h % oh == 0 and w % ow == 0 and x.rank == 4:
        k = [h // oh, w // ow]
        return e.transpose(_pool(c, "AvgPool", e.transpose(x, NHWC), k, k, [oh, ow]), NCHW)
    # separable averaging: P_h @ x @ P_w^T
    ph = e.const(torch.from_numpy(_adaptive_matrix(h, oh).astype(np.float32)), "float32")
    pw = e.const(torch.from_numpy(_adaptive_matrix(w, ow).T.copy().astype(np.float32)), "float32")
    bmm = {"T": attr_type("float32"), "adj_x": attr_bool(False), "adj_y": attr_bool(False)}
    t = e.op("BatchMatMulV2", [x, pw], bmm, [*x.shape[:-1], ow], "float32")
    return e.op("BatchMatMulV2", [ph, t], bmm, c.shape, "float32")


@handles("adaptive_max_pool2d")
def _adaptive_max(c: Call) -> list[Any]:
    x = c.e.cast(tensor(c, c.args[0]), "float32")
    oh, ow = _pair(c.args[1])
    h, w = x.shape[-2], x.shape[-1]
    e = c.e
    if x.rank != 4 or h % oh or w % ow:
        raise Unsupported(f"adaptive max pooling of {h}x{w} to {oh}x{ow} (windows of unequal sizes)")
    k = [h // oh, w // ow]
    return [e.transpose(_pool(c, "MaxPool", e.transpose(x, NHWC), k, k, [oh, ow]), NCHW), None]


# ------------------------------------------------------------------ resize / pixel shuffle


def _resize_size(c: Call, x: Value) -> tuple[int, int, list[float] | None]:
    size, scales = c.args[1], c.args[-1]
    oh, ow = c.shape[2], c.shape[3]
    return oh, ow, list(scales) if scales is not None and size is None else None


@handles("upsample_bilinear2d")
def _bilinear(c: Call) -> Value:
    x = c.e.cast(tensor(c, c.args[0]), "float32")
    align = bool(c.args[2])
    oh, ow, scales = _resize_size(c, x)
    if scales is not None and not align:
        for i, (n_in, n_out) in enumerate(((x.shape[2], oh), (x.shape[3], ow))):
            if abs(n_in / n_out - 1.0 / scales[i]) > 1e-12:
                raise Unsupported(
                    f"scale_factor {scales[i]} does not give {n_out} = {n_in} * {scales[i]} exactly: "
                    "pass size= or recompute_scale_factor=True"
                )
    return _resize(c, x, "ResizeBilinear", oh, ow, align, not align)


def _resize(c: Call, x: Value, op: str, oh: int, ow: int, align: bool, half: bool) -> Value:
    e = c.e
    y = e.op(
        op,
        [e.transpose(x, NHWC), e.int_vec([oh, ow])],
        {"T": attr_type("float32"), "align_corners": attr_bool(align), "half_pixel_centers": attr_bool(half)},
        [x.shape[0], oh, ow, x.shape[1]],
        "float32",
    )
    return e.transpose(y, NCHW)


@handles("upsample_nearest2d")
def _nearest(c: Call) -> Value:
    x = tensor(c, c.args[0])
    oh, ow, scales = _resize_size(c, x)
    h, w = x.shape[2], x.shape[3]
    # torch: src = floor(dst * scale), scale = 1/scale_factor when given, else in/out
    sh = 1.0 / scales[0] if scales else h / oh
    sw = 1.0 / scales[1] if scales else w / ow
    want_h = [min(int(math.floor(i * sh)), h - 1) for i in range(oh)]
    want_w = [min(int(math.floor(i * sw)), w - 1) for i in range(ow)]
    tf_h = [min(int(math.floor(i * (h / oh))), h - 1) for i in range(oh)]
    tf_w = [min(int(math.floor(i * (w / ow))), w - 1) for i in range(ow)]
    if want_h == tf_h and want_w == tf_w and x.dtype == "float32":
        return _resize(c, x, "ResizeNearestNeighbor", oh, ow, False, False)
    y = gather(c, x, torch.tensor(want_h), 2)
    return gather(c, y, torch.tensor(want_w), 3)


@handles("pixel_shuffle")
def _pixel_shuffle(c: Call) -> Value:
    x = tensor(c, c.args[0])
    r = int(c.args[1])
    if x.rank != 4:
        raise Unsupported("pixel_shuffle of a tensor that is not 4-D")
    e = c.e
    cout = x.shape[1] // (r * r)
    # torch channel ch*r*r + i*r + j -> DepthToSpace's (i*r + j)*cout + ch
    order = [ch * r * r + k for k in range(r * r) for ch in range(cout)]
    xn = gather(c, e.transpose(x, NHWC), torch.tensor(order), 3)
    y = e.op(
        "DepthToSpace",
        [xn],
        {"T": attr_type(x.dtype), "block_size": attr_int(r), "data_format": attr_str("NHWC")},
        [x.shape[0], x.shape[2] * r, x.shape[3] * r, cout],
        x.dtype,
    )
    return e.transpose(y, NCHW)


# ------------------------------------------------------------------ padding


@handles("constant_pad_nd")
def _constant_pad(c: Call) -> Value:
    x = tensor(c, c.args[0])
    pad = list(c.args[1])
    value = c.arg(2, "value", 0)
    if any(p < 0 for p in pad):
        raise Unsupported("negative padding (cropping)")
    spec = [[0, 0] for _ in range(x.rank)]
    for i in range(len(pad) // 2):
        spec[x.rank - 1 - i] = [pad[2 * i], pad[2 * i + 1]]
    e = c.e
    const = e.g.const(e._name("paddings"), np.asarray(spec, dtype=np.int32))
    if not value:
        return e.op("Pad", [x, const], {"T": attr_type(x.dtype), "Tpaddings": attr_type("int32")}, c.shape, x.dtype)
    return e.op(
        "PadV2", [x, const, e.const(value, x.dtype)], {"T": attr_type(x.dtype), "Tpaddings": attr_type("int32")}, c.shape, x.dtype
    )


@handles("reflection_pad1d", "reflection_pad2d")
def _reflect_pad(c: Call) -> Value:
    x = tensor(c, c.args[0])
    pad = list(c.args[1])
    spec = [[0, 0] for _ in range(x.rank)]
    for i in range(len(pad) // 2):
        spec[x.rank - 1 - i] = [pad[2 * i], pad[2 * i + 1]]
    e = c.e
    const = e.g.const(e._name("paddings"), np.asarray(spec, dtype=np.int32))
    return e.op(
        "MirrorPad",
        [x, const],
        {"T": attr_type(x.dtype), "Tpaddings": attr_type("int32"), "mode": attr_str("REFLECT")},
        c.shape,
        x.dtype,
    )


@handles("replication_pad1d", "replication_pad2d")
def _replicate_pad(c: Call) -> Value:
    x = tensor(c, c.args[0])
    pad = list(c.args[1])
    y = x
    for i in range(len(pad) // 2):
        axis = x.rank - 1 - i
        n = x.shape[axis]
        idx = torch.clamp(torch.arange(-pad[2 * i], n + pad[2 * i + 1]), 0, n - 1)
        y = gather(c, y, idx, axis)
    return y
