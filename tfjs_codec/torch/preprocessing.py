"""Preprocessing layers: Rescaling, CenterCrop, Resizing, CategoryEncoding, RandomWidth.

Images are channels-last, (N, H, W, C) or (H, W, C), as in tfjs. Resizing uses tfjs'
resize kernels (:func:`~tfjs_codec.torch.pooling.resize_nhwc`): source coordinates
``i * in / out``, or ``i * (in - 1) / (out - 1)`` with aligned corners, not torch's
half-pixel ones.
"""

from __future__ import annotations

import math
from functools import partial

import torch

from .pooling import resize_nhwc
from .registry import BuildContext, Lambda, TfjsLayer, register

__all__ = ["CategoryEncoding", "RandomWidth"]


def _rescale_fn(x: torch.Tensor, *, scale: float, offset: float) -> torch.Tensor:
    return x.float() * scale + offset


@register("Rescaling")
def _rescaling(c: BuildContext) -> TfjsLayer:
    return Lambda(c.name, c.cls, partial(_rescale_fn, scale=float(c.opt("scale", 1.0)), offset=float(c.opt("offset") or 0.0)))


def _center_crop_fn(x: torch.Tensor, *, height: int, width: int) -> torch.Tensor:
    h, w = x.shape[-3], x.shape[-2]
    if h >= height and w >= width:
        # As the layer defines it (Keras, and tfjs' own source): offsets (H - h) // 2, (W - w) // 2.
        # tfjs 4.22 moves the width offset from 0 to 1 when W - w is 1 (see the README).
        top, left = (h - height) // 2, (w - width) // 2
        return x.narrow(-3, top, height).narrow(-2, left, width)
    # Smaller than the crop: tfjs resizes the whole image (bilinear, corners not aligned).
    return resize_nhwc(x, (height, width), method="bilinear")


@register("CenterCrop")
def _center_crop(c: BuildContext) -> TfjsLayer:
    return Lambda(c.name, c.cls, partial(_center_crop_fn, height=int(c.opt("height")), width=int(c.opt("width"))))


def _resize_fn(x: torch.Tensor, *, size: tuple[int, int], method: str, align_corners: bool) -> torch.Tensor:
    return resize_nhwc(x, size, method=method, align_corners=align_corners)


@register("Resizing")
def _resizing(c: BuildContext) -> TfjsLayer:
    method = c.only("interpolation", ("bilinear", "nearest", None), "bilinear") or "bilinear"
    # tfjs 4.22 resizes with alignCorners = !cropToAspectRatio and never crops (Keras crops to the
    # aspect ratio, then resizes with half-pixel centers): tfjs is followed, as the browser computes it.
    crop = bool(c.opt("crop_to_aspect_ratio", False))
    size = (int(c.opt("height")), int(c.opt("width")))
    return Lambda(c.name, c.cls, partial(_resize_fn, size=size, method=method, align_corners=not crop))


class CategoryEncoding(TfjsLayer):
    """CategoryEncoding: integer ids in [0, num_tokens) of a (batch, n) input -> (batch, num_tokens)
    multi-hot, counts, or (one_hot, n = 1) one-hot vectors, as float32."""

    def __init__(self, name: str, cls: str, num_tokens: int, mode: str) -> None:
        super().__init__(name, cls)
        self.num_tokens, self.mode = num_tokens, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = x.long()
        if ids.dim() == 0 or ids.dim() == 1 or (self.mode == "one_hot" and ids.shape[-1] != 1):
            ids = ids.unsqueeze(-1)
        if ids.dim() > 2:
            raise ValueError(
                f"layer {self.tfjs_name!r} ({self.tfjs_class}): output_mode {self.mode!r} needs inputs of rank <= 2, "
                f"got shape {list(x.shape)}"
            )
        if torch.compiler.is_compiling():
            # traced (torch.export, ONNX, torch.compile): nothing may depend on the values, so no
            # range check (tfjs raises; the program counts an id outside [0, num_tokens) nowhere)
            # and the counts are comparisons with every token instead of a scatter
            hits = ids.unsqueeze(-1) == torch.arange(self.num_tokens, device=x.device)
            counts = hits.to(torch.float32).sum(1)
            return counts if self.mode == "count" else counts.clamp(max=1.0)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_tokens):
            raise ValueError(
                f"layer {self.tfjs_name!r} ({self.tfjs_class}): input values must be in [0, {self.num_tokens})"
            )
        counts = torch.zeros(ids.shape[0], self.num_tokens, dtype=torch.float32, device=x.device)
        counts.scatter_add_(1, ids, torch.ones(ids.shape, dtype=torch.float32, device=x.device))
        return counts if self.mode == "count" else counts.clamp(max=1.0)


_MODES = {"multi_hot": "multi_hot", "multiHot": "multi_hot", "one_hot": "one_hot", "oneHot": "one_hot", "count": "count"}


@register("CategoryEncoding")
def _category_encoding(c: BuildContext) -> TfjsLayer:
    mode = c.opt("output_mode") or "multi_hot"
    if mode not in _MODES:
        raise c.fail("output_mode", f"= {mode!r} is not supported by tfjs_codec.torch (supported: 'multi_hot', "
                     "'one_hot', 'count'; tf_idf needs idf weights tfjs does not save)")
    return CategoryEncoding(c.name, c.cls, int(c.opt("num_tokens")), _MODES[mode])


class RandomWidth(TfjsLayer):
    """RandomWidth: the identity in eval mode (Keras' inference behaviour); in train mode every call
    resizes the batch to ``round(W * f)`` columns, ``f`` uniform in ``[1 + lower, 1 + upper]``, with
    tfjs' resize kernel. tfjs 4.22 resizes at random in ``predict`` too (see the README)."""

    def __init__(self, name: str, cls: str, lower: float, upper: float, method: str) -> None:
        super().__init__(name, cls)
        self.lower, self.upper, self.method = lower, upper, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        factor = 1 + self.lower + (self.upper - self.lower) * float(torch.rand(()))
        width = max(1, math.floor(factor * x.shape[-2] + 0.5))
        return resize_nhwc(x, (x.shape[-3], width), method=self.method)


@register("RandomWidth")
def _random_width(c: BuildContext) -> TfjsLayer:
    factor = c.opt("factor")
    if isinstance(factor, list) and len(factor) == 2:
        lower, upper = float(factor[0]), float(factor[1])
    elif isinstance(factor, (int, float)) and not isinstance(factor, bool) and factor > 0:
        lower, upper = -float(factor), float(factor)
    else:
        raise c.fail("factor", f"= {factor!r} is not a positive number or a pair of numbers")
    if lower < -1 or upper < lower:
        raise c.fail("factor", f"= {factor!r} is not a range within [-1, inf)")
    method = c.only("interpolation", ("bilinear", "nearest", None), "bilinear") or "bilinear"
    return RandomWidth(c.name, c.cls, lower, upper, method)


