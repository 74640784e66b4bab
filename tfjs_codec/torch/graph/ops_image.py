"""Image ops: ResizeBilinear / ResizeNearestNeighbor, DepthToSpace.

Resizing follows tfjs-backend-cpu 4.22 exactly (``ResizeBilinear.ts``,
``ResizeNearestNeighbor.ts``) through the kernels the layers use too,
:func:`tfjs_codec.torch.pooling.resize_nhwc`. Images are NHWC.
"""

from __future__ import annotations

import torch

from ..pooling import resize_nhwc
from .registry import Node, register, validator
from .values import ints


@validator("ResizeBilinear", "ResizeNearestNeighbor")
def _check_resize(node: Node) -> str | None:
    if node.attr("align_corners", False) and node.attr("half_pixel_centers", False):
        return "align_corners and half_pixel_centers both true"
    return None


def _flags(node: Node) -> tuple[bool, bool]:
    return bool(node.attr("align_corners", False)), bool(node.attr("half_pixel_centers", False))


@register("ResizeBilinear", static=(1,))
def _resize_bilinear(node: Node, x: torch.Tensor, size: object) -> torch.Tensor:
    nh, nw = ints(size)
    align, half = _flags(node)
    x = x if x.is_floating_point() else x.float()
    return resize_nhwc(x, (nh, nw), method="bilinear", align_corners=align, half_pixel_centers=half)


@register("ResizeNearestNeighbor", static=(1,))
def _resize_nearest(node: Node, x: torch.Tensor, size: object) -> torch.Tensor:
    nh, nw = ints(size)
    align, half = _flags(node)
    return resize_nhwc(x, (nh, nw), method="nearest", align_corners=align, half_pixel_centers=half)


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
