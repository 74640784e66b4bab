"""One handler per aten operator of a decomposed ``torch.export`` program -> TensorFlow ops.

A handler gets a :class:`Call` (the emitter, the fx node, its arguments with traced tensors as
:class:`~tfjs_codec.torch.exporter.tf_emit.Value` and everything else as Python values, and the
output's static shape and dtype) and returns a Value, or a list for several outputs. It raises
:class:`~tfjs_codec.torch.exporter.tf_emit.Unsupported` with the reason when it cannot express
the call exactly. Values are in torch's layout; ops that tfjs runs channels-last only
(convolutions, pooling, resizing, DepthToSpace) are wrapped in ``Transpose`` nodes, which the
layout pass (:mod:`~tfjs_codec.torch.exporter.tf_layout`) cancels between such ops.

Semantics are tfjs-converter 4.22's (``src/operations/executors/*.ts``), as the project's own
graph interpreter (:mod:`tfjs_codec.torch.graph`) runs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .tf_emit import Emitter, Unsupported, Value
from .tf_graph import attr_bool, attr_float, attr_int, attr_ints, attr_str, attr_type

__all__ = ["HANDLERS", "Call", "KEEP", "target_key", "REFUSED"]

NHWC = [0, 2, 3, 1]
NCHW = [0, 3, 1, 2]
#: Most negative float32: max-pool padding (a -inf weight would not survive quantization).
NEG = float(np.finfo(np.float32).min)


@dataclass
class Call:
    """One fx node being translated."""

    e: Emitter
    node: Any  # torch.fx.Node
    args: list[Any]
    kwargs: dict[str, Any]
    shape: tuple[int, ...] = ()
    dtype: str = "float32"
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)

    def arg(self, i: int, name: str, default: Any = None) -> Any:
        if i < len(self.args):
            return self.args[i]
        return self.kwargs.get(name, default)


Handler = Callable[[Call], Any]
HANDLERS: dict[str, Handler] = {}

#: aten ops kept whole instead of decomposed (run_decompositions), because one tfjs op does them.
KEEP = (
    "reflection_pad1d",
    "reflection_pad2d",
    "replication_pad1d",
    "replication_pad2d",
    "hardswish",
    "hardsigmoid",
    "silu",
    "mish",
    "softplus",
    "hardtanh",
    "prelu",
    "pixel_shuffle",
    "upsample_bilinear2d",
    "upsample_nearest2d",
    "gelu",
    "elu",
    "leaky_relu",
)

#: ops no tfjs op computes: the reason given for them.
REFUSED = {
    "aten._linalg_svd": "no TensorFlow.js op computes a singular value decomposition",
    "aten.linalg_svd": "no TensorFlow.js op computes a singular value decomposition",
    "aten._linalg_eigh": "no TensorFlow.js op computes an eigendecomposition",
    "aten.linalg_eigh": "no TensorFlow.js op computes an eigendecomposition",
    "aten._linalg_det": "no TensorFlow.js op computes a determinant",
    "aten.linalg_det": "no TensorFlow.js op computes a determinant",
    "aten.grid_sampler_2d": "tfjs 4.22 has no grid sampling op",
}


def target_key(target: Any) -> str:
    """``aten.add`` for ``torch.ops.aten.add.Tensor``; ``operator.getitem`` for Python's."""
    packet = getattr(target, "overloadpacket", None)
    if packet is not None:
        return str(packet)
    mod = getattr(target, "__module__", "") or ""
    return f"{'operator' if mod in ('_operator', 'operator') else mod}.{getattr(target, '__name__', str(target))}"


def handles(*names: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n if "." in n else f"aten.{n}"] = fn
        return fn

    return deco


# ------------------------------------------------------------------ helpers


def _norm_dim(d: int, rank: int) -> int:
    return d + rank if d < 0 else d


def _as_value(c: Call, x: Any, dtype: str) -> Value:
    """A tensor argument, or a Python number as a scalar constant of ``dtype``."""
    if isinstance(x, Value):
        return x
    return c.e.const(x, dtype)


def _tensor(c: Call, x: Any, what: str = "input") -> Value:
    if not isinstance(x, Value) or x.sym:
        raise Unsupported(f"{what} is not a tensor")
    return x


def _const_tensor(x: Any, what: str) -> torch.Tensor:
    if not isinstance(x, Value) or x.tensor is None:
        raise Unsupported(f"{what} must be a constant (a parameter or buffer), not computed from the inputs")
    return x.tensor


def _same_dtype(c: Call, a: Any, b: Any, dtype: str) -> tuple[Value, Value]:
    if dtype == "complex64":  # tfjs upcasts a float operand of a complex op itself
        va, vb = _as_value(c, a, "float32"), _as_value(c, b, "float32")
        return _complex_safe(c, va, vb), _complex_safe(c, vb, va)
    va, vb = _as_value(c, a, dtype), _as_value(c, b, dtype)
    return c.e.cast(va, dtype), c.e.cast(vb, dtype)


def _complex_safe(c: Call, v: Value, other: Value) -> Value:
    """A float operand of a complex op broadcast to the complex one's full shape first: tfjs 4.22's
    CPU backend gives NaN where a complex multiply broadcasts (complex * scalar, rows past the first)."""
    if v.dtype == "complex64" or other.dtype != "complex64" or list(v.shape) == list(other.shape):
        return v
    e = c.e
    if all(d >= 0 for d in other.shape):
        shape = e.int_vec(list(other.shape))
    else:
        shape = (
            e.op("Shape", [other], {"T": attr_type("complex64"), "out_type": attr_type("int32")}, [other.rank], "int32").ref or ""
        )
    return e.op("BroadcastTo", [v, shape], {"T": attr_type("float32"), "Tidx": attr_type("int32")}, other.shape, "float32")


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
    return c.e.cast(_tensor(c, c.args[0]), c.dtype)


@handles("_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size", "_assert_async", "sym_constrain_range")
def _nothing(c: Call) -> Any:
    return None


@handles("sym_size")
def _sym_size(c: Call) -> Value:
    x, d = c.args[0], c.args[1]
    return c.e.dim(x, _norm_dim(d, x.rank))


def _sym_binary(op: str, py: Callable[[int, int], int]) -> Handler:
    def fn(c: Call) -> Any:
        a, b = c.args
        if not isinstance(a, Value) and not isinstance(b, Value):
            return py(a, b)
        va, vb = _as_value(c, a, "int32"), _as_value(c, b, "int32")
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
        x = c.e.cast(_tensor(c, c.args[0]), "float32" if c.dtype == "float32" else c.args[0].dtype)
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
    x = _tensor(c, c.args[0])
    if x.dtype != "bool":
        raise Unsupported("bitwise not of integers (tfjs has logical ops on bool only)")
    return c.e.op("LogicalNot", [x], None, x.shape, "bool")


def _logical(op: str) -> Handler:
    def fn(c: Call) -> Value:
        a, b = (c.e.cast(_as_value(c, v, "bool"), "bool") for v in c.args[:2])
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
        va, vb = _same_dtype(c, a, b, dt)
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
    va, vb = _same_dtype(c, a, b, c.dtype)
    return c.e.binary("Sub", vb, va, c.shape)


@handles("div")
def _div(c: Call) -> Value:
    a, b = c.args[0], c.args[1]
    mode = c.kwargs.get("rounding_mode")
    if mode is None:
        va, vb = _same_dtype(c, a, b, "float32")
        if isinstance(b, (int, float)) and not isinstance(b, bool) and b != 0:
            return (
                c.e.binary("Mul", va, c.e.const(1.0 / b, "float32"), c.shape)
                if _exact_reciprocal(b)
                else c.e.binary("RealDiv", va, vb, c.shape)
            )
        return c.e.binary("RealDiv", va, vb, c.shape)
    dt = c.dtype
    va, vb = _same_dtype(c, a, b, dt)
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
    va, vb = _same_dtype(c, a, b, c.dtype)
    return c.e.binary("Pow", va, vb, c.shape)


