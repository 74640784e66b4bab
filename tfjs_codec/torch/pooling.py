"""Pooling, reshaping (Flatten, Reshape, Permute, RepeatVector) and padding / cropping / upsampling.

Channels-last outside (channels-first for ``data_format: channels_first`` layers, as in
tfjs). Pooling 1D, 2D and 3D; ``padding: same`` pooling is TensorFlow's: the odd pixel at
the end, padded max pooling ignores the padding, padded average pooling divides by the
number of real values in each window. Flatten flattens the channels-last tensor (H, W, C
order; channels_first moves the channels last first). ZeroPadding2D, Cropping2D and
UpSampling2D; :func:`resize_nhwc` is tfjs' resize kernels (UpSampling2D, and Resizing /
CenterCrop / RandomWidth in :mod:`~tfjs_codec.torch.preprocessing`).
"""

from __future__ import annotations

import math
from functools import lru_cache, partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .conv import data_format
from .registry import BuildContext, Builder, Lambda, TfjsLayer, attach_export, register, same_pads, to_cf, to_cl

__all__ = ["GlobalPool", "Pool", "resize_nhwc"]

_MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVGPOOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


# ---------------------------------------------------------------------------
# Pooling


class Pool(TfjsLayer):
    """MaxPooling / AveragePooling 1D, 2D and 3D (channels-first ones take channels-first tensors)."""

    def __init__(
        self, name: str, cls: str, *, rank: int, op: str, pool: tuple[int, ...], strides: tuple[int, ...], padding: str,
        channels_first: bool = False,
    ) -> None:
        super().__init__(name, cls)
        self.rank, self.op, self.pool, self.strides, self.padding = rank, op, pool, strides, padding
        self.channels_first = channels_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x if self.channels_first else to_cf(x)
        ones = (1,) * self.rank
        if self.op == "max":
            if self.padding == "same":
                x = F.pad(x, same_pads(x.shape[2:], self.pool, self.strides, ones), value=-math.inf)
            y = _MAXPOOL[self.rank](x, self.pool, self.strides)
        elif self.padding == "same":
            pads = same_pads(x.shape[2:], self.pool, self.strides, ones)
            pool = _AVGPOOL[self.rank]
            count = pool(F.pad(torch.ones_like(x[:1, :1]), pads), self.pool, self.strides)
            y = pool(F.pad(x, pads), self.pool, self.strides) / count
        else:
            y = _AVGPOOL[self.rank](x, self.pool, self.strides)
        return y if self.channels_first else to_cl(y)


def _pool(rank: int, op: str) -> Builder:
    def build(c: BuildContext) -> TfjsLayer:
        cf = data_format(c)
        pool = c.ints("pool_size", rank, 2)
        strides = c.ints("strides", rank, pool) if c.opt("strides") is not None else pool
        return Pool(c.name, c.cls, rank=rank, op=op, pool=pool, strides=strides,
                    padding=c.only("padding", ("valid", "same"), "valid"), channels_first=cf)

    return build


register("MaxPooling1D")(_pool(1, "max"))
register("MaxPooling2D")(_pool(2, "max"))
register("AveragePooling1D")(_pool(1, "avg"))
register("AveragePooling2D")(_pool(2, "avg"))
register("MaxPooling3D")(_pool(3, "max"))
register("AveragePooling3D")(_pool(3, "avg"))


class GlobalPool(TfjsLayer):
    """GlobalAverage / GlobalMax pooling over every axis but batch and channels."""

    def __init__(self, name: str, cls: str, *, op: str, keepdims: bool, channels_first: bool = False) -> None:
        super().__init__(name, cls)
        self.op, self.keepdims, self.channels_first = op, keepdims, channels_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(2, x.dim())) if self.channels_first else tuple(range(1, x.dim() - 1))
        if self.op == "avg":
            return x.mean(dim=dims, keepdim=self.keepdims)
        return x.amax(dim=dims, keepdim=self.keepdims)


