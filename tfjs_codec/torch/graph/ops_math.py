"""Element-wise arithmetic, unary math, comparisons, logical ops, reductions and Cast.

Semantics of tfjs-converter 4.22 (``arithmetic_executor``, ``basic_math_executor``,
``logical_executor``, ``reduction_executor``): int32 ``RealDiv``/``Div`` is a
floor division and ``FloorDiv`` is int32 even on floats (tfjs-backend-cpu's
kernel), ``FloorMod`` takes the divisor's sign, reductions take their
axes from the second input and ``keep_dims`` from the attribute, ``ArgMax``/
``ArgMin`` return int32 (tfjs has no int64).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .registry import Node, register, validator
from .values import ints, norm_axis, scalar_int


def _is_int(t: torch.Tensor) -> bool:
    return not (t.is_floating_point() or t.is_complex()) and t.dtype != torch.bool


def _binary(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[..., torch.Tensor]:
    def op(node: Node, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return fn(a, b)

    return op


register("Add", "AddV2")(_binary(torch.add))
register("Sub")(_binary(torch.sub))
register("Mul")(_binary(torch.mul))
register("Maximum")(_binary(torch.maximum))
register("Minimum")(_binary(torch.minimum))
register("Pow")(_binary(torch.pow))
register("Atan2")(_binary(torch.atan2))


@register("BiasAdd")
def _bias_add(node: Node, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A broadcast add, as tfjs (which ignores ``data_format``)."""
    return x + b


