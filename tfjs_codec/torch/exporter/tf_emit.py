"""What the aten-op handlers of the graph-model export work with: :class:`Value` and :class:`Emitter`.

A :class:`Value` is one traced tensor (or symbolic int) in torch's layout: its
static shape (``-1`` for the open batch, and for dims computed from it), its
tfjs dtype (``float32`` / ``int32`` / ``bool``: int64 becomes int32, float64
float32), the graph tensor computing it (``ref``), or, for a value known when
exporting (weights, and everything computed from constants only), the torch
tensor itself (``tensor``), written as a ``Const`` node the first time an op
needs it.

The :class:`Emitter` adds nodes to a
:class:`~tfjs_codec.torch.exporter.tf_graph.GraphBuilder` under the name
scope of the fx node being translated (its module path, ``features.3``), and
holds the helpers several handlers share (transposes, reshapes with an open
batch, shape vectors built from ``Shape`` when more than one dim is open).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...errors import TfjsFormatError
from .tf_graph import GraphBuilder, attr_bool, attr_int, attr_type

__all__ = ["Value", "Emitter", "Unsupported", "tf_dtype_of", "INT32_MIN", "INT32_MAX"]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class Unsupported(Exception):
    """A handler's refusal: the reason (the walker adds the node, module path and source line)."""


def tf_dtype_of(dtype: torch.dtype) -> str:
    """The tfjs dtype a torch dtype computes in (int64 -> int32, float64 / float16 -> float32)."""
    if dtype == torch.bool:
        return "bool"
    if dtype.is_floating_point:
        return "float32"
    if dtype.is_complex:
        return "complex64"  # computed (RFFT); never a weight: see as_numpy
    return "int32"


def as_numpy(t: torch.Tensor, name: str) -> np.ndarray:
    """A constant in tfjs' dtypes; int64 values must fit int32."""
    t = t.detach().cpu()
    dt = tf_dtype_of(t.dtype)
    if dt == "complex64":
        raise Unsupported(f"complex constant {name!r}: tfjs graph models hold no complex weights")
    if dt == "float32":
        return t.to(torch.float32).contiguous().numpy()
    if dt == "bool":
        return t.contiguous().numpy().astype(np.bool_)
    if t.numel() and (int(t.min()) < INT32_MIN or int(t.max()) > INT32_MAX):
        raise Unsupported(f"constant {name!r} holds integers outside int32 (tfjs has no int64)")
    return t.to(torch.int64).contiguous().numpy().astype(np.int32)


@dataclass
class Value:
    """One traced tensor or symbolic int (shape ``()``), in torch's layout.

    Attributes:
        shape: static dims, ``-1`` where open (the batch and dims computed from it).
        dtype: ``float32`` / ``int32`` / ``bool``.
        ref: the graph tensor (``node`` / ``node:i``), or None for a constant not yet written.
        tensor: the value when it is known at export time (a constant), else None.
        name: the name a constant gets when written (its state-dict path when it has one).
        sym: a symbolic int (a size), not a tensor.
    """

    shape: tuple[int, ...]
    dtype: str
    ref: str | None = None
    tensor: torch.Tensor | None = None
    name: str | None = None
    sym: bool = False

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_const(self) -> bool:
        return self.tensor is not None