def _global_pool(op: str) -> Builder:
    def build(c: BuildContext) -> TfjsLayer:
        cf = data_format(c)
        return GlobalPool(c.name, c.cls, op=op, keepdims=bool(c.opt("keepdims", False)), channels_first=cf)

    return build


register("GlobalAveragePooling1D", "GlobalAveragePooling2D")(_global_pool("avg"))
register("GlobalMaxPooling1D", "GlobalMaxPooling2D")(_global_pool("max"))


# ---------------------------------------------------------------------------
# Reshaping (module-level functions, so whole modules pickle)


def _flatten_fn(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def _flatten_cf_fn(x: torch.Tensor) -> torch.Tensor:
    # channels_first: the channels move last before flattening (tfjs and Keras).
    return (x.movedim(1, -1) if x.dim() > 2 else x).reshape(x.shape[0], -1)


def _reshape_fn(x: torch.Tensor, *, target: tuple[int, ...]) -> torch.Tensor:
    return x.reshape((x.shape[0],) + target)


def _permute_fn(x: torch.Tensor, *, dims: tuple[int, ...]) -> torch.Tensor:
    return x.permute(dims)


def _repeat_fn(x: torch.Tensor, *, n: int) -> torch.Tensor:
    return x.unsqueeze(1).expand(x.shape[0], n, *x.shape[1:])


@register("Flatten")
def _flatten(c: BuildContext) -> TfjsLayer:
    return Lambda(c.name, c.cls, _flatten_cf_fn if data_format(c) else _flatten_fn)


@register("Reshape")
def _reshape(c: BuildContext) -> TfjsLayer:
    # tfjs saves a target dimension of -1 as null.
    target = tuple(-1 if v is None else int(v) for v in c.opt("target_shape"))
    return Lambda(c.name, c.cls, partial(_reshape_fn, target=target))


@register("Permute")
def _permute(c: BuildContext) -> TfjsLayer:
    dims = (0,) + tuple(int(d) for d in c.opt("dims"))
    return Lambda(c.name, c.cls, partial(_permute_fn, dims=dims))


@register("RepeatVector")
def _repeat(c: BuildContext) -> TfjsLayer:
    n = int(c.opt("n"))
    return Lambda(c.name, c.cls, partial(_repeat_fn, n=n))


# ---------------------------------------------------------------------------
# Padding, cropping, upsampling (NHWC outside; channels_first ones NCHW)


def _pairs(c: BuildContext, key: str, default: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """An int, [h, w] or [[top, bottom], [left, right]] option as ((top, bottom), (left, right))."""
    value = c.opt(key, default)
    if value is None:
        value = default
    try:
        if isinstance(value, int):
            return (value, value), (value, value)
        if all(isinstance(v, int) for v in value) and len(value) == 2:
            return (value[0], value[0]), (value[1], value[1])
        (a, b), (d, e) = value
        return (int(a), int(b)), (int(d), int(e))
    except (TypeError, ValueError):
        raise c.fail(key, f"= {value!r} is not an int, [h, w] or [[top, bottom], [left, right]]") from None


def _pad2d_fn(x: torch.Tensor, *, pads: tuple[int, int, int, int, int, int]) -> torch.Tensor:
    return F.pad(x, pads)


def _crop2d_fn(x: torch.Tensor, *, crop: tuple[tuple[int, int], tuple[int, int]], channels_first: bool) -> torch.Tensor:
    (top, bottom), (left, right) = crop
    h_axis = 2 if channels_first else 1
    x = x.narrow(h_axis, top, x.shape[h_axis] - top - bottom)
    return x.narrow(h_axis + 1, left, x.shape[h_axis + 1] - left - right)


@register("ZeroPadding2D")
def _zero_padding2d(c: BuildContext) -> TfjsLayer:
    (top, bottom), (left, right) = _pairs(c, "padding", 1)
    # F.pad lists the last axis first: NHWC (C, W, H), NCHW (W, H).
    pads = (left, right, top, bottom, 0, 0) if data_format(c) else (0, 0, left, right, top, bottom)
    return Lambda(c.name, c.cls, partial(_pad2d_fn, pads=pads))


@register("Cropping2D")
def _cropping2d(c: BuildContext) -> TfjsLayer:
    return Lambda(c.name, c.cls, partial(_crop2d_fn, crop=_pairs(c, "cropping", 0), channels_first=data_format(c)))


def _ratio(old: int, new: int, align: bool) -> float:
    if align and new > 1:
        return (old - 1) / (new - 1)
    return old / new


@lru_cache(maxsize=256)
def _bilinear_taps(old: int, new: int, align: bool, half: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(floor index, ceil index, fraction) per output position along one axis."""
    ratio = _ratio(old, new, align)
    lo = np.empty(new, dtype=np.int64)
    hi = np.empty(new, dtype=np.int64)
    frac = np.empty(new, dtype=np.float64)
    for r in range(new):
        src = ratio * (r + 0.5) - 0.5 if half else ratio * r
        f = max(0, math.floor(src))
        lo[r], frac[r], hi[r] = f, src - f, min(old - 1, math.ceil(src))
    return lo, hi, frac


@lru_cache(maxsize=256)
def _nearest_taps(old: int, new: int, align: bool, half: bool) -> np.ndarray:
    """Source index per output position along one axis."""
    ratio = _ratio(old, new, align)
    out = np.empty(new, dtype=np.int64)
    for r in range(new):
        src = ratio * (r + 0.5) if half else ratio * r
        idx = min(old - 1, math.floor(src + 0.5) if align else math.floor(src))
        out[r] = max(0, idx) if half else idx
    return out


def resize_nhwc(
    x: torch.Tensor, size: tuple[int, int], *, method: str, align_corners: bool = False, half_pixel_centers: bool = False
) -> torch.Tensor:
    """tfjs 4.22's ``tf.image.resizeBilinear`` / ``resizeNearestNeighbor`` (tfjs-backend-cpu).

    The one copy of these kernels, for the layers (UpSampling2D, Resizing, ...) and the graph
    ops (ResizeBilinear / ResizeNearestNeighbor). Source coordinates are computed in float64:
    ``out_index * in / out`` (``(in - 1) / (out - 1)`` with ``align_corners`` when the output
    has more than one pixel; with ``half_pixel_centers`` bilinear ``(r + 0.5) * ratio - 0.5``,
    nearest ``(r + 0.5) * ratio``), clamped into the image; bilinear mixes the floor and ceil
    pixels (rows of column-interpolated values, as tfjs), nearest takes the floor (rounds half
    up with ``align_corners``). Not torch's coordinates.

    Args:
        x: an (N, H, W, C) or (H, W, C) floating-point tensor.
        size: the output (height, width).
        method: ``bilinear`` or ``nearest``.
        align_corners: tfjs' ``alignCorners``.
        half_pixel_centers: tfjs' ``halfPixelCenters``.

    Returns:
        The resized tensor, same rank.
    """
    if x.dim() == 3:
        return resize_nhwc(
            x.unsqueeze(0), size, method=method, align_corners=align_corners, half_pixel_centers=half_pixel_centers
        )[0]
    h_in, w_in = int(x.shape[1]), int(x.shape[2])
    dev = x.device
    if method == "nearest":
        rows = torch.from_numpy(_nearest_taps(h_in, size[0], align_corners, half_pixel_centers)).to(dev)
        cols = torch.from_numpy(_nearest_taps(w_in, size[1], align_corners, half_pixel_centers)).to(dev)
        return x.index_select(1, rows).index_select(2, cols)
    r0, r1, rf = _bilinear_taps(h_in, size[0], align_corners, half_pixel_centers)
    c0, c1, cf = _bilinear_taps(w_in, size[1], align_corners, half_pixel_centers)
    rowf = torch.from_numpy(rf.astype(np.float32)).to(x).reshape(1, -1, 1, 1)
    colf = torch.from_numpy(cf.astype(np.float32)).to(x).reshape(1, 1, -1, 1)
    top, bottom = x.index_select(1, torch.from_numpy(r0).to(dev)), x.index_select(1, torch.from_numpy(r1).to(dev))
    cl, cr = torch.from_numpy(c0).to(dev), torch.from_numpy(c1).to(dev)
    tl, tr = top.index_select(2, cl), top.index_select(2, cr)
    bl, br = bottom.index_select(2, cl), bottom.index_select(2, cr)
    t = tl + (tr - tl) * colf
    b = bl + (br - bl) * colf
    return t + (b - t) * rowf


def _upsample_fn(x: torch.Tensor, *, size: tuple[int, int], method: str, channels_first: bool) -> torch.Tensor:
    if channels_first:
        x = x.movedim(1, -1)
    y = resize_nhwc(x, (x.shape[1] * size[0], x.shape[2] * size[1]), method=method)
    return y.movedim(-1, 1) if channels_first else y


@register("UpSampling2D")
def _upsampling2d(c: BuildContext) -> TfjsLayer:
    method = c.only("interpolation", ("nearest", "bilinear"), "nearest")
    sh, sw = c.ints("size", 2, 2)
    return Lambda(c.name, c.cls, partial(_upsample_fn, size=(sh, sw), method=method or "nearest", channels_first=data_format(c)))


# ---------------------------------------------------------------------------
# Export halves (torch module call -> Keras layers): see tfjs_codec.torch.exporter


@attach_export("MaxPooling1D", nn.MaxPool1d)
@attach_export("MaxPooling2D", nn.MaxPool2d)
def _export_maxpool(ex: Any, call: Any) -> Any:
    from .exporter.ops import pool

    m = call.module
    if m.return_indices:
        raise call.fail("return_indices=True is not supported")
    rank = 1 if isinstance(m, nn.MaxPool1d) else 2
    return pool(call, call.tensor(), op="max", rank=rank, kernel=m.kernel_size, stride=m.stride, padding=m.padding,
                dilation=m.dilation, ceil_mode=m.ceil_mode)


@attach_export("AveragePooling1D", nn.AvgPool1d)
@attach_export("AveragePooling2D", nn.AvgPool2d)
def _export_avgpool(ex: Any, call: Any) -> Any:
    from .exporter.ops import pool

    m = call.module
    rank = 1 if isinstance(m, nn.AvgPool1d) else 2
    return pool(call, call.tensor(), op="avg", rank=rank, kernel=m.kernel_size, stride=m.stride, padding=m.padding,
                ceil_mode=m.ceil_mode, count_include_pad=m.count_include_pad,
                divisor_override=getattr(m, "divisor_override", None))


@attach_export("GlobalAveragePooling1D", nn.AdaptiveAvgPool1d)
@attach_export("GlobalAveragePooling2D", nn.AdaptiveAvgPool2d)
def _export_adaptive_avgpool(ex: Any, call: Any) -> Any:
    """Output size 1: global average pooling; a size dividing the input: average pooling."""
    from .exporter.ops import adaptive_avg

    m = call.module
    return adaptive_avg(call, call.tensor(), m.output_size, 1 if isinstance(m, nn.AdaptiveAvgPool1d) else 2)


@attach_export("ZeroPadding2D", nn.ZeroPad2d, nn.ZeroPad1d)
def _export_zero_pad(ex: Any, call: Any) -> Any:
    from .exporter.ops import pad_spatial

    return pad_spatial(call, call.tensor(), list(call.module.padding))


@attach_export("UpSampling2D", nn.Upsample)
def _export_upsample(ex: Any, call: Any) -> Any:
    from .exporter.ops import upsample

    m = call.module
    return upsample(call, call.tensor(), m.mode, m.align_corners)


@attach_export("Flatten", nn.Flatten)
def _export_flatten(ex: Any, call: Any) -> Any:
    """Flatten in torch's order (C, H, W): a Permute first when the tensor is held channels-last."""
    from .exporter.ops import reshape_to

    return reshape_to(call, call.tensor(), call.out_shape)


@attach_export("Reshape", nn.Unflatten)
def _export_unflatten(ex: Any, call: Any) -> Any:
    from .exporter.ops import reshape_to

    return reshape_to(call, call.tensor(), call.out_shape)
