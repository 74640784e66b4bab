"""What every aten handler of the graph-model exporter shares: the registry and the common helpers.

A handler gets a :class:`Call` (the emitter, the fx node, its arguments with traced tensors as
:class:`~tfjs_codec.torch.exporter.tf_emit.Value` and everything else as Python values, and the
output's static shape and dtype) and returns a Value, or a list for several outputs. It raises
:class:`~tfjs_codec.torch.exporter.tf_emit.Unsupported` with the reason when it cannot express
the call exactly. Handlers register with ``@handles("aten_name")`` in :data:`HANDLERS`; the
family modules (``aten_*.py``, listed in :mod:`~tfjs_codec.torch.exporter.aten_ops`) hold them.

The helpers here are those several families use: argument checks (:func:`tensor`,
:func:`const_tensor`), dtype alignment (:func:`same_dtype`, :func:`complex_safe`) and the TF ops
more than one family emits the same way (:func:`pad_nhwc`, :func:`strided_slice`, :func:`gather`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .tf_emit import Emitter, Unsupported, Value
from .tf_graph import attr_int, attr_type

__all__ = [
    "HANDLERS",
    "KEEP",
    "NCHW",
    "NEG",
    "NHWC",
    "REFUSED",
    "Call",
    "Handler",
    "as_value",
    "complex_safe",
    "const_tensor",
    "gather",
    "handles",
    "norm_dim",
    "pad_nhwc",
    "same_dtype",
    "strided_slice",
    "target_key",
    "tensor",
]

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
    """Register the decorated handler in :data:`HANDLERS` under these names (``aten.`` unless dotted)."""
    def deco(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n if "." in n else f"aten.{n}"] = fn
        return fn

    return deco


# ------------------------------------------------------------------ helpers


def norm_dim(d: int, rank: int) -> int:
    """``d`` counted from the front of a rank-``rank`` tensor (torch's negative dims)."""
    return d + rank if d < 0 else d


def as_value(c: Call, x: Any, dtype: str) -> Value:
    """A tensor argument, or a Python number as a scalar constant of ``dtype``."""
    if isinstance(x, Value):
        return x
    return c.e.const(x, dtype)


def tensor(c: Call, x: Any, what: str = "input") -> Value:
    """``x`` when it is a traced tensor (not a symbolic size); else refused, naming ``what``."""
    if not isinstance(x, Value) or x.sym:
        raise Unsupported(f"{what} is not a tensor")
    return x


def const_tensor(x: Any, what: str) -> torch.Tensor:
    """The value of ``x`` known at export (a parameter, buffer or constant); else refused, naming ``what``."""
    if not isinstance(x, Value) or x.tensor is None:
        raise Unsupported(f"{what} must be a constant (a parameter or buffer), not computed from the inputs")
    return x.tensor


def same_dtype(c: Call, a: Any, b: Any, dtype: str) -> tuple[Value, Value]:
    """Two operands (tensors or Python numbers) cast to ``dtype``, the dtype a binary op computes in."""
    if dtype == "complex64":  # tfjs upcasts a float operand of a complex op itself
        va, vb = as_value(c, a, "float32"), as_value(c, b, "float32")
        return complex_safe(c, va, vb), complex_safe(c, vb, va)
    va, vb = as_value(c, a, dtype), as_value(c, b, dtype)
    return c.e.cast(va, dtype), c.e.cast(vb, dtype)


def complex_safe(c: Call, v: Value, other: Value) -> Value:
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


def pad_nhwc(c: Call, x: Value, pads: Sequence[tuple[int, int]], value: float = 0.0) -> Value:
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


def strided_slice(
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
    """A ``StridedSlice`` of ``x`` (the masks as TensorFlow's); ``shape`` is the output's."""
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


def gather(c: Call, x: Value, idx: torch.Tensor | Value, axis: int) -> Value:
    """``x`` gathered along ``axis`` at ``idx`` (a tensor or a constant index; negative constants wrap as in torch)."""
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
