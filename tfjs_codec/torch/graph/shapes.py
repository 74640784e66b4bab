"""Shape arithmetic in the generated forward as Python ints, not tensors.

A graph often computes a shape from a runtime tensor's shape: ``Shape`` ->
``StridedSlice`` -> ``Pack`` with constants -> ``Reshape``, or ``Shape`` ->
``StridedSlice`` -> ``Mul`` by a constant -> ``ResizeBilinear``. Run as tensor
ops, the sizes become tensors the consumer reads back with ``.tolist()``,
which ``torch.export`` and ``torch.compile`` can only treat as data-dependent
values. Here such nodes are written as Python expressions on ``x.shape``
instead (``v_shape = list(x.shape)``, ``v_strided_slice = v_shape[0]``,
``v_stack = [v_strided_slice, 16, 3]``): ints when eager (the same values as
the tensors held), symbolic sizes when traced.

A value of this *shape domain* is a Python int (a scalar) or a list of ints (a
vector). :func:`shape_expression` gives the source of a node's value when its
op has a rule here and its inputs are shape-domain values or small integer
constants; a consumer that needs a tensor gets ``torch.tensor(v, dtype=torch.int32)``,
the tensor the op would have made.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from .registry import Node

__all__ = ["Arg", "shape_expression", "RUNTIME", "int_binary"]

SCALAR, VECTOR = "scalar", "vector"


class Arg:
    """One input as the rules see it: a shape-domain variable, or a constant's value.

    Attributes:
        src: the source text of the value (a variable name, or a literal).
        kind: ``"scalar"`` or ``"vector"``.
        value: the constant's Python value (int or list of ints), or None for a variable.
    """

    __slots__ = ("src", "kind", "value")

    def __init__(self, src: str, kind: str, value: Any = None) -> None:
        self.src, self.kind, self.value = src, kind, value


def int_binary(fn: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """``fn`` element-wise on two shape-domain values, a scalar broadcast against a vector."""
    if isinstance(a, list):
        if isinstance(b, list):
            if len(b) == 1 and len(a) != 1:
                b = b * len(a)
            elif len(a) == 1 and len(b) != 1:
                a = a * len(b)
            return [fn(x, y) for x, y in zip(a, b, strict=True)]
        return [fn(x, b) for x in a]
    if isinstance(b, list):
        return [fn(a, y) for y in b]
    return fn(a, b)


#: Names the generated source uses for these helpers (installed as globals of the forward).
RUNTIME: dict[str, Any] = {
    "prod": math.prod,
    "int_binary": int_binary,
    "mul": operator.mul,
    "add": operator.add,
    "sub": operator.sub,
    "floordiv": operator.floordiv,
    "floormod": operator.mod,
    "maximum": max,
    "minimum": min,
}

_BINARY = {
    "Mul": ("mul", "*"),
    "Add": ("add", "+"),
    "AddV2": ("add", "+"),
    "Sub": ("sub", "-"),
    "FloorDiv": ("floordiv", "//"),
    "FloorMod": ("floormod", "%"),
    "Maximum": ("maximum", None),
    "Minimum": ("minimum", None),
}


def _int_const(a: Arg) -> bool:
    return a.value is not None


def _bits(node: Node, key: str) -> int:
    return int(node.attr(key, 0) or 0)


def shape_expression(node: Node, args: list[Arg | None], inputs_are_tensors: list[bool]) -> tuple[str, str] | None:
    """The source and kind of ``node``'s value in the shape domain, or None when it has none.

    Args:
        node: the node.
        args: its inputs (:class:`Arg`), or None entries for inputs that are
            neither shape-domain values nor small integer constants.
        inputs_are_tensors: per input, True when it is a runtime tensor (only
            ``Shape`` / ``Size`` / ``Rank`` take those).
    """
    op = node.op
    if op in ("Shape", "Size", "Rank"):
        tensor = args[0] if len(args) == 1 else None
        if tensor is None or not inputs_are_tensors[0]:
            return None
        x = tensor.src
        dtype = node.attr("out_type", None)
        if op == "Shape" and dtype is not None and str(dtype) != "torch.int32":
            return None
        forms = {"Shape": (f"list({x}.shape)", VECTOR), "Size": (f"prod({x}.shape)", SCALAR), "Rank": (f"len({x}.shape)", SCALAR)}
        return forms[op]
    if not args or any(a is None for a in args):
        return None
    return _rule(node, [a for a in args if a is not None])


def _rule(node: Node, args: list[Arg]) -> tuple[str, str] | None:
    op = node.op
    if not any(a.value is None for a in args):  # all constant: folded, or left to the op
        return None
    if op == "StridedSlice":
        v, b, e, s = args
        if v.kind != VECTOR or not all(_int_const(a) and a.kind == VECTOR and len(a.value) == 1 for a in (b, e, s)):
            return None
        if _bits(node, "ellipsis_mask") or _bits(node, "new_axis_mask"):
            return None
        begin, end, stride = b.value[0], e.value[0], s.value[0]
        if _bits(node, "shrink_axis_mask") & 1:
            return f"{v.src}[{begin}]", SCALAR
        if stride <= 0:
            return None
        lo = "" if _bits(node, "begin_mask") & 1 else str(begin)
        hi = "" if _bits(node, "end_mask") & 1 else str(end)
        step = "" if stride == 1 else f":{stride}"
        return f"{v.src}[{lo}:{hi}{step}]", VECTOR
    if op == "Slice":
        v, b, n = args
        if v.kind != VECTOR or not (_int_const(b) and _int_const(n)) or len(b.value) != 1 or len(n.value) != 1:
            return None
        begin, size = b.value[0], n.value[0]
        return (f"{v.src}[{begin}:]" if size < 0 else f"{v.src}[{begin}:{begin + size}]"), VECTOR
    if op == "Pack":
        if int(node.attr("axis", 0)) not in (0, -1) or any(a.kind != SCALAR for a in args):
            return None
        return "[" + ", ".join(a.src for a in args) + "]", VECTOR
    if op == "ConcatV2":
        *parts, axis = args
        if not _int_const(axis) or axis.kind != SCALAR or axis.value not in (0, -1) or any(a.kind != VECTOR for a in parts):
            return None
        return "[" + ", ".join(f"*{a.src}" for a in parts) + "]", VECTOR
    if op in _BINARY and len(args) == 2:
        fn, sym = _BINARY[op]
        a, b = args
        kind = VECTOR if VECTOR in (a.kind, b.kind) else SCALAR
        if kind == SCALAR:
            return (f"({a.src} {sym} {b.src})" if sym else f"{fn}({a.src}, {b.src})"), SCALAR
        return f"int_binary({fn}, {a.src}, {b.src})", VECTOR
    if op == "Cast":
        src, dst = node.attr("SrcT", None), node.attr("DstT", None)
        if str(src) != "torch.int32" or str(dst) != "torch.int32":
            return None
        return args[0].src, args[0].kind
    if op == "Prod" and len(args) == 2:
        v, axis = args
        if v.kind != VECTOR or not _int_const(axis) or axis.value not in (0, -1, [0], [-1]) or node.attr("keep_dims", False):
            return None
        return f"prod({v.src})", SCALAR
    if op == "ExpandDims":
        v, axis = args
        if v.kind != SCALAR or not _int_const(axis) or axis.value not in (0, -1, [0], [-1]):
            return None
        return f"[{v.src}]", VECTOR
    if op == "Squeeze":
        dims = node.attr("squeeze_dims", None) or node.attr("axis", None)
        if args[0].kind != VECTOR or dims not in ([0], [-1]):
            return None
        return f"{args[0].src}[0]", SCALAR
    if op == "GatherV2":
        v, idx, axis = args
        if v.kind != VECTOR or not (_int_const(idx) and _int_const(axis)) or axis.value not in (0, [0]):
            return None
        if int(node.attr("batch_dims", 0)):
            return None
        if idx.kind == SCALAR:
            return f"{v.src}[{idx.value}]", SCALAR
        return "[" + ", ".join(f"{v.src}[{i}]" for i in idx.value) + "]", VECTOR
    return None