class Emitter:
    """Adds nodes to ``graph`` under the current scope (the fx node's module path)."""

    def __init__(self, graph: GraphBuilder) -> None:
        self.g = graph
        self.scope = ""
        self._dims: dict[tuple[str, int], Value] = {}
        self._shapes: dict[str, str] = {}

    # ------------------------------------------------------------ basics

    def _name(self, name: str) -> str:
        return f"{self.scope}/{name}" if self.scope else name

    def ref(self, v: Value) -> str:
        """The graph tensor of ``v``, writing a constant's ``Const`` node the first time."""
        if v.ref is None:
            if v.tensor is None:
                raise TfjsFormatError("internal: a value with neither a graph tensor nor a constant")
            name = v.name or self._name("const")
            v.ref = self.g.const(name, as_numpy(v.tensor, name))
        return v.ref

    def const(self, value: Any, dtype: str | None = None, name: str | None = None) -> Value:
        """A constant value (written when used); python numbers become tensors of ``dtype``."""
        if isinstance(value, torch.Tensor):
            t = value
        else:
            tdt = {"float32": torch.float32, "int32": torch.int32, "bool": torch.bool, None: None}[dtype]
            t = torch.tensor(value, dtype=tdt)
        if dtype is not None and tf_dtype_of(t.dtype) != dtype:
            t = t.to({"float32": torch.float32, "int32": torch.int32, "bool": torch.bool}[dtype])
        return Value(tuple(t.shape), tf_dtype_of(t.dtype), tensor=t, name=name)

    def int_vec(self, values: Sequence[int]) -> str:
        """A shared int32 ``Const`` of ``values`` (a shape, axes, a permutation)."""
        return self.g.const(self._name("const"), np.asarray(list(values), dtype=np.int32).reshape(-1))

    def int_scalar(self, value: int) -> str:
        return self.g.const(self._name("const"), np.asarray(int(value), dtype=np.int32))

    def op(
        self,
        op: str,
        inputs: Sequence[Value | str],
        attr: dict[str, Any] | None,
        shape: Sequence[int],
        dtype: str,
        name: str | None = None,
    ) -> Value:
        """A one-output node; its inputs as Values or refs."""
        refs = [x if isinstance(x, str) else self.ref(x) for x in inputs]
        ref = self.g.add(self._name(name or op), op, refs, attr, [list(shape)], [dtype])
        return Value(tuple(shape), dtype, ref=ref)

    def multi(
        self,
        op: str,
        inputs: Sequence[Value | str],
        attr: dict[str, Any] | None,
        shapes: Sequence[Sequence[int]],
        dtypes: Sequence[str],
    ) -> list[Value]:
        """A several-output node: one Value per output."""
        refs = [x if isinstance(x, str) else self.ref(x) for x in inputs]
        name = self.g.add(self._name(op), op, refs, attr, shapes, dtypes)
        return [
            Value(tuple(s), d, ref=name if i == 0 else f"{name}:{i}") for i, (s, d) in enumerate(zip(shapes, dtypes, strict=True))
        ]

    # ------------------------------------------------------------ layout

    def transpose(self, v: Value, perm: Sequence[int]) -> Value:
        perm = list(perm)
        if perm == list(range(len(perm))):
            return v
        if v.is_const and v.ref is None:
            assert v.tensor is not None
            return self.const(v.tensor.permute(perm).contiguous(), name=v.name)
        shape = [v.shape[p] for p in perm]
        return self.op(
            "Transpose", [v, self.int_vec(perm)], {"T": attr_type(v.dtype), "Tperm": attr_type("int32")}, shape, v.dtype
        )

    def cast(self, v: Value, dtype: str) -> Value:
        if v.dtype == dtype:
            return v
        if v.is_const and v.ref is None:
            assert v.tensor is not None
            return self.const(v.tensor, dtype)
        return self.op(
            "Cast", [v], {"SrcT": attr_type(v.dtype), "DstT": attr_type(dtype), "Truncate": attr_bool(False)}, v.shape, dtype
        )

    def dim(self, v: Value, d: int) -> Value:
        """Dim ``d`` of ``v`` as an int32 scalar (a static dim is a constant)."""
        if v.shape[d] >= 0:
            return Value((), "int32", ref=self.int_scalar(v.shape[d]), sym=True)
        ref = self.ref(v)
        key = (ref, d)
        if key not in self._dims:
            if ref not in self._shapes:
                self._shapes[ref] = (
                    self.op("Shape", [ref], {"T": attr_type(v.dtype), "out_type": attr_type("int32")}, [v.rank], "int32").ref
                    or ""
                )
            shape = self._shapes[ref]
            sl = self.op(
                "StridedSlice",
                [shape, self.int_vec([d]), self.int_vec([d + 1]), self.int_vec([1])],
                {
                    "T": attr_type("int32"),
                    "Index": attr_type("int32"),
                    "begin_mask": attr_int(0),
                    "end_mask": attr_int(0),
                    "ellipsis_mask": attr_int(0),
                    "new_axis_mask": attr_int(0),
                    "shrink_axis_mask": attr_int(1),
                },
                [],
                "int32",
            )
            sl.sym = True
            self._dims[key] = sl
        return self._dims[key]

    def shape_vector(self, dims: Sequence[int | Value], *, reshape: bool = False) -> str:
        """A 1-D int32 shape from static ints and symbolic-int Values.

        For a Reshape (``reshape=True``) with one open dim the open dim is ``-1``
        and the vector a constant; otherwise a ``Pack`` of scalars.
        """
        syms = [d for d in dims if isinstance(d, Value)]
        if not syms:
            return self.int_vec([int(d) for d in dims])  # type: ignore[arg-type]
        if reshape and len(syms) == 1:
            return self.int_vec([-1 if isinstance(d, Value) else int(d) for d in dims])
        parts = [self.ref(d) if isinstance(d, Value) else self.int_scalar(int(d)) for d in dims]
        return (
            self.op(
                "Pack", parts, {"T": attr_type("int32"), "N": attr_int(len(parts)), "axis": attr_int(0)}, [len(parts)], "int32"
            ).ref
            or ""
        )

    def reshape(self, v: Value, dims: Sequence[int | Value], out_shape: Sequence[int]) -> Value:
        """``v`` reshaped to ``dims`` (ints, -1, or symbolic ints); ``out_shape`` is the static result."""
        if v.is_const and v.ref is None and not any(isinstance(d, Value) for d in dims):
            assert v.tensor is not None
            return self.const(v.tensor.reshape([int(d) for d in dims]), name=v.name)  # type: ignore[arg-type]
        if list(v.shape) == list(out_shape) and sum(1 for d in out_shape if d < 0) <= 1:
            return v
        open_dims = [i for i, d in enumerate(out_shape) if d < 0]
        if len(open_dims) <= 1 and not any(isinstance(d, Value) for d in dims):
            vec = self.int_vec([int(d) for d in dims])  # type: ignore[arg-type]
        elif len(open_dims) == 1:
            vec = self.int_vec([-1 if i in open_dims else int(d) for i, d in enumerate(out_shape)])
        else:
            vec = self.shape_vector(dims, reshape=True)
        return self.op("Reshape", [v, vec], {"T": attr_type(v.dtype), "Tshape": attr_type("int32")}, out_shape, v.dtype)

    def unary(self, op: str, v: Value, attr: dict[str, Any] | None = None, dtype: str | None = None) -> Value:
        return self.op(op, [v], {"T": attr_type(v.dtype), **(attr or {})}, v.shape, dtype or v.dtype)

    def binary(self, op: str, a: Value, b: Value, shape: Sequence[int], dtype: str | None = None) -> Value:
        return self.op(op, [a, b], {"T": attr_type(a.dtype)}, shape, dtype or a.dtype)

    def reduce(self, op: str, v: Value, axes: Sequence[int], keep: bool, shape: Sequence[int]) -> Value:
        return self.op(
            op,
            [v, self.int_vec(axes)],
            {"T": attr_type(v.dtype), "Tidx": attr_type("int32"), "keep_dims": attr_bool(keep)},
            shape,
            v.dtype,
        )