def _compare(op: str) -> Handler:
    def fn(c: Call) -> Value:
        a, b = c.args[0], c.args[1]
        dt = _compute_dtype(c, a, b)
        if dt == "bool" and op not in ("Equal", "NotEqual"):
            dt = "int32"
        va, vb = _same_dtype(c, a, b, dt)
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
    cond = c.e.cast(_as_value(c, c.args[0], "bool"), "bool")
    a, b = _same_dtype(c, c.args[1], c.args[2], c.dtype)
    return c.e.op("SelectV2", [cond, a, b], {"T": attr_type(c.dtype)}, c.shape, c.dtype)


@handles("clamp", "clamp_min", "clamp_max", "hardtanh")
def _clamp(c: Call) -> Value:
    x = c.e.cast(_tensor(c, c.args[0]), c.dtype)
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
        y = c.e.binary("Maximum", y, c.e.cast(_as_value(c, lo, c.dtype), c.dtype), c.shape)
    if hi is not None:
        y = c.e.binary("Minimum", y, c.e.cast(_as_value(c, hi, c.dtype), c.dtype), c.shape)
    return y


# ------------------------------------------------------------------ activations


@handles("gelu")
def _gelu(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    e = c.e
    if c.kwargs.get("approximate", c.args[1] if len(c.args) > 1 else "none") == "tanh":
        cube = e.binary("Mul", e.unary("Square", x), x, x.shape)
        inner = e.binary("AddV2", x, e.binary("Mul", cube, e.const(0.044715, "float32"), x.shape), x.shape)
        t = e.unary("Tanh", e.binary("Mul", inner, e.const(math.sqrt(2.0 / math.pi), "float32"), x.shape))
    else:
        t = e.unary("Erf", e.binary("Mul", x, e.const(1.0 / math.sqrt(2.0), "float32"), x.shape))
    half = e.binary("Mul", x, e.const(0.5, "float32"), x.shape)
    return e.binary("Mul", half, e.binary("AddV2", t, e.const(1.0, "float32"), x.shape), x.shape)


@handles("silu")
def _silu(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    return c.e.binary("Mul", x, c.e.unary("Sigmoid", x), x.shape)


@handles("hardsigmoid")
def _hardsigmoid(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    r = c.e.unary("Relu6", c.e.binary("AddV2", x, c.e.const(3.0, "float32"), x.shape))
    return c.e.binary("Mul", r, c.e.const(1.0 / 6.0, "float32"), x.shape)


@handles("hardswish")
def _hardswish(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    r = c.e.unary("Relu6", c.e.binary("AddV2", x, c.e.const(3.0, "float32"), x.shape))
    return c.e.binary("Mul", c.e.binary("Mul", x, r, x.shape), c.e.const(1.0 / 6.0, "float32"), x.shape)


def _softplus_v(c: Call, x: Value, beta: float = 1.0) -> Value:
    if beta == 1:
        return c.e.unary("Softplus", x)
    s = c.e.unary("Softplus", c.e.binary("Mul", x, c.e.const(beta, "float32"), x.shape))
    return c.e.binary("Mul", s, c.e.const(1.0 / beta, "float32"), x.shape)


@handles("softplus")
def _softplus(c: Call) -> Value:
    return _softplus_v(c, _tensor(c, c.args[0]), float(c.arg(1, "beta", 1.0)))


@handles("mish")
def _mish(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    return c.e.binary("Mul", x, c.e.unary("Tanh", _softplus_v(c, x)), x.shape)


@handles("elu")
def _elu(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    alpha, scale, in_scale = float(c.arg(1, "alpha", 1.0)), float(c.arg(2, "scale", 1.0)), float(c.arg(3, "input_scale", 1.0))
    if in_scale == 1 and abs(alpha - 1.6732632423543772) < 1e-6 and abs(scale - 1.0507009873554805) < 1e-6:
        return c.e.unary("Selu", x)
    if in_scale != 1:
        raise Unsupported(f"elu with input_scale {in_scale}")
    y = c.e.unary("Elu", x)
    if alpha != 1:  # elu_alpha(x) = x > 0 ? x : alpha * elu(x)
        neg = c.e.binary("Mul", y, c.e.const(alpha, "float32"), x.shape)
        y = c.e.op(
            "SelectV2",
            [c.e.op("Greater", [x, c.e.const(0.0, "float32")], {"T": attr_type("float32")}, x.shape, "bool"), y, neg],
            {"T": attr_type("float32")},
            x.shape,
            "float32",
        )
    if scale != 1:
        y = c.e.binary("Mul", y, c.e.const(scale, "float32"), x.shape)
    return y


@handles("leaky_relu")
def _leaky(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    return c.e.unary("LeakyRelu", x, {"alpha": attr_float(float(c.arg(1, "negative_slope", 0.01)))})


@handles("prelu", "_prelu_kernel")
def _prelu(c: Call) -> Value:
    x, w = _tensor(c, c.args[0]), c.args[1]
    wt = w.tensor if isinstance(w, Value) else None
    if wt is None:
        raise Unsupported("prelu weight computed from the inputs")
    if wt.numel() > 1 and x.rank > 2:
        alpha = c.e.const(wt.reshape([-1] + [1] * (x.rank - 2)), "float32", name=w.name)
    else:
        alpha = c.e.const(wt.reshape(-1) if wt.numel() > 1 else wt.reshape(()), "float32", name=w.name)
    return c.e.op("Prelu", [x, alpha], {"T": attr_type("float32")}, x.shape, "float32")


def _softmax_like(op: str) -> Handler:
    def fn(c: Call) -> Value:
        x = c.e.cast(_tensor(c, c.args[0]), "float32")
        d = _norm_dim(c.args[1], x.rank)
        if d == x.rank - 1:
            return c.e.unary(op, x)
        perm = list(range(x.rank))
        perm[d], perm[-1] = perm[-1], perm[d]
        return c.e.transpose(c.e.unary(op, c.e.transpose(x, perm)), perm)

    return fn


HANDLERS["aten._softmax"] = _softmax_like("Softmax")
HANDLERS["aten._log_softmax"] = _softmax_like("LogSoftmax")
HANDLERS["aten.softmax"] = _softmax_like("Softmax")
HANDLERS["aten.log_softmax"] = _softmax_like("LogSoftmax")


# ------------------------------------------------------------------ matmul


@handles("mm", "bmm", "matmul")
def _mm(c: Call) -> Value:
    a, b = (c.e.cast(_tensor(c, x), "float32") for x in c.args[:2])
    if a.rank == 2 and b.rank == 2:
        return c.e.op(
            "MatMul",
            [a, b],
            {"T": attr_type("float32"), "transpose_a": attr_bool(False), "transpose_b": attr_bool(False)},
            c.shape,
            "float32",
        )
    if a.rank < 2 or b.rank < 2:
        raise Unsupported("matmul of a vector")
    return c.e.op(
        "BatchMatMulV2",
        [a, b],
        {"T": attr_type("float32"), "adj_x": attr_bool(False), "adj_y": attr_bool(False)},
        c.shape,
        "float32",
    )


@handles("addmm")
def _addmm(c: Call) -> Value:
    bias, a, b = c.args[:3]
    beta, alpha = c.kwargs.get("beta", 1), c.kwargs.get("alpha", 1)
    y = c.e.op(
        "MatMul",
        [_tensor(c, a), _tensor(c, b)],
        {"T": attr_type("float32"), "transpose_a": attr_bool(False), "transpose_b": attr_bool(False)},
        c.shape,
        "float32",
    )
    if alpha != 1:
        y = c.e.binary("Mul", y, c.e.const(alpha, "float32"), c.shape)
    bv = _as_value(c, bias, "float32")
    if beta != 1:
        bv = c.e.binary("Mul", bv, c.e.const(beta, "float32"), bv.shape)
    if bv.rank == 1:
        return c.e.op("BiasAdd", [y, bv], {"T": attr_type("float32"), "data_format": attr_str("NHWC")}, c.shape, "float32")
    return c.e.binary("AddV2", y, bv, c.shape)


# ------------------------------------------------------------------ convolution


def _conv_padding(
    size: tuple[int, int], k: tuple[int, int], s: tuple[int, int], d: tuple[int, int], p: Sequence[int]
) -> str | None:
    """'VALID' / 'SAME' when torch's symmetric padding ``p`` is exactly that, else None."""
    if not any(p):
        return "VALID"
    for i in range(2):
        eff = (k[i] - 1) * d[i] + 1
        out = -(-size[i] // s[i])
        total = max((out - 1) * s[i] + eff - size[i], 0)
        if total // 2 != p[i] or total - total // 2 != p[i]:
            return None
        if (size[i] + 2 * p[i] - eff) // s[i] + 1 != out:
            return None
    return "SAME"


def _pad_nhwc(c: Call, x: Value, pads: Sequence[tuple[int, int]], value: float = 0.0) -> Value:
    """``x`` (NHWC) padded by ``pads`` = [(top, bottom), (left, right)]."""
    if not any(a or b for a, b in pads):
        return x
    spec = [[0, 0], list(pads[0]), list(pads[1]), [0, 0]]
    shape = [x.shape[0], x.shape[1] + sum(pads[0]), x.shape[2] + sum(pads[1]), x.shape[3]]
    const = c.e.g.const(c.e._name("paddings"), np.asarray(spec, dtype=np.int32))
    if value == 0.0:
        return c.e.op("Pad", [x, const], {"T": attr_type(x.dtype), "Tpaddings": attr_type("int32")}, shape, x.dtype)
    return c.e.op(
        "PadV2", [x, const, c.e.const(value, x.dtype)], {"T": attr_type(x.dtype), "Tpaddings": attr_type("int32")}, shape, x.dtype
    )


def _conv2d_nhwc(
    c: Call,
    x: Value,
    w: np.ndarray,
    stride: tuple[int, int],
    dil: tuple[int, int],
    pad: Sequence[int],
    name: str | None,
    depthwise: bool = False,
) -> Value:
    """One Conv2D / DepthwiseConv2dNative on NHWC ``x`` with the TF kernel ``w`` ([kh, kw, in, out|mult])."""
    kh, kw = w.shape[0], w.shape[1]
    if stride != (1, 1) and dil != (1, 1):
        # tfjs: "Either strides or dilations must be 1": every stride-th output of the stride-1 convolution
        x = _pad_nhwc(c, x, [(pad[0], pad[0]), (pad[1], pad[1])])
        y = _conv2d_nhwc(c, x, w, (1, 1), dil, [0, 0], name, depthwise)
        ho, wo = (y.shape[1] - 1) // stride[0] + 1, (y.shape[2] - 1) // stride[1] + 1
        return _strided_slice(
            c,
            y,
            [0, 0, 0, 0],
            [0, 0, 0, 0],
            [1, stride[0], stride[1], 1],
            begin_mask=15,
            end_mask=15,
            shape=[y.shape[0], ho, wo, y.shape[3]],
        )
    size = (x.shape[1], x.shape[2])
    padding = _conv_padding(size, (kh, kw), stride, dil, pad)
    if padding is None:
        x = _pad_nhwc(c, x, [(pad[0], pad[0]), (pad[1], pad[1])])
        padding = "VALID"
        size = (x.shape[1], x.shape[2])
    ho = (size[0] + (2 * pad[0] if padding == "SAME" else 0) - (kh - 1) * dil[0] - 1) // stride[0] + 1
    wo = (size[1] + (2 * pad[1] if padding == "SAME" else 0) - (kw - 1) * dil[1] - 1) // stride[1] + 1
    cout = w.shape[2] * w.shape[3] if depthwise else w.shape[3]
    kernel = c.e.g.const(name or c.e._name("kernel"), w)
    attrs = {
        "T": attr_type("float32"),
        "strides": attr_ints([1, stride[0], stride[1], 1]),
        "padding": attr_str(padding),
        "data_format": attr_str("NHWC"),
        "dilations": attr_ints([1, dil[0], dil[1], 1]),
    }
    if depthwise:
        return c.e.op("DepthwiseConv2dNative", [x, kernel], attrs, [x.shape[0], ho, wo, cout], "float32")
    attrs["explicit_paddings"] = {"list": {}}
    attrs["use_cudnn_on_gpu"] = attr_bool(True)
    return c.e.op("Conv2D", [x, kernel], attrs, [x.shape[0], ho, wo, cout], "float32", name="Conv2D")


@handles("convolution", "_convolution")
def _convolution(c: Call) -> Value:
    x, wv, bv = c.args[0], c.args[1], c.args[2]
    stride, padding, dilation, transposed, out_pad, groups = c.args[3:9]
    x = c.e.cast(_tensor(c, x), "float32")
    w = _const_tensor(wv, "the convolution weight").detach().to(torch.float32)
    wname = wv.name
    if x.rank == 3:  # conv1d: as a 2-D convolution over (1, L)
        x4 = c.e.op(
            "ExpandDims",
            [x, c.e.int_scalar(2)],
            {"T": attr_type("float32"), "Tdim": attr_type("int32")},
            [x.shape[0], x.shape[1], 1, x.shape[2]],
            "float32",
        )
        y4 = _conv_core(
            c,
            x4,
            w.unsqueeze(2),
            bv,
            [1, stride[0]],
            [0, padding[0]],
            [1, dilation[0]],
            transposed,
            [0, out_pad[0]],
            groups,
            wname,
        )
        return c.e.op("Squeeze", [y4], {"T": attr_type("float32"), "squeeze_dims": attr_ints([2])}, c.shape, "float32")
    if x.rank != 4:
        raise Unsupported(f"{x.rank - 2}-D convolution (tfjs graph models run 1-D and 2-D ones here)")
    return _conv_core(c, x, w, bv, list(stride), list(padding), list(dilation), transposed, list(out_pad), groups, wname)


def _conv_core(
    c: Call,
    x: Value,
    w: torch.Tensor,
    bv: Any,
    stride: list[int],
    padding: list[int],
    dilation: list[int],
    transposed: bool,
    out_pad: list[int],
    groups: int,
    wname: str | None,
) -> Value:
    e = c.e
    xn = e.transpose(x, NHWC)
    s, d = (stride[0], stride[1]), (dilation[0], dilation[1])
    if transposed:
        y = _deconv(c, xn, w, s, d, padding, out_pad, groups, wname)
    else:
        cin = x.shape[1]
        cout = w.shape[0]
        wt = w.permute(2, 3, 1, 0).contiguous().numpy()  # [kh, kw, in/groups, out]
        if groups == 1:
            y = _conv2d_nhwc(c, xn, wt, s, d, padding, wname)
        elif groups == cin:
            mult = cout // cin
            dw = w.reshape(cin, mult, w.shape[2], w.shape[3]).permute(2, 3, 0, 1).contiguous().numpy()
            y = _conv2d_nhwc(c, xn, dw, s, d, padding, wname, depthwise=True)
        else:  # grouped: one Conv2D per group on a split of the channels
            per_in, per_out = cin // groups, cout // groups
            parts = e.multi(
                "Split",
                [e.int_scalar(3), xn],
                {"T": attr_type("float32"), "num_split": attr_int(groups)},
                [[xn.shape[0], xn.shape[1], xn.shape[2], per_in]] * groups,
                ["float32"] * groups,
            )
            outs = [
                _conv2d_nhwc(
                    c,
                    parts[g],
                    wt[:, :, :, g * per_out : (g + 1) * per_out],
                    s,
                    d,
                    padding,
                    f"{wname}/group{g}" if wname else None,
                )
                for g in range(groups)
            ]
            y = e.op(
                "ConcatV2",
                [*outs, e.int_scalar(3)],
                {"T": attr_type("float32"), "N": attr_int(groups), "Tidx": attr_type("int32")},
                [*outs[0].shape[:3], cout],
                "float32",
            )
    if bv is not None:
        bias = e.const(_const_tensor(bv, "the convolution bias").to(torch.float32), "float32", name=bv.name)
        y = e.op("BiasAdd", [y, bias], {"T": attr_type("float32"), "data_format": attr_str("NHWC")}, y.shape, "float32")
    return e.transpose(y, NCHW)


def _deconv(
    c: Call,
    xn: Value,
    w: torch.Tensor,
    s: tuple[int, int],
    d: tuple[int, int],
    padding: list[int],
    out_pad: list[int],
    groups: int,
    wname: str | None,
) -> Value:
    e = c.e
    if d != (1, 1):
        raise Unsupported(f"dilation {list(d)} on a transposed convolution (tfjs' conv2dTranspose has no dilation)")
    if groups != 1:
        raise Unsupported(f"groups={groups} on a transposed convolution")
    cin, cout, kh, kw = w.shape
    h, wd = xn.shape[1], xn.shape[2]
    full_h, full_w = (h - 1) * s[0] + kh + out_pad[0], (wd - 1) * s[1] + kw + out_pad[1]
    kernel = e.g.const(wname or e._name("kernel"), w.permute(2, 3, 1, 0).contiguous().numpy())  # [kh, kw, out, in]
    sizes = e.shape_vector([e.dim(xn, 0) if xn.shape[0] < 0 else xn.shape[0], full_h, full_w, cout])
    y = e.op(
        "Conv2DBackpropInput",
        [sizes, kernel, xn],
        {
            "T": attr_type("float32"),
            "strides": attr_ints([1, s[0], s[1], 1]),
            "padding": attr_str("VALID"),
            "data_format": attr_str("NHWC"),
            "dilations": attr_ints([1, 1, 1, 1]),
            "explicit_paddings": {"list": {}},
            "use_cudnn_on_gpu": attr_bool(True),
        },
        [xn.shape[0], full_h, full_w, cout],
        "float32",
    )
    ho = (h - 1) * s[0] - 2 * padding[0] + kh + out_pad[0]
    wo = (wd - 1) * s[1] - 2 * padding[1] + kw + out_pad[1]
    if (ho, wo) != (full_h, full_w):
        y = _strided_slice(
            c,
            y,
            [0, padding[0], padding[1], 0],
            [0, padding[0] + ho, padding[1] + wo, 0],
            [1, 1, 1, 1],
            begin_mask=0b1001,
            end_mask=0b1001,
            shape=[xn.shape[0], ho, wo, cout],
        )
    return y


def _strided_slice(
    c: Call,
    x: Value,
    begin: list[int],
    end: list[int],
    strides: list[int],
    *,
    begin_mask: int = 0,
    end_mask: int = 0,
    shrink: int = 0,
    shape: Sequence[int],
) -> Value:
    e = c.e
    return e.op(
        "StridedSlice",
        [x, e.int_vec(begin), e.int_vec(end), e.int_vec(strides)],
        {
            "T": attr_type(x.dtype),
            "Index": attr_type("int32"),
            "begin_mask": attr_int(begin_mask),
            "end_mask": attr_int(end_mask),
            "ellipsis_mask": attr_int(0),
            "new_axis_mask": attr_int(0),
            "shrink_axis_mask": attr_int(shrink),
        },
        shape,
        x.dtype,
    )


# ------------------------------------------------------------------ normalization


def _channel_const(e: Emitter, t: torch.Tensor, rank: int, name: str) -> Value:
    """A per-channel vector (dim 1 of a rank-``rank`` tensor) shaped to broadcast: [C, 1, 1]."""
    t = t.detach().to(torch.float32)
    return e.const(t.reshape([-1] + [1] * (rank - 2)) if rank > 2 else t.reshape(-1), "float32", name=name)


@handles("_native_batch_norm_legit_no_training", "_native_batch_norm_legit", "native_batch_norm")
def _batch_norm(c: Call) -> list[Any]:
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
    key = target_key(c.node.target)
    overload = c.node.target._overloadname
    if key == "aten._native_batch_norm_legit" and overload == "no_stats":
        w, b = c.args[1], c.args[2]
        eps = float(c.args[5])
        axes = [0] + list(range(2, x.rank))
        return [_normalize(c, x, axes, eps, w, b, per_channel=True), None, None]
    if key == "aten._native_batch_norm_legit_no_training":
        w, b, mean, var, eps = c.args[1], c.args[2], c.args[3], c.args[4], c.args[6]
    else:
        w, b, mean, var, eps = c.args[1], c.args[2], c.args[3], c.args[4], c.args[7]
        if c.args[5]:  # batch statistics (no running statistics tracked)
            axes = [0] + list(range(2, x.rank))
            return [_normalize(c, x, axes, float(eps), w, b, per_channel=True), None, None]
    m = _const_tensor(mean, "running_mean").to(torch.float64)
    v = _const_tensor(var, "running_var").to(torch.float64)
    scale = 1.0 / torch.sqrt(v + float(eps))
    if w is not None:
        scale = scale * _const_tensor(w, "batch norm weight").to(torch.float64)
    shift = -m * scale
    if b is not None:
        shift = shift + _const_tensor(b, "batch norm bias").to(torch.float64)
    e = c.e
    y = e.binary("Mul", x, _channel_const(e, scale, x.rank, e._name("scale")), x.shape)
    y = e.binary("AddV2", y, _channel_const(e, shift, x.rank, e._name("offset")), x.shape)
    return [y, None, None]


def _normalize(
    c: Call,
    x: Value,
    axes: list[int],
    eps: float,
    w: Any,
    b: Any,
    *,
    per_channel: bool,
    affine_shape: Sequence[int] | None = None,
) -> Value:
    """(x - mean) * rsqrt(var + eps) over ``axes`` (biased variance), then * w + b."""
    e = c.e
    kshape = [1 if i in axes else d for i, d in enumerate(x.shape)]
    mean = e.reduce("Mean", x, axes, True, kshape)
    var = e.reduce("Mean", e.binary("SquaredDifference", x, mean, x.shape), axes, True, kshape)
    inv = e.unary("Rsqrt", e.binary("AddV2", var, e.const(float(eps), "float32"), kshape))
    y = e.binary("Mul", e.binary("Sub", x, mean, x.shape), inv, x.shape)
    for v, op in ((w, "Mul"), (b, "AddV2")):
        if v is None:
            continue
        if isinstance(v, Value) and v.tensor is not None:
            t = v.tensor.to(torch.float32)
            cv = _channel_const(e, t, x.rank, v.name or e._name("affine")) if per_channel else e.const(t, "float32", name=v.name)
        else:
            cv = _tensor(c, v)
            if per_channel and x.rank > 2 and cv.rank == 1:
                cv = e.op(
                    "Reshape",
                    [cv, e.int_vec([-1] + [1] * (x.rank - 2))],
                    {"T": attr_type(cv.dtype), "Tshape": attr_type("int32")},
                    [cv.shape[0]] + [1] * (x.rank - 2),
                    cv.dtype,
                )
        y = e.binary(op, y, cv, x.shape)
    return y


@handles("native_layer_norm")
def _layer_norm(c: Call) -> list[Any]:
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
    n = len(c.args[1])
    axes = list(range(x.rank - n, x.rank))
    return [_normalize(c, x, axes, float(c.args[4]), c.args[2], c.args[3], per_channel=False), None, None]


@handles("native_group_norm")
def _group_norm(c: Call) -> list[Any]:
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
    w, b, groups, eps = c.args[1], c.args[2], int(c.args[6]), float(c.args[7])
    e = c.e
    ch = x.shape[1]
    rest = int(np.prod(x.shape[2:])) if x.rank > 2 else 1
    g = e.reshape(
        x,
        [e.dim(x, 0) if x.shape[0] < 0 else x.shape[0], groups, (ch // groups) * rest],
        [x.shape[0], groups, (ch // groups) * rest],
    )
    y = _normalize(c, g, [2], eps, None, None, per_channel=False)
    y = e.reshape(y, [e.dim(x, 0) if x.shape[0] < 0 else x.shape[0], *x.shape[1:]], x.shape)
    for v, op in ((w, "Mul"), (b, "AddV2")):
        if v is not None:
            y = e.binary(op, y, _channel_const(e, _const_tensor(v, "group norm affine"), x.rank, v.name), x.shape)
    return [y, None, None]


# ------------------------------------------------------------------ pooling


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


@handles("max_pool2d_with_indices", "max_pool2d")
def _max_pool(c: Call) -> Any:
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
    k = _pair(c.args[1])
    s = _pair(c.arg(2, "stride", []) or k)
    p = _pair(c.arg(3, "padding", 0))
    d = _pair(c.arg(4, "dilation", 1))
    ceil = bool(c.arg(5, "ceil_mode", False))
    if d != [1, 1]:
        raise Unsupported(f"dilation {d} on max pooling (tfjs' maxPool has none)")
    e = c.e
    xn = e.transpose(x, NHWC)
    outs = [_pool_out(x.shape[2 + i], k[i], s[i], p[i], 1, ceil) for i in range(2)]
    extra = [max((outs[i] - 1) * s[i] + k[i] - (x.shape[2 + i] + 2 * p[i]), 0) for i in range(2)]
    xn = _pad_nhwc(c, xn, [(p[0], p[0] + extra[0]), (p[1], p[1] + extra[1])], NEG)
    y = e.op(
        "MaxPool",
        [xn],
        {
            "T": attr_type("float32"),
            "ksize": attr_ints([1, k[0], k[1], 1]),
            "strides": attr_ints([1, s[0], s[1], 1]),
            "padding": attr_str("VALID"),
            "data_format": attr_str("NHWC"),
        },
        [x.shape[0], outs[0], outs[1], x.shape[1]],
        "float32",
    )
    out = e.transpose(y, NCHW)
    return [out, None] if target_key(c.node.target) == "aten.max_pool2d_with_indices" else out


@handles("avg_pool2d")
def _avg_pool(c: Call) -> Value:
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
    k = _pair(c.args[1])
    s = _pair(c.arg(2, "stride", []) or k)
    p = _pair(c.arg(3, "padding", 0))
    ceil = bool(c.arg(4, "ceil_mode", False))
    include = bool(c.arg(5, "count_include_pad", True))
    override = c.arg(6, "divisor_override", None)
    e = c.e
    size = [x.shape[2], x.shape[3]]
    outs = [_pool_out(size[i], k[i], s[i], p[i], 1, ceil) for i in range(2)]
    extra = [max((outs[i] - 1) * s[i] + k[i] - (size[i] + 2 * p[i]), 0) for i in range(2)]
    xn = _pad_nhwc(c, e.transpose(x, NHWC), [(p[0], p[0] + extra[0]), (p[1], p[1] + extra[1])])
    y = e.op(
        "AvgPool",
        [xn],
        {
            "T": attr_type("float32"),
            "ksize": attr_ints([1, k[0], k[1], 1]),
            "strides": attr_ints([1, s[0], s[1], 1]),
            "padding": attr_str("VALID"),
            "data_format": attr_str("NHWC"),
        },
        [x.shape[0], outs[0], outs[1], x.shape[1]],
        "float32",
    )
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
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
    oh, ow = _pair(c.args[1])
    h, w = x.shape[-2], x.shape[-1]
    e = c.e
    if (oh, ow) == (1, 1):
        return e.reduce("Mean", x, [x.rank - 2, x.rank - 1], True, c.shape)
    if h % oh == 0 and w % ow == 0 and x.rank == 4:
        kh, kw = h // oh, w // ow
        y = e.op(
            "AvgPool",
            [e.transpose(x, NHWC)],
            {
                "T": attr_type("float32"),
                "ksize": attr_ints([1, kh, kw, 1]),
                "strides": attr_ints([1, kh, kw, 1]),
                "padding": attr_str("VALID"),
                "data_format": attr_str("NHWC"),
            },
            [x.shape[0], oh, ow, x.shape[1]],
            "float32",
        )
        return e.transpose(y, NCHW)
    # separable averaging: P_h @ x @ P_w^T
    ph = e.const(torch.from_numpy(_adaptive_matrix(h, oh).astype(np.float32)), "float32")
    pw = e.const(torch.from_numpy(_adaptive_matrix(w, ow).T.copy().astype(np.float32)), "float32")
    bmm = {"T": attr_type("float32"), "adj_x": attr_bool(False), "adj_y": attr_bool(False)}
    t = e.op("BatchMatMulV2", [x, pw], bmm, [*x.shape[:-1], ow], "float32")
    return e.op("BatchMatMulV2", [ph, t], bmm, c.shape, "float32")


@handles("adaptive_max_pool2d")
def _adaptive_max(c: Call) -> list[Any]:
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
    oh, ow = _pair(c.args[1])
    h, w = x.shape[-2], x.shape[-1]
    e = c.e
    if x.rank != 4 or h % oh or w % ow:
        raise Unsupported(f"adaptive max pooling of {h}x{w} to {oh}x{ow} (windows of unequal sizes)")
    kh, kw = h // oh, w // ow
    y = e.op(
        "MaxPool",
        [e.transpose(x, NHWC)],
        {
            "T": attr_type("float32"),
            "ksize": attr_ints([1, kh, kw, 1]),
            "strides": attr_ints([1, kh, kw, 1]),
            "padding": attr_str("VALID"),
            "data_format": attr_str("NHWC"),
        },
        [x.shape[0], oh, ow, x.shape[1]],
        "float32",
    )
    return [e.transpose(y, NCHW), None]


# ------------------------------------------------------------------ resize / pixel shuffle


def _resize_size(c: Call, x: Value) -> tuple[int, int, list[float] | None]:
    size, scales = c.args[1], c.args[-1]
    oh, ow = c.shape[2], c.shape[3]
    return oh, ow, list(scales) if scales is not None and size is None else None


@handles("upsample_bilinear2d")
def _bilinear(c: Call) -> Value:
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
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
    x = _tensor(c, c.args[0])
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
    y = _gather(c, x, torch.tensor(want_h), 2)
    return _gather(c, y, torch.tensor(want_w), 3)


def _gather(c: Call, x: Value, idx: torch.Tensor | Value, axis: int) -> Value:
    e = c.e
    if isinstance(idx, Value) and idx.tensor is not None and idx.ref is None:
        idx = idx.tensor
    if isinstance(idx, torch.Tensor) and x.shape[axis] >= 0:
        idx = torch.remainder(idx.to(torch.int64), x.shape[axis])  # torch wraps negative indices; tfjs' gather does not
    iv = idx if isinstance(idx, Value) else e.const(idx.to(torch.int32), "int32")
    iv = e.cast(iv, "int32")
    shape = [*x.shape[:axis], *iv.shape, *x.shape[axis + 1 :]]
    return e.op(
        "GatherV2",
        [x, iv, e.int_scalar(axis)],
        {"Tparams": attr_type(x.dtype), "Tindices": attr_type("int32"), "Taxis": attr_type("int32"), "batch_dims": attr_int(0)},
        shape,
        x.dtype,
    )


@handles("pixel_shuffle")
def _pixel_shuffle(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    r = int(c.args[1])
    if x.rank != 4:
        raise Unsupported("pixel_shuffle of a tensor that is not 4-D")
    e = c.e
    cout = x.shape[1] // (r * r)
    # torch channel ch*r*r + i*r + j -> DepthToSpace's (i*r + j)*cout + ch
    order = [ch * r * r + k for k in range(r * r) for ch in range(cout)]
    xn = _gather(c, e.transpose(x, NHWC), torch.tensor(order), 3)
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
    x = _tensor(c, c.args[0])
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
    x = _tensor(c, c.args[0])
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
    x = _tensor(c, c.args[0])
    pad = list(c.args[1])
    y = x
    for i in range(len(pad) // 2):
        axis = x.rank - 1 - i
        n = x.shape[axis]
        idx = torch.clamp(torch.arange(-pad[2 * i], n + pad[2 * i + 1]), 0, n - 1)
        y = _gather(c, y, idx, axis)
    return y


# ------------------------------------------------------------------ shapes


def _dims(c: Call, x: Value, sizes: Sequence[Any]) -> list[int | Value]:
    return [s if isinstance(s, Value) else int(s) for s in sizes]


@handles("view", "_unsafe_view", "reshape")
def _view(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    return c.e.reshape(x, _dims(c, x, c.args[1]), c.shape)


@handles("permute")
def _permute(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    return c.e.transpose(x, [_norm_dim(d, x.rank) for d in c.args[1]])


@handles("t", "transpose")
def _transpose(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    perm = list(range(x.rank))
    if x.rank >= 2:
        a, b = (_norm_dim(c.args[1], x.rank), _norm_dim(c.args[2], x.rank)) if len(c.args) > 2 else (0, 1)
        perm[a], perm[b] = perm[b], perm[a]
    return c.e.transpose(x, perm)


@handles("unsqueeze")
def _unsqueeze(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    d = _norm_dim(c.args[1], x.rank + 1)
    if x.is_const and x.ref is None:
        assert x.tensor is not None
        return c.e.const(x.tensor.unsqueeze(d), name=x.name)
    return c.e.op("ExpandDims", [x, c.e.int_scalar(d)], {"T": attr_type(x.dtype), "Tdim": attr_type("int32")}, c.shape, x.dtype)


@handles("squeeze")
def _squeeze(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    dims = c.args[1] if len(c.args) > 1 else list(range(x.rank))
    dims = [dims] if isinstance(dims, int) else list(dims)
    dims = [_norm_dim(d, x.rank) for d in dims if x.shape[_norm_dim(d, x.rank)] == 1]
    if not dims:
        return x
    return c.e.op("Squeeze", [x], {"T": attr_type(x.dtype), "squeeze_dims": attr_ints(dims)}, c.shape, x.dtype)


@handles("expand")
def _expand(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    sizes = list(c.args[1])
    lead = len(sizes) - x.rank
    dims: list[int | Value] = []
    for i, s in enumerate(sizes):
        if isinstance(s, Value):
            dims.append(s)
        elif s == -1:
            xi = i - lead
            dims.append(x.shape[xi] if x.shape[xi] >= 0 else c.e.dim(x, xi))
        else:
            dims.append(int(s))
    if len(sizes) == x.rank and all(
        (not isinstance(d, Value) and d == x.shape[i]) or (isinstance(d, Value) and x.shape[i] < 0 and sizes[i] == -1)
        for i, d in enumerate(dims)
    ):
        return x
    shape = c.e.shape_vector(dims)
    return c.e.op("BroadcastTo", [x, shape], {"T": attr_type(x.dtype), "Tidx": attr_type("int32")}, c.shape, x.dtype)


@handles("repeat")
def _repeat(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    reps = [r if isinstance(r, Value) else int(r) for r in c.args[1]]
    e = c.e
    if len(reps) > x.rank:
        lead = len(reps) - x.rank
        new = [1] * lead + list(x.shape)
        x = e.reshape(x, [e.dim(x, i - lead) if d < 0 else d for i, d in enumerate(new)], new)
    return e.op("Tile", [x, e.shape_vector(reps)], {"T": attr_type(x.dtype), "Tmultiples": attr_type("int32")}, c.shape, x.dtype)


@handles("flip")
def _flip(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    axes = [_norm_dim(d, x.rank) for d in c.args[1]]
    return c.e.op("ReverseV2", [x, c.e.int_vec(axes)], {"T": attr_type(x.dtype), "Tidx": attr_type("int32")}, x.shape, x.dtype)


@handles("cat", "concat")
def _cat(c: Call) -> Value:
    xs = [x for x in c.args[0] if not (isinstance(x, Value) and 0 in x.shape and x.rank == 1)]
    d = c.arg(1, "dim", 0)
    xs = [c.e.cast(_as_value(c, x, c.dtype), c.dtype) for x in xs]
    axis = _norm_dim(d, xs[0].rank)
    if len(xs) == 1:
        only: Value = xs[0]
        return only
    return c.e.op(
        "ConcatV2",
        [*xs, c.e.int_scalar(axis)],
        {"T": attr_type(c.dtype), "N": attr_int(len(xs)), "Tidx": attr_type("int32")},
        c.shape,
        c.dtype,
    )


@handles("split_with_sizes", "split")
def _split(c: Call) -> list[Value]:
    x = _tensor(c, c.args[0])
    sizes = c.args[1]
    axis = _norm_dim(c.arg(2, "dim", 0), x.rank)
    n = x.shape[axis]
    if isinstance(sizes, int):
        sizes = [min(sizes, n - i) for i in range(0, n, sizes)]
    shapes = [[*x.shape[:axis], s, *x.shape[axis + 1 :]] for s in sizes]
    return c.e.multi(
        "SplitV",
        [x, c.e.int_vec(sizes), c.e.int_scalar(axis)],
        {"T": attr_type(x.dtype), "Tlen": attr_type("int32"), "num_split": attr_int(len(sizes))},
        shapes,
        [x.dtype] * len(sizes),
    )


@handles("unbind")
def _unbind(c: Call) -> list[Value]:
    x = _tensor(c, c.args[0])
    axis = _norm_dim(c.arg(1, "dim", 0), x.rank)
    n = x.shape[axis]
    shape = [*x.shape[:axis], *x.shape[axis + 1 :]]
    return c.e.multi(
        "Unpack", [x], {"T": attr_type(x.dtype), "num": attr_int(n), "axis": attr_int(axis)}, [shape] * n, [x.dtype] * n
    )


_BIG = 2**62


@handles("slice")
def _slice(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    axis = _norm_dim(c.arg(1, "dim", 0), x.rank)
    start, end, step = c.arg(2, "start", None), c.arg(3, "end", None), c.arg(4, "step", 1)
    n = x.shape[axis]
    if isinstance(start, Value) or isinstance(end, Value):
        raise Unsupported("slice bounds computed from the input's size")
    start = 0 if start is None else start
    end = _BIG if end is None else end
    if n < 0:
        if start == 0 and end >= _BIG // 2 and step == 1:
            return x
        if start < 0 or end < 0:
            raise Unsupported("a slice of the batch dimension with negative bounds")
        begin_v, end_v = start, min(end, 2**31 - 1)
    else:
        begin_v, end_v = (start + n if start < 0 else start), (end + n if end < 0 else end)
        begin_v, end_v = min(max(begin_v, 0), n), min(max(end_v, 0), n)
        if begin_v == 0 and end_v == n and step == 1:
            return x
    begin, endl, strides = [0] * x.rank, [0] * x.rank, [1] * x.rank
    begin[axis], endl[axis], strides[axis] = begin_v, end_v, step
    mask = ((1 << x.rank) - 1) & ~(1 << axis)
    return _strided_slice(c, x, begin, endl, strides, begin_mask=mask, end_mask=mask, shape=c.shape)


@handles("select")
def _select(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    axis = _norm_dim(c.args[1], x.rank)
    i = c.args[2]
    if isinstance(i, Value):
        raise Unsupported("select at an index computed from the input")
    n = x.shape[axis]
    if i < 0:
        if n < 0:
            raise Unsupported("select with a negative index on the batch dimension")
        i += n
    begin, end, strides = [0] * x.rank, [0] * x.rank, [1] * x.rank
    begin[axis], end[axis] = i, i + 1
    mask = ((1 << x.rank) - 1) & ~(1 << axis)
    return _strided_slice(c, x, begin, end, strides, begin_mask=mask, end_mask=mask, shrink=1 << axis, shape=c.shape)


@handles("embedding")
def _embedding(c: Call) -> Value:
    w, ids = c.args[0], c.args[1]
    return _gather(c, _tensor(c, w), _tensor(c, ids), 0)


@handles("index_select")
def _index_select(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    return _gather(c, x, _tensor(c, c.args[2]), _norm_dim(c.args[1], x.rank))


@handles("index")
def _index(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    idxs = list(c.args[1])
    used = [i for i, v in enumerate(idxs) if v is not None]
    if any(isinstance(idxs[i], Value) and idxs[i].dtype == "bool" for i in used):
        raise Unsupported("boolean-mask indexing (its output size depends on the data)")
    if len(used) == 1:
        i = used[0]
        return _gather(c, x, _tensor(c, idxs[i]), i)
    if used != list(range(used[0], used[0] + len(used))):
        raise Unsupported("indexing with tensors on dimensions that are not adjacent")
    # outer-product indices (each varying along its own dim of the broadcast shape): one gather per dim
    consts = [idxs[i].tensor if isinstance(idxs[i], Value) else None for i in used]
    if any(t is None for t in consts):
        raise Unsupported("indexing several dimensions with tensors computed from the input")
    tensors = [t for t in consts if t is not None]
    shape = torch.broadcast_shapes(*[t.shape for t in tensors])  # type: ignore[no-untyped-call]
    if len(shape) != len(tensors):
        raise Unsupported("indexing several dimensions with index tensors that are not an outer product")
    lines = []
    for k, t in enumerate(tensors):
        full = t.expand(shape)
        line = full.movedim(k, 0).reshape(shape[k], -1)[:, 0]
        expect = line.reshape([-1 if j == k else 1 for j in range(len(shape))]).expand(shape)
        if not torch.equal(expect, full):
            raise Unsupported("indexing several dimensions with index tensors that are not an outer product")
        lines.append(line)
    y = x
    for k, line in enumerate(lines):
        y = _gather(c, y, line, used[0] + k)
    return y


# ------------------------------------------------------------------ reductions


def _axes(x: Value, dims: Any) -> list[int]:
    if dims is None or dims == []:
        return list(range(x.rank))
    if isinstance(dims, int):
        dims = [dims]
    return sorted(_norm_dim(d, x.rank) for d in dims)


def _reduction(op: str) -> Handler:
    def fn(c: Call) -> Value:
        x = _tensor(c, c.args[0])
        dims = c.arg(1, "dim", None)
        keep = bool(c.arg(2, "keepdim", False))
        if op in ("Mean",) or c.dtype == "float32":
            x = c.e.cast(x, c.dtype if op not in ("Any", "All") else "bool")
        if op in ("Sum", "Prod") and x.dtype == "bool":
            x = c.e.cast(x, "int32")
        if op in ("Any", "All"):
            x = c.e.cast(x, "bool")
            return c.e.op(
                op, [x, c.e.int_vec(_axes(x, dims))], {"Tidx": attr_type("int32"), "keep_dims": attr_bool(keep)}, c.shape, "bool"
            )
        return c.e.reduce(op, x, _axes(x, dims), keep, c.shape)

    return fn


HANDLERS["aten.mean"] = _reduction("Mean")
HANDLERS["aten.sum"] = _reduction("Sum")
HANDLERS["aten.amax"] = _reduction("Max")
HANDLERS["aten.amin"] = _reduction("Min")
HANDLERS["aten.any"] = _reduction("Any")
HANDLERS["aten.all"] = _reduction("All")


@handles("prod")
def _prod(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    dims = c.args[1] if len(c.args) > 1 else None
    keep = bool(c.arg(2, "keepdim", False))
    x = c.e.cast(x, c.dtype)
    return c.e.reduce("Prod", x, _axes(x, dims), keep, c.shape)


@handles("var")
def _var(c: Call) -> Value:
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
    dims = c.arg(1, "dim", None)
    correction = c.kwargs.get("correction", 1)
    correction = 1 if correction is None else correction
    keep = bool(c.kwargs.get("keepdim", False))
    axes = _axes(x, dims)
    n = int(np.prod([x.shape[a] for a in axes]))
    e = c.e
    kshape = [1 if i in axes else d for i, d in enumerate(x.shape)]
    mean = e.reduce("Mean", x, axes, True, kshape)
    v = e.reduce("Mean", e.binary("SquaredDifference", x, mean, x.shape), axes, keep, c.shape)
    if correction:
        v = e.binary("Mul", v, e.const(n / (n - correction), "float32"), c.shape)
    return v


@handles("argmax", "argmin")
def _argmax(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    dim, keep = c.arg(1, "dim", None), bool(c.arg(2, "keepdim", False))
    e = c.e
    if dim is None:
        x = e.reshape(x, [-1], [int(np.prod(x.shape))])
        dim = 0
    axis = _norm_dim(dim, x.rank)
    op = "ArgMax" if target_key(c.node.target) == "aten.argmax" else "ArgMin"
    shape = [d for i, d in enumerate(x.shape) if i != axis]
    y = e.op(
        op,
        [x, e.int_scalar(axis)],
        {"T": attr_type(x.dtype), "Tidx": attr_type("int32"), "output_type": attr_type("int32")},
        shape,
        "int32",
    )
    if keep:
        y = e.op("ExpandDims", [y, e.int_scalar(axis)], {"T": attr_type("int32"), "Tdim": attr_type("int32")}, c.shape, "int32")
    return y


@handles("cumsum")
def _cumsum(c: Call) -> Value:
    x = c.e.cast(_tensor(c, c.args[0]), c.dtype)
    axis = _norm_dim(c.args[1], x.rank)
    return c.e.op(
        "Cumsum",
        [x, c.e.int_scalar(axis)],
        {"T": attr_type(x.dtype), "Tidx": attr_type("int32"), "exclusive": attr_bool(False), "reverse": attr_bool(False)},
        x.shape,
        x.dtype,
    )


def _topk_last(c: Call, x: Value, k: int, axis: int, largest: bool) -> tuple[Value, Value]:
    e = c.e
    perm = list(range(x.rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    xt = e.transpose(x, perm)
    if not largest:
        xt = e.unary("Neg", xt)
    shape = [*xt.shape[:-1], k]
    vals, idx = e.multi(
        "TopKV2", [xt, e.int_scalar(k)], {"T": attr_type(x.dtype), "sorted": attr_bool(True)}, [shape, shape], [x.dtype, "int32"]
    )
    if not largest:
        vals = e.unary("Neg", vals)
    return e.transpose(vals, perm), e.transpose(idx, perm)


@handles("topk")
def _topk(c: Call) -> list[Value]:
    x = _tensor(c, c.args[0])
    k = int(c.args[1])
    axis = _norm_dim(c.arg(2, "dim", -1), x.rank)
    largest = bool(c.arg(3, "largest", True))
    return list(_topk_last(c, x, k, axis, largest))


@handles("sort")
def _sort(c: Call) -> list[Value]:
    x = _tensor(c, c.args[0])
    axis = _norm_dim(c.arg(1, "dim", -1), x.rank)
    descending = bool(c.arg(2, "descending", False))
    if x.shape[axis] < 0:
        raise Unsupported("sort along the batch dimension")
    return list(_topk_last(c, x, x.shape[axis], axis, descending))


# ------------------------------------------------------------------ tensors made in forward


def _fill(c: Call, like: Value | None, sizes: Sequence[Any] | None, value: Any) -> Value:
    e = c.e
    dt = c.dtype
    if all(d >= 0 for d in c.shape):
        return e.const(torch.full(c.shape, value), dt)
    if like is not None:
        shape = (
            e.op("Shape", [like], {"T": attr_type(like.dtype), "out_type": attr_type("int32")}, [like.rank], "int32").ref or ""
        )
    else:
        assert sizes is not None
        shape = e.shape_vector([s if isinstance(s, Value) else int(s) for s in sizes])
    return e.op("Fill", [shape, e.const(value, dt)], {"T": attr_type(dt), "index_type": attr_type("int32")}, c.shape, dt)


@handles("full")
def _full(c: Call) -> Value:
    return _fill(c, None, c.args[0], c.args[1])


@handles("full_like")
def _full_like(c: Call) -> Value:
    return _fill(c, _tensor(c, c.args[0]), None, c.args[1])


@handles("zeros_like", "ones_like")
def _zeros_like(c: Call) -> Value:
    return _fill(c, _tensor(c, c.args[0]), None, 0 if target_key(c.node.target) == "aten.zeros_like" else 1)


@handles("zeros", "ones", "new_zeros", "new_ones")
def _zeros(c: Call) -> Value:
    key = target_key(c.node.target)
    sizes = c.args[1] if key.startswith("aten.new_") else c.args[0]
    return _fill(c, None, sizes, 1 if key.endswith("ones") else 0)


@handles("arange")
def _arange(c: Call) -> Value:
    args = list(c.args)
    start, end, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], args[2] if len(args) > 2 else 1)
    e = c.e
    dt = c.dtype
    vs = [e.cast(_as_value(c, v, dt), dt) for v in (start, end, step)]
    return e.op("Range", vs, {"Tidx": attr_type(dt)}, c.shape, dt)


@handles("scalar_tensor")
def _scalar_tensor(c: Call) -> Value:
    v = c.args[0]
    if isinstance(v, Value):
        return c.e.cast(v, c.dtype)
    return c.e.const(v, c.dtype)


# ------------------------------------------------------------------ more reductions and gathers


@handles("max", "min")
def _max_min(c: Call) -> Any:
    x = _tensor(c, c.args[0])
    is_max = target_key(c.node.target) == "aten.max"
    op = "Max" if is_max else "Min"
    if len(c.args) < 2 or isinstance(c.args[1], Value):
        if len(c.args) >= 2:  # max(a, b): elementwise
            a, b = _same_dtype(c, x, c.args[1], c.dtype)
            return c.e.binary("Maximum" if is_max else "Minimum", a, b, c.shape)
        return c.e.reduce(op, x, list(range(x.rank)), False, c.shape)
    axis = _norm_dim(c.args[1], x.rank)
    keep = bool(c.arg(2, "keepdim", False))
    vals_shape, idx_shape = c.shapes[0], c.shapes[1]
    vals = c.e.reduce(op, x, [axis], keep, vals_shape)
    reduced = [d for i, d in enumerate(x.shape) if i != axis]
    idx = c.e.op(
        "ArgMax" if is_max else "ArgMin",
        [x, c.e.int_scalar(axis)],
        {"T": attr_type(x.dtype), "Tidx": attr_type("int32"), "output_type": attr_type("int32")},
        reduced,
        "int32",
    )
    if keep:
        idx = c.e.op(
            "ExpandDims", [idx, c.e.int_scalar(axis)], {"T": attr_type("int32"), "Tdim": attr_type("int32")}, idx_shape, "int32"
        )
    return [vals, idx]


@handles("var_mean")
def _var_mean(c: Call) -> list[Value]:
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
    dims = c.arg(1, "dim", None)
    correction = c.kwargs.get("correction", 1)
    correction = 1 if correction is None else correction
    keep = bool(c.kwargs.get("keepdim", False))
    axes = _axes(x, dims)
    n = int(np.prod([x.shape[a] for a in axes]))
    e = c.e
    kshape = [1 if i in axes else d for i, d in enumerate(x.shape)]
    mean = e.reduce("Mean", x, axes, True, kshape)
    v = e.reduce("Mean", e.binary("SquaredDifference", x, mean, x.shape), axes, keep, c.shapes[0])
    if correction:
        v = e.binary("Mul", v, e.const(n / (n - correction), "float32"), c.shapes[0])
    m = mean if keep else e.reduce("Mean", x, axes, False, c.shapes[1])
    return [v, m]


@handles("linalg_vector_norm")
def _vector_norm(c: Call) -> Value:
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
    order = float(c.arg(1, "ord", 2))
    axes = _axes(x, c.arg(2, "dim", None))
    keep = bool(c.arg(3, "keepdim", False))
    e = c.e
    if order == 2:
        return e.unary("Sqrt", e.reduce("Sum", e.unary("Square", x), axes, keep, c.shape))
    if order == 1:
        return e.reduce("Sum", e.unary("Abs", x), axes, keep, c.shape)
    if order == math.inf:
        return e.reduce("Max", e.unary("Abs", x), axes, keep, c.shape)
    if order == -math.inf:
        return e.reduce("Min", e.unary("Abs", x), axes, keep, c.shape)
    p = e.binary("Pow", e.unary("Abs", x), e.const(order, "float32"), x.shape)
    return e.binary("Pow", e.reduce("Sum", p, axes, keep, c.shape), e.const(1.0 / order, "float32"), c.shape)


@handles("gather")
def _torch_gather(c: Call) -> Value:
    x, dim, idx = _tensor(c, c.args[0]), c.args[1], _tensor(c, c.args[2])
    axis = _norm_dim(dim, x.rank)
    e = c.e
    if x.rank != idx.rank:
        raise Unsupported("gather with an index of another rank")
    for i in range(x.rank):
        if i != axis and idx.shape[i] != x.shape[i]:
            if idx.shape[i] < 0 or x.shape[i] < 0:
                raise Unsupported("gather with an index smaller than the input on the batch dimension")
            end = [0] * x.rank
            end[i] = idx.shape[i]
            mask = ((1 << x.rank) - 1) & ~(1 << i)
            x = _strided_slice(
                c,
                x,
                [0] * x.rank,
                end,
                [1] * x.rank,
                begin_mask=mask,
                end_mask=mask,
                shape=[idx.shape[i] if j == i else d for j, d in enumerate(x.shape)],
            )
    perm = list(range(x.rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    xt, it = e.transpose(x, perm), e.cast(e.transpose(idx, perm), "int32")
    r = x.rank - 1
    y = e.op(
        "GatherV2",
        [xt, it, e.int_scalar(r)],
        {"Tparams": attr_type(x.dtype), "Tindices": attr_type("int32"), "Taxis": attr_type("int32"), "batch_dims": attr_int(r)},
        list(it.shape),
        x.dtype,
    )
    return e.transpose(y, perm)


# ------------------------------------------------------------------ spectral


def _to_last(c: Call, x: Value, dims: Any) -> tuple[Value, list[int]]:
    ds = [dims] if isinstance(dims, int) else list(dims)
    if len(ds) != 1:
        raise Unsupported(f"a {len(ds)}-D FFT (tfjs' RFFT / IRFFT transform the innermost dimension only)")
    axis = _norm_dim(ds[0], x.rank)
    perm = list(range(x.rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    return c.e.transpose(x, perm), perm


@handles("_fft_r2c")
def _rfft(c: Call) -> Value:
    x = c.e.cast(_tensor(c, c.args[0]), "float32")
    norm, onesided = int(c.args[2]), bool(c.args[3])
    if not onesided:
        raise Unsupported("a two-sided real FFT (torch.fft.fft of a real tensor): use torch.fft.rfft")
    xt, perm = _to_last(c, x, c.args[1])
    n = xt.shape[-1]
    y = c.e.op(
        "RFFT",
        [xt, c.e.int_vec([n])],
        {"Treal": attr_type("float32"), "Tcomplex": attr_type("complex64")},
        [*xt.shape[:-1], n // 2 + 1],
        "complex64",
    )
    if norm:
        scale = c.e.const(1.0 / math.sqrt(n) if norm == 1 else 1.0 / n, "float32")
        y = c.e.binary("Mul", y, _complex_safe(c, scale, y), y.shape)
    return c.e.transpose(y, perm)


@handles("_fft_c2r")
def _irfft(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    norm, n = int(c.args[2]), int(c.args[3])
    xt, perm = _to_last(c, x, c.args[1])
    m = xt.shape[-1]
    if m <= 2 or n != 2 * (m - 1):
        raise Unsupported(f"irfft to {n} points from {m} bins (tfjs' IRFFT gives 2 * (bins - 1), for more than 2 bins)")
    y = c.e.op(
        "IRFFT",
        [xt, c.e.int_vec([n])],
        {"Treal": attr_type("float32"), "Tcomplex": attr_type("complex64")},
        [*xt.shape[:-1], n],
        "float32",
    )
    if norm != 2:  # IRFFT divides by n ("backward"); torch asks for none (0) or 1 / sqrt(n) (1)
        y = c.e.binary("Mul", y, c.e.const(float(n) if norm == 0 else math.sqrt(n), "float32"), y.shape)
    return c.e.transpose(y, perm)


@handles("view_as_real")
def _view_as_real(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    re = c.e.op("Real", [x], {"T": attr_type("complex64"), "Tout": attr_type("float32")}, x.shape, "float32")
    im = c.e.op("Imag", [x], {"T": attr_type("complex64"), "Tout": attr_type("float32")}, x.shape, "float32")
    return c.e.op("Pack", [re, im], {"T": attr_type("float32"), "N": attr_int(2), "axis": attr_int(x.rank)}, c.shape, "float32")


@handles("real", "imag")
def _real_imag(c: Call) -> Value:
    x = _tensor(c, c.args[0])
    op = "Real" if target_key(c.node.target) == "aten.real" else "Imag"
    if x.dtype != "complex64":
        return x if op == "Real" else c.e.const(torch.zeros(c.shape), "float32")
    return c.e.op(op, [x], {"T": attr_type("complex64"), "Tout": attr_type("float32")}, c.shape, "float32")