@register("SquaredDifference")
def _sqdiff(node: Node, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = a - b
    return d * d


def floor_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """tfjs ``floorDiv``: ``floor(a / b)``, always int32 (tfjs-backend-cpu's kernel output dtype)."""
    if _is_int(a) and _is_int(b):
        return torch.div(a, b, rounding_mode="floor").to(torch.int32)
    return torch.floor(a / b).to(torch.int32)


@register("RealDiv", "Div")
def _div(node: Node, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if _is_int(a) and _is_int(b):
        return floor_div(a, b)
    return a / b


@register("FloorDiv")
def _floordiv(node: Node, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return floor_div(a, b)


@register("DivNoNan")
def _div_no_nan(node: Node, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    q = floor_div(a, b) if _is_int(a) and _is_int(b) else a / b
    return torch.where(b == 0, torch.zeros_like(q), q)


@register("FloorMod", "Mod")
def _mod(node: Node, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.remainder(a, b)


@register("AddN")
def _add_n(node: Node, *xs: torch.Tensor) -> torch.Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def _unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[..., torch.Tensor]:
    def op(node: Node, x: torch.Tensor) -> torch.Tensor:
        return fn(x)

    return op


def _float_op(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``fn`` on a float view of int inputs (tfjs computes unary math on float32 values)."""

    def op(x: torch.Tensor) -> torch.Tensor:
        return fn(x if x.is_floating_point() or x.is_complex() else x.float())

    return op


for _name, _fn in {
    "Acos": torch.acos,
    "Acosh": torch.acosh,
    "Asin": torch.asin,
    "Asinh": torch.asinh,
    "Atan": torch.atan,
    "Atanh": torch.atanh,
    "Cos": torch.cos,
    "Cosh": torch.cosh,
    "Erf": torch.erf,
    "Exp": torch.exp,
    "Expm1": torch.expm1,
    "Log": torch.log,
    "Log1p": torch.log1p,
    "Rsqrt": torch.rsqrt,
    "Sin": torch.sin,
    "Sinh": torch.sinh,
    "Sqrt": torch.sqrt,
    "Tan": torch.tan,
}.items():
    register(_name)(_unary(_float_op(_fn)))

register("Abs", "ComplexAbs")(_unary(torch.abs))
register("Real")(_unary(lambda x: x.real if x.is_complex() else x))
register("Imag")(_unary(lambda x: x.imag if x.is_complex() else torch.zeros_like(x)))
# tfjs-converter's spectral executor: rfft / irfft of the innermost dimension, full length (fft_length not read)
register("RFFT")(lambda node, x, *_: torch.fft.rfft(x.float()).to(torch.complex64))
register("IRFFT")(lambda node, x, *_: torch.fft.irfft(x.to(torch.complex64)).to(torch.float32))
register("Neg")(_unary(torch.neg))
register("Sign")(_unary(torch.sign))
register("Square")(_unary(lambda x: x * x))
register("Ceil")(_unary(torch.ceil))
register("Floor")(_unary(torch.floor))
register("Round")(_unary(torch.round))  # half to even, as tfjs
register("IsNan")(_unary(torch.isnan))
register("IsInf")(_unary(torch.isinf))
register("IsFinite")(_unary(torch.isfinite))
register("LogicalNot")(_unary(torch.logical_not))


@register("Reciprocal")
def _reciprocal(node: Node, x: torch.Tensor) -> torch.Tensor:
    """``1 / x``; on int32, tfjs' kernel stores ``1 / x`` in an Int32Array: 1, -1, else 0 (1/0 too)."""
    if _is_int(x):
        return torch.where(x.abs() == 1, x, torch.zeros_like(x))
    return 1.0 / x


@register("ClipByValue")
def _clip(node: Node, x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    return torch.minimum(torch.maximum(x, lo), hi)


register("Equal")(_binary(torch.eq))
register("NotEqual")(_binary(torch.ne))
register("Greater")(_binary(torch.gt))
register("GreaterEqual")(_binary(torch.ge))
register("Less")(_binary(torch.lt))
register("LessEqual")(_binary(torch.le))
register("LogicalAnd")(_binary(torch.logical_and))
register("LogicalOr")(_binary(torch.logical_or))


@register("Select", "SelectV2")
def _select(node: Node, cond: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """tfjs ``where``: the condition broadcast against the values."""
    if node.op == "Select" and cond.dim() == 1 and a.dim() > 1:  # TF1 Select picks rows
        cond = cond.reshape([-1] + [1] * (a.dim() - 1))
    return torch.where(cond.bool(), a, b)


# --------------------------------------------------------------------------
# Cast


@validator("Cast")
def _check_cast(node: Node) -> str | None:
    dst = node.attr("DstT")
    return None if isinstance(dst, torch.dtype) else f"cast to {node.raw_attr.get('DstT')!r}"


@register("Cast")
def _cast(node: Node, x: torch.Tensor) -> torch.Tensor:
    dst = node.attr("DstT")
    if dst == torch.bool:
        return x != 0
    return x.to(dst)  # float -> int truncates towards zero, as tfjs


# --------------------------------------------------------------------------
# reductions


def _axes(x: torch.Tensor, axis: Any) -> list[int]:
    return sorted({norm_axis(a, x.dim()) for a in ints(axis)})


def _reduce(fn: Callable[[torch.Tensor, list[int], bool], torch.Tensor]) -> Callable[..., torch.Tensor]:
    def op(node: Node, x: torch.Tensor, axis: Any) -> torch.Tensor:
        axes = _axes(x, axis)
        keep = bool(node.attr("keep_dims", False))
        if not axes:
            return x
        return fn(x, axes, keep)

    return op


def _sum(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    out = torch.sum(x, dim=axes, keepdim=keep)
    return out.to(torch.int32) if x.dtype in (torch.int32, torch.bool) else out


def _mean(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    if x.is_floating_point() or x.is_complex():
        return torch.mean(x, dim=axes, keepdim=keep)
    return torch.mean(x.float(), dim=axes, keepdim=keep)


def _prod(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    out = x
    for a in sorted(axes, reverse=True):
        out = torch.prod(out, dim=a, keepdim=keep)
    return out.to(torch.int32) if x.dtype in (torch.int32, torch.bool) else out


def _amax(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    return torch.amax(x, dim=axes, keepdim=keep)


def _amin(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    return torch.amin(x, dim=axes, keepdim=keep)


def _all(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    out = x.bool()
    for a in sorted(axes, reverse=True):
        out = torch.all(out, dim=a, keepdim=keep)
    return out


def _any(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    out = x.bool()
    for a in sorted(axes, reverse=True):
        out = torch.any(out, dim=a, keepdim=keep)
    return out


def _euclidean(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    return torch.sqrt(torch.sum(x * x, dim=axes, keepdim=keep))


register("Sum", static=(1,))(_reduce(_sum))
register("Mean", static=(1,))(_reduce(_mean))
register("Prod", static=(1,))(_reduce(_prod))
register("Max", static=(1,))(_reduce(_amax))
register("Min", static=(1,))(_reduce(_amin))
register("All", static=(1,))(_reduce(_all))
register("Any", static=(1,))(_reduce(_any))
register("EuclideanNorm", static=(1,))(_reduce(_euclidean))


@register("ArgMax", static=(1,))
def _argmax(node: Node, x: torch.Tensor, axis: Any) -> torch.Tensor:
    return torch.argmax(x, dim=norm_axis(scalar_int(axis), x.dim())).to(torch.int32)


@register("ArgMin", static=(1,))
def _argmin(node: Node, x: torch.Tensor, axis: Any) -> torch.Tensor:
    return torch.argmin(x, dim=norm_axis(scalar_int(axis), x.dim())).to(torch.int32)


@register("Cumsum", "Cumprod", static=(1,))
def _cumulative(node: Node, x: torch.Tensor, axis: Any) -> torch.Tensor:
    """tfjs ``cumsum`` / ``cumprod`` with ``exclusive`` and ``reverse``."""
    dim = norm_axis(scalar_int(axis), x.dim())
    exclusive, reverse = bool(node.attr("exclusive", False)), bool(node.attr("reverse", False))
    v = torch.flip(x, [dim]) if reverse else x
    if node.op == "Cumsum":
        out = torch.cumsum(v, dim)
        if exclusive:
            out = out - v
    else:
        if exclusive:
            ones = torch.ones_like(v.narrow(dim, 0, 1))
            v = torch.cat([ones, v.narrow(dim, 0, v.shape[dim] - 1)], dim)
        out = torch.cumprod(v, dim)
    out = torch.flip(out, [dim]) if reverse else out
    return out.to(x.dtype)
