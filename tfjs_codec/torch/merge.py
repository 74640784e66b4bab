"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot."""

from __future__ import annotations

import torch

from .registry import BuildContext, Builder, TfjsLayer, register

__all__ = ["Dot", "Merge", "batch_dot"]


class Merge(TfjsLayer):
    def __init__(self, name: str, cls: str, op: str, axis: int = -1) -> None:
        super().__init__(name, cls)
        self.op = op
        self.axis = axis

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.op == "concat":
            return torch.cat(xs, dim=self.axis)
        out = xs[0]
        for x in xs[1:]:
            if self.op == "add" or self.op == "average":
                out = out + x
            elif self.op == "mul":
                out = out * x
            elif self.op == "max":
                out = torch.maximum(out, x)
            elif self.op == "min":
                out = torch.minimum(out, x)
        if self.op == "sub":
            out = xs[0] - xs[1]
        if self.op == "average":
            out = out / len(xs)
        return out


def _merge(op: str) -> Builder:
    def build(c: BuildContext) -> TfjsLayer:
        return Merge(c.name, c.cls, op, int(c.opt("axis", -1)) if op == "concat" else -1)

    return build


register("Concatenate")(_merge("concat"))
register("Add")(_merge("add"))
register("Subtract")(_merge("sub"))
register("Multiply")(_merge("mul"))
register("Average")(_merge("average"))
register("Maximum")(_merge("max"))
register("Minimum")(_merge("min"))


# ---------------------------------------------------------------------------
# Dot (tfjs-layers merge.ts batchDot)


def _l2_normalize(x: torch.Tensor, axis: int) -> torch.Tensor:
    # tfjs losses.l2Normalize: x / sqrt(max(sum(x^2), epsilon)) with epsilon 1e-7.
    return x / torch.sqrt(torch.clamp((x * x).sum(dim=axis, keepdim=True), min=1e-7))


def batch_dot(x: torch.Tensor, y: torch.Tensor, axes: tuple[int, int]) -> torch.Tensor:
    """tfjs' ``batchDot`` for inputs of rank 2 or 3 (axes already non-negative)."""
    xd, yd = x.dim(), y.dim()
    diff = abs(xd - yd)
    if xd > yd:
        y = y.reshape(tuple(y.shape) + (1,) * diff)
    elif yd > xd:
        x = x.reshape(tuple(x.shape) + (1,) * diff)
    if x.dim() == 2 and y.dim() == 2:
        out = (x * y).sum(dim=axes[0]) if axes[0] == axes[1] else (x.t() * y).sum(dim=axes[1])
    else:
        a = x.transpose(-1, -2) if axes[0] != x.dim() - 1 else x
        b = y.transpose(-1, -2) if axes[1] == y.dim() - 1 else y
        out = torch.matmul(a, b)
    if diff > 0:
        idx = xd + yd - 3 if xd > yd else xd - 1
        for axis in reversed(range(idx, idx + diff)):
            out = out.squeeze(axis)
    if out.dim() == 1:
        out = out.unsqueeze(1)
    return out


class Dot(TfjsLayer):
    """Dot of two inputs along ``axes`` (one per input; negative ones count from the end), per sample,
    after L2-normalizing both along those axes when ``normalize``."""

    def __init__(self, name: str, cls: str, axes: tuple[int, int], normalize: bool) -> None:
        super().__init__(name, cls)
        self.axes, self.normalize = axes, normalize

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        axes = tuple(a % t.dim() for a, t in zip(self.axes, (x1, x2), strict=True))
        if self.normalize:
            x1, x2 = _l2_normalize(x1, axes[0]), _l2_normalize(x2, axes[1])
        return batch_dot(x1, x2, (axes[0], axes[1]))


@register("Dot")
def _dot(c: BuildContext) -> TfjsLayer:
    axes = c.opt("axes")
    if isinstance(axes, int) and not isinstance(axes, bool):
        pair = (axes, axes)
    elif isinstance(axes, list) and len(axes) == 2 and all(isinstance(a, int) for a in axes):
        pair = (axes[0], axes[1])
    else:
        raise c.fail("axes", f"= {axes!r} is not an integer or a pair of integers")
    return Dot(c.name, c.cls, pair, bool(c.opt("normalize", False)))
