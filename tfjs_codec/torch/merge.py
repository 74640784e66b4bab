"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""

from __future__ import annotations

import torch

from .registry import BuildContext, Builder, TfjsLayer, register

__all__ = ["Merge"]


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
