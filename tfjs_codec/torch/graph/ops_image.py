"""Image ops: ResizeBilinear / ResizeNearestNeighbor, DepthToSpace.

Resizing follows tfjs-backend-cpu 4.22 exactly (``ResizeBilinear.ts``,
``ResizeNearestNeighbor.ts``): source coordinates computed in float64 from
``align_corners`` (ratio ``(in-1)/(out-1)`` when the output has more than one
pixel) and ``half_pixel_centers`` (bilinear ``(r + 0.5) * ratio - 0.5``,
nearest ``(r + 0.5) * ratio`` floored, or rounded half up with align_corners),
clamped into the image; bilinear interpolates rows of column-interpolated
values, as tfjs does. Images are NHWC.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from .registry import Node, register, validator
from .values import ints


def _ratio(old: int, new: int, align: bool) -> float:
    if align and new > 1:
        return (old - 1) / (new - 1)
    return old / new


@functools.lru_cache(maxsize=256)
def bilinear_taps(old: int, new: int, align: bool, half: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


@functools.lru_cache(maxsize=256)
def nearest_taps(old: int, new: int, align: bool, half: bool) -> np.ndarray:
    """Source index per output position along one axis."""
    ratio = _ratio(old, new, align)
    out = np.empty(new, dtype=np.int64)
    for r in range(new):
        src = ratio * (r + 0.5) if half else ratio * r
        idx = min(old - 1, math.floor(src + 0.5) if align else math.floor(src))
        out[r] = max(0, idx) if half else idx
    return out


@validator("ResizeBilinear", "ResizeNearestNeighbor")
def _check_resize(node: Node) -> str | None:
    if node.attr("align_corners", False) and node.attr("half_pixel_centers", False):
        return "align_corners and half_pixel_centers both true"
    return None


def _flags(node: Node) -> tuple[bool, bool]:
    return bool(node.attr("align_corners", False)), bool(node.attr("half_pixel_centers", False))


@register("ResizeBilinear")
def _resize_bilinear(node: Node, x: torch.Tensor, size: object) -> torch.Tensor:
    nh, nw = ints(size)
    align, half = _flags(node)
    x = x if x.is_floating_point() else x.float()
    dev = x.device
    r0, r1, rf = bilinear_taps(int(x.shape[1]), nh, align, half)
    c0, c1, cf = bilinear_taps(int(x.shape[2]), nw, align, half)
    top = x.index_select(1, torch.from_numpy(r0).to(dev))
    bot = x.index_select(1, torch.from_numpy(r1).to(dev))
    cl, cr = torch.from_numpy(c0).to(dev), torch.from_numpy(c1).to(dev)
    colf = torch.from_numpy(cf.astype(np.float32)).to(dev).reshape(1, 1, -1, 1)
    rowf = torch.from_numpy(rf.astype(np.float32)).to(dev).reshape(1, -1, 1, 1)
    tl, tr = top.index_select(2, cl), top.index_select(2, cr)
    bl, br = bot.index_select(2, cl), bot.index_select(2, cr)
    t = tl + (tr - tl) * colf
    b = bl + (br - bl) * colf
    return t + (b - t) * rowf


@register("ResizeNearestNeighbor")
def _resize_nearest(node: Node, x: torch.Tensor, size: object) -> torch.Tensor:
    nh, nw = ints(size)
    align, half = _flags(node)
    rows = torch.from_numpy(nearest_taps(int(x.shape[1]), nh, align, half)).to(x.device)
    cols = torch.from_numpy(nearest_taps(int(x.shape[2]), nw, align, half)).to(x.device)
    return x.index_select(1, rows).index_select(2, cols)


@validator("DepthToSpace")
def _check_d2s(node: Node) -> str | None:
    fmt = node.attr("data_format", "NHWC")
    return None if fmt == "NHWC" else f"data_format {fmt!r} (tfjs supports NHWC only)"


@register("DepthToSpace")
def _depth_to_space(node: Node, x: torch.Tensor) -> torch.Tensor:
    bs = int(node.attr("block_size"))
    b, h, w, c = x.shape
    y = x.reshape(b, h, w, bs, bs, c // (bs * bs)).permute(0, 1, 3, 2, 4, 5)
    return y.reshape(b, h * bs, w * bs, c // (bs * bs))
