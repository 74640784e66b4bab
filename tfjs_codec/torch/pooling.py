"""Pooling, reshaping (Flatten, Reshape, Permute, RepeatVector) and padding / cropping / upsampling.

Channels-last outside. ``padding: same`` pooling is TensorFlow's: the odd pixel at the
end, padded max pooling ignores the padding, padded average pooling divides by the number
of real values in each window. Flatten flattens the channels-last tensor (H, W, C order).
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F

from .registry import BuildContext, Builder, Lambda, TfjsLayer, register, same_pads, to_cf, to_cl

__all__ = ["GlobalPool", "Pool"]

_MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d}
_AVGPOOL = {1: F.avg_pool1d, 2: F.avg_pool2d}


# ---------------------------------------------------------------------------
# Pooling


class Pool(TfjsLayer):
    """MaxPooling / AveragePooling 1D and 2D."""

    def __init__(
        self, name: str, cls: str, *, rank: int, op: str, pool: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> None:
        super().__init__(name, cls)
        self.rank, self.op, self.pool, self.strides, self.padding = rank, op, pool, strides, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = to_cf(x)
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
        return to_cl(y)


def _pool(rank: int, op: str) -> Builder:
    def build(c: BuildContext) -> TfjsLayer:
        c.channels_last()
        pool = c.ints("pool_size", rank, 2)
        strides = c.ints("strides", rank, pool) if c.opt("strides") is not None else pool
        return Pool(c.name, c.cls, rank=rank, op=op, pool=pool, strides=strides,
                    padding=c.only("padding", ("valid", "same"), "valid"))

    return build


register("MaxPooling1D")(_pool(1, "max"))
register("MaxPooling2D")(_pool(2, "max"))
register("AveragePooling1D")(_pool(1, "avg"))
register("AveragePooling2D")(_pool(2, "avg"))


class GlobalPool(TfjsLayer):
    """GlobalAverage / GlobalMax pooling over every axis but batch and channels."""

    def __init__(self, name: str, cls: str, *, op: str, keepdims: bool) -> None:
        super().__init__(name, cls)
        self.op, self.keepdims = op, keepdims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(1, x.dim() - 1))
        if self.op == "avg":
            return x.mean(dim=dims, keepdim=self.keepdims)
        return x.amax(dim=dims, keepdim=self.keepdims)


def _global_pool(op: str) -> Builder:
    def build(c: BuildContext) -> TfjsLayer:
        c.channels_last()
        return GlobalPool(c.name, c.cls, op=op, keepdims=bool(c.opt("keepdims", False)))

    return build


register("GlobalAveragePooling1D", "GlobalAveragePooling2D")(_global_pool("avg"))
register("GlobalMaxPooling1D", "GlobalMaxPooling2D")(_global_pool("max"))


# ---------------------------------------------------------------------------
# Reshaping (module-level functions, so whole modules pickle)


def _flatten_fn(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def _reshape_fn(x: torch.Tensor, *, target: tuple[int, ...]) -> torch.Tensor:
    return x.reshape((x.shape[0],) + target)


def _permute_fn(x: torch.Tensor, *, dims: tuple[int, ...]) -> torch.Tensor:
    return x.permute(dims)


def _repeat_fn(x: torch.Tensor, *, n: int) -> torch.Tensor:
    return x.unsqueeze(1).expand(x.shape[0], n, *x.shape[1:])


@register("Flatten")
def _flatten(c: BuildContext) -> TfjsLayer:
    c.channels_last()
    return Lambda(c.name, c.cls, _flatten_fn)


@register("Reshape")
def _reshape(c: BuildContext) -> TfjsLayer:
    target = tuple(int(v) for v in c.opt("target_shape"))
    return Lambda(c.name, c.cls, partial(_reshape_fn, target=target))


@register("Permute")
def _permute(c: BuildContext) -> TfjsLayer:
    dims = (0,) + tuple(int(d) for d in c.opt("dims"))
    return Lambda(c.name, c.cls, partial(_permute_fn, dims=dims))


@register("RepeatVector")
def _repeat(c: BuildContext) -> TfjsLayer:
    n = int(c.opt("n"))
    return Lambda(c.name, c.cls, partial(_repeat_fn, n=n))
