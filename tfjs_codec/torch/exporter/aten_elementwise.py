"""Aten handlers for plumbing and elementwise ops: getitem, copies and casts, symbolic sizes,
unary math, logical ops, arithmetic (``add`` ... ``pow``), comparisons, ``where`` and ``clamp``.

Semantics are tfjs-converter 4.22's, as the project's graph interpreter runs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .aten_base import HANDLERS, Call, Handler, as_value, handles, norm_dim, same_dtype, target_key, tensor
from .tf_emit import Unsupported, Value
from .tf_graph import attr_type

# ------------------------------------------------------------------ plumbing


@handles("operator.getitem")
def _getitem(c: Call) -> Any:
    seq, i = c.args
    if isinstance(seq, (list, tuple)):
        item = seq[i]
        if item is None:
            raise Unsupported(f"output {i} of this op is not supported (max pooling indices, statistics)")
        return item
    raise Unsupported("indexing a value that is not a tuple")


@handles("clone", "alias", "lift_fresh_copy", "detach", "contiguous", "dropout", "_to_dim_order_copy")
def _identity(c: Call) -> Any:
    x = c.args[0]
    if isinstance(x, Value) and x.dtype != c.dtype and not x.sym:
        return c.e.cast(x, c.dtype)
    return x


@handles("_to_copy", "to")
def _to_copy(c: Call) -> Any:
    return c.e.cast(tensor(c, c.args[0]), c.dtype)


@handles("_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size", "_assert_async", "sym_constrain_range")
def _nothing(c: Call) -> Any:
    return None


@handles("sym_size")
def _sym_size(c: Call) -> Value:
    x, d = c.args[0], c.args[1]
    return c.e.dim(x, norm_dim(d, x.rank))


def _sym_binary(op: str, py: Callable[[int, int], int]) -> Handler:
    def fn(c: Call) -> Any:
        a, b = c.args
        if not isinstance(a, Value) and not isinstance(b, Value):
            return py(a, b)
        va, vb = as_value(c, a, "int32"), as_value(c, b, "int32")
        out = c.e.binary(op, va, vb, [], "int32")
        out.sym = True
        return out

    return fn


HANDLERS["operator.mul"] = _sym_binary("Mul", lambda a, b: a * b)
HANDLERS["operator.add"] = _sym_binary("AddV2", lambda a, b: a + b)
HANDLERS["operator.sub"] = _sym_binary("Sub", lambda a, b: a - b)
HANDLERS["operator.floordiv"] = _sym_binary("FloorDiv", lambda a, b: a // b)


# ------------------------------------------------------------------ elementwise


def _unary(op: str, attr: dict[str, Any] | None = None) -> Handler:
    def fn(c: Call) -> Value:
        if isinstance(c.args[0], Value) and c.args[0].dtype == "complex64":
            if op != "Abs":
                raise Unsupported(f"{op} of a complex tensor")
            return c.e.op(
                "ComplexAbs", [c.args[0]], {"T": attr_type("complex64"), "Tout": attr_type("float32")}, c.shape, "float32"
            )
        x = c.e.cast(tensor(c, c.args[0]), "float32" if c.dtype == "float32" else c.args[0].dtype)
        return c.e.unary(op, x, attr, c.dtype if op not in ("IsNan", "IsInf", "IsFinite") else "bool")

    return fn


for _aten, _tf in {
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "rsqrt": "Rsqrt",
    "neg": "Neg",
    "abs": "Abs",
    "erf": "Erf",
    "sin": "Sin",
    "cos": "Cos",
    "floor": "Floor",
    "ceil": "Ceil",
    "round": "Round",
    "sign": "Sign",
    "reciprocal": "Reciprocal",
    "log1p": "Log1p",
    "expm1": "Expm1",
    "isnan": "IsNan",
    "tan": "Tan",
    "asin": "Asin",
    "acos": "Acos",
    "atan": "Atan",
    "sinh": "Sinh",
    "cosh": "Cosh",
    "asinh": "Asinh",
    "acosh": "Acosh",
    "atanh": "Atanh",
}.items():
    HANDLERS[f"aten.{_aten}"] = _unary(_tf)


@handles("logical_not", "bitwise_not")
def _logical_not(c: Call) -> Value:
    x = tensor(c, c.args[0])
    if x.dtype != "bool":
        raise Unsupported("bitwise not of integers (tfjs has logical ops on bool only)")
    return c.e.op("LogicalNot", [x], None, x.shape, "bool")


def _logical(op: str) -> Handler:
    def fn(c: Call) -> Value:
        a, b = (c.e.cast(as_value(c, v, "bool"), "bool") for v in c.args[:2])
        return c.e.op(op, [a, b], None, c.shape, "bool")

    return fn


HANDLERS["aten.logical_and"] = _logical("LogicalAnd")
HANDLERS["aten.logical_or"] = _logical("LogicalOr")
HANDLERS["aten.bitwise_and"] = _logical("LogicalAnd")
HANDLERS["aten.bitwise_or"] = _logical("LogicalOr")


def _arith(op: str) -> Handler:
    def fn(c: Call) -> Value:
        a, b = c.args[0], c.args[1]
        alpha = c.kwargs.get("alpha", c.args[2] if len(c.args) > 2 else 1)
        dt = c.dtype
        va, vb = same_dtype(c, a, b, dt)
        if alpha != 1:
            vb = c.e.binary("Mul", vb, c.e.const(alpha, dt), vb.shape)
        return c.e.binary(op, va, vb, c.shape)

    return fn


HANDLERS["aten.add"] = _arith("AddV2")
HANDLERS["aten.sub"] = _arith("Sub")
HANDLERS["aten.mul"] = _arith("Mul")
HANDLERS["aten.maximum"] = _arith("Maximum")
HANDLERS["aten.minimum"] = _arith("Minimum")
HANDLERS["aten.atan2"] = _arith("Atan2")
HANDLERS["aten.remainder"] = _arith("FloorMod")
HANDLERS["aten.fmod"] = _arith("Mod")


@handles("rsub")
def _rsub(c: Call) -> Value:
    a, b = c.args[0], c.args[1]
    va, vb = same_dtype(c, a, b, c.dtype)
    return c.e.binary("Sub", vb, va, c.shape)


@handles("div")
def _div(c: Call) -> Value:
    a, b = c.args[0], c.args[1]
    mode = c.kwargs.get("rounding_mode")
    if mode is None:
        va, vb = same_dtype(c, a, b, "float32")
        if isinstance(b, (int, float)) and not isinstance(b, bool) and b != 0:
            return (
                c.e.binary("Mul", va, c.e.const(1.0 / b, "float32"), c.shape)
                if _exact_reciprocal(b)
                else c.e.binary("RealDiv", va, vb, c.shape)
            )
        return c.e.binary("RealDiv", va, vb, c.shape)
    dt = c.dtype
    va, vb = same_dtype(c, a, b, dt)
    if mode == "floor":
        return c.e.binary("FloorDiv", va, vb, c.shape)
    if dt == "int32":
        raise Unsupported("integer division rounding towards zero (tfjs' FloorDiv rounds down)")
    q = c.e.binary("RealDiv", va, vb, c.shape)
    return c.e.op("Mul", [c.e.unary("Sign", q), c.e.unary("Floor", c.e.unary("Abs", q))], {"T": attr_type(dt)}, c.shape, dt)


def _exact_reciprocal(b: float) -> bool:
    m, _ = math.frexp(float(b))
    return abs(m) == 0.5  # a power of two: x * (1/b) == x / b exactly


@handles("pow")
def _pow(c: Call) -> Value:
    a, b = c.args[0], c.args[1]
    if isinstance(a, Value) and not isinstance(b, Value):
        x = c.e.cast(a, c.dtype)
        if b == 2:
            return c.e.unary("Square", x)
        if b == 0.5:
            return c.e.unary("Sqrt", x)
        if b == 1:
            return x
        if b == -1:
            return c.e.unary("Reciprocal", x)
    va, vb = same_dtype(c, a, b, c.dtype)
    return c.e.binary("Pow", va, vb, c.shape)


def _compute_dtype(c: Call, *xs: Any) -> str:
    """The dtype two operands of a comparison meet in (torch's promotion, in tfjs dtypes)."""
    kinds = []
    for x in xs:
        if isinstance(x, Value):
            kinds.append(x.dtype)
        elif isinstance(x, bool):
            kinds.append("bool")
        elif isinstance(x, int):
            kinds.append("int")
        else:
            kinds.append("floatpy")
    if "float32" in kinds or "floatpy" in kinds:
        return "float32"
    if "int32" in kinds or "int" in kinds:
        return "int32"
    return "bool"


def _compare(op: str) -> Handler:
    def fn(c: Call) -> Value:
        a, b = c.args[0], c.args[1]
        dt = _compute_dtype(c, a, b)
        if dt == "bool" and op not in ("Equal", "NotEqual"):
            dt = "int32"
        va, vb = same_dtype(c, a, b, dt)
        return c.e.op(op, [va, vb], {"T": attr_type(dt)}, c.shape, "bool")

    return fn


for _aten, _tf in {
    "eq": "Equal",
    "ne": "NotEqual",
    "lt": "Less",
    "le": "LessEqual",
    "gt": "Greater",
    "ge": "GreaterEqual",
}.items():
    HANDLERS[f"aten.{_aten}"] = _compare(_tf)


@handles("where")
def _where(c: Call) -> Value:
    if len(c.args) < 3:
        raise Unsupported("where(condition) with one argument (its output size depends on the data)")
    cond = c.e.cast(as_value(c, c.args[0], "bool"), "bool")
    a, b = same_dtype(c, c.args[1], c.args[2], c.dtype)
    return c.e.op("SelectV2", [cond, a, b], {"T": attr_type(c.dtype)}, c.shape, c.dtype)


@handles("clamp", "clamp_min", "clamp_max", "hardtanh")
def _clamp(c: Call) -> Value:
    x = c.e.cast(tensor(c, c.args[0]), c.dtype)
    name = target_key(c.node.target)
    if name == "aten.clamp_min":
        lo, hi = c.args[1], None
    elif name == "aten.clamp_max":
        lo, hi = None, c.args[1]
    elif name == "aten.hardtanh":
        lo, hi = c.arg(1, "min_val", -1.0), c.arg(2, "max_val", 1.0)
    else:
        lo, hi = c.arg(1, "min"), c.arg(2, "max")
    if lo == 0 and hi == 6 and x.dtype == "float32":
        return c.e.unary("Relu6", x)
    if lo == 0 and hi is None and x.dtype == "float32":
        return c.e.unary("Relu", x)
    if lo is not None and hi is not None and not isinstance(lo, Value) and not isinstance(hi, Value):
        return c.e.op(
            "ClipByValue", [x, c.e.const(lo, c.dtype), c.e.const(hi, c.dtype)], {"T": attr_type(c.dtype)}, c.shape, c.dtype
        )
    y = x
    if lo is not None:
        y = c.e.binary("Maximum", y, c.e.cast(as_value(c, lo, c.dtype), c.dtype), c.shape)
    if hi is not None:
        y = c.e.binary("Minimum", y, c.e.cast(as_value(c, hi, c.dtype), c.dtype), c.shape)
    return y
