"""The op registry of the graph-model interpreter, and :class:`Node`, one parsed GraphDef node.

An op function is registered for one or more TensorFlow op names and is called
as ``fn(node, *inputs)``: ``node`` is the :class:`Node` (attributes decoded),
``inputs`` its data inputs in order, as torch tensors (constants too; string
tensors and table handles are numpy arrays / Python objects). It returns a
tensor, or a tuple / list for a multi-output op (output ``name:i`` is element
``i``; a tuple or list is always read as several outputs). Ops that need Python
values from a tensor (shapes, axes) read them with
:func:`~tfjs_codec.torch.graph.values.ints` / ``scalar``.

Inputs an op only reads as Python values (a Reshape's shape, a Mean's axes, a
Transpose's permutation) are declared with ``register(..., static=(1,))``
(positions; negative counts from the end). When the value of such an input is
known when the module is built (a constant, or a constant subgraph), the
generated ``forward`` passes it as a Python literal (``[-1, 256]``, ``3``)
instead of a tensor, so the op function must accept both: a tensor, or a
(nested) list / int / float / bool of the same values.

An op may also register a *validator* (``@validator("Op")``): called once per
node when the module is built, it returns a reason string when the node's
attributes ask for something the op function does not do (the build then fails
with every such reason listed), or None.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ...errors import TfjsFormatError

__all__ = ["OPS", "VALIDATORS", "STATIC_INPUTS", "OpFn", "Node", "register", "validator", "tf_dtype", "parse_ref", "MISSING"]

#: An op function: ``fn(node, *inputs)`` -> a tensor, or a tuple / list of outputs
#: (or, for resource ops such as hash tables, the Python object standing for the resource).
OpFn = Callable[..., Any]
OPS: dict[str, OpFn] = {}
VALIDATORS: dict[str, Callable[[Node], str | None]] = {}
#: op name -> positions of the inputs it reads only as Python values (see the module docstring).
STATIC_INPUTS: dict[str, tuple[int, ...]] = {}


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def register(*op_names: str, static: tuple[int, ...] = ()) -> Callable[[OpFn], OpFn]:
    """Decorator: register ``fn`` as the implementation of each op in ``op_names``.

    Args:
        *op_names: TensorFlow op names (``"Conv2D"``, ``"_FusedConv2D"``, ...).
        static: positions of the inputs ``fn`` reads only as Python values (shapes,
            axes, sizes); negative positions count from the last input. Such an
            input known at build time reaches ``fn`` as a Python literal.

    Returns:
        The decorator, which returns the function unchanged.
    """

    def deco(fn: OpFn) -> OpFn:
        for name in op_names:
            OPS[name] = fn
            if static:
                STATIC_INPUTS[name] = static
        return fn

    return deco


def validator(*op_names: str) -> Callable[[Callable[[Node], str | None]], Callable[[Node], str | None]]:
    """Decorator: register a build-time check of a node's attributes for each op in ``op_names``."""

    def deco(fn: Callable[[Node], str | None]) -> Callable[[Node], str | None]:
        for name in op_names:
            VALIDATORS[name] = fn
        return fn

    return deco


# TensorFlow DataType -> the dtype tfjs-converter computes in (parseDtypeParam):
# 64-bit and 8-bit integers are int32, doubles and halves float32.
_DTYPES: dict[str, Any] = {
    "DT_FLOAT": torch.float32,
    "DT_HALF": torch.float32,
    "DT_DOUBLE": torch.float32,
    "DT_BFLOAT16": torch.float32,
    "DT_INT32": torch.int32,
    "DT_INT64": torch.int32,
    "DT_INT16": torch.int32,
    "DT_INT8": torch.int32,
    "DT_UINT8": torch.int32,
    "DT_UINT16": torch.int32,
    "DT_UINT32": torch.int32,
    "DT_BOOL": torch.bool,
    "DT_COMPLEX64": torch.complex64,
    "DT_COMPLEX128": torch.complex64,
    "DT_STRING": "string",
    "DT_RESOURCE": "resource",
    "DT_VARIANT": "variant",
}


def tf_dtype(name: Any, *, where: str = "dtype", file: str | None = None) -> Any:
    """A TensorFlow ``DT_*`` name as the torch dtype tfjs computes in.

    ``DT_STRING`` / ``DT_RESOURCE`` / ``DT_VARIANT`` come back as the strings
    ``"string"``, ``"resource"``, ``"variant"`` (torch has no such dtypes).

    Raises:
        TfjsFormatError: an unknown data type.
    """
    try:
        return _DTYPES[name]
    except (KeyError, TypeError):
        raise TfjsFormatError(f"unknown data type {name!r}", file=file, field=where) from None


def parse_ref(ref: str) -> tuple[str, int]:
    """``'x'`` -> ``('x', 0)``, ``'x:1'`` -> ``('x', 1)`` (a data input of a GraphDef node)."""
    name, sep, idx = ref.rpartition(":")
    if sep and idx.isdigit():
        return name, int(idx)
    return ref, 0


def _float(v: Any) -> float:
    if isinstance(v, str):  # JSON protobuf spells non-finite floats as strings
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, float(v) if v else 0.0)
    return float(v)


def _bytes(v: str) -> bytes:
    return base64.b64decode(v)


def _text(v: str) -> str:
    raw = _bytes(v)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _shape(v: Any) -> list[int] | None:
    if not isinstance(v, dict) or v.get("unknownRank"):
        return None
    return [int(d.get("size", 0)) for d in v.get("dim", [])]


_NP_DTYPES = {
    "DT_FLOAT": np.float32,
    "DT_HALF": np.float16,
    "DT_DOUBLE": np.float64,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_INT16": np.int16,
    "DT_INT8": np.int8,
    "DT_UINT8": np.uint8,
    "DT_UINT16": np.uint16,
    "DT_BOOL": np.bool_,
}
_VAL_FIELDS = ("floatVal", "doubleVal", "intVal", "int64Val", "boolVal", "halfVal", "uint32Val", "uint64Val")


def tensor_value(t: dict[str, Any], *, where: str = "tensor", file: str | None = None) -> np.ndarray | None:
    """A TensorProto in JSON form as a numpy array, or None when it holds no values.

    tfjs's dtypes apply: int64 -> int32, float64/float16 -> float32, small ints
    -> int32 (as tfjs-converter decodes inline constants).
    """
    dt = t.get("dtype", "DT_FLOAT")
    shape = _shape(t.get("tensorShape", {})) or []
    size = int(np.prod(shape)) if shape else 1
    if dt == "DT_STRING":
        vals = t.get("stringVal")
        if vals is None:
            return None
        items = [_bytes(v) for v in vals]
        if len(items) != size:
            items = [items[0] if items else b""] * size
        strings = np.empty(size, dtype=object)
        strings[:] = items
        return strings.reshape(shape)
    npdt = _NP_DTYPES.get(dt)
    if npdt is None:
        raise TfjsFormatError(f"constant of data type {dt} is not supported", file=file, field=where)
    if "tensorContent" in t:
        arr: Any = np.frombuffer(_bytes(t["tensorContent"]), dtype=np.dtype(npdt).newbyteorder("<")).astype(npdt)
    else:
        vals = next((t[k] for k in _VAL_FIELDS if k in t), None)
        if vals is None:
            return None
        if npdt is np.float16 and "halfVal" in t:
            arr = np.array([int(v) for v in vals], dtype=np.uint16).view(np.float16)
        elif npdt is np.bool_:
            arr = np.array([bool(v) for v in vals], dtype=np.bool_)
        elif np.issubdtype(npdt, np.floating):
            arr = np.array([_float(v) for v in vals], dtype=npdt)
        else:
            arr = np.array([int(v) for v in vals], dtype=np.int64).astype(npdt)
        if arr.size != size:  # TF repeats the last value to fill the shape
            arr = np.concatenate([arr, np.full(size - arr.size, arr[-1] if arr.size else 0, dtype=arr.dtype)])
    out: np.ndarray = np.asarray(arr).reshape(shape)
    if out.dtype.kind == "f":
        return out.astype(np.float32)
    if out.dtype.kind in "iu":
        return out.astype(np.int32)
    return out


def decode_attr(value: Any, *, where: str, file: str | None = None) -> Any:
    """One ``AttrValue`` in JSON protobuf form as a Python value.

    ``s`` -> str, ``i`` -> int, ``f`` -> float, ``b`` -> bool, ``type`` -> torch
    dtype (see :func:`tf_dtype`), ``shape`` -> list of ints (-1 unknown) or None,
    ``tensor`` -> numpy array (or the raw dict when it holds no values),
    ``list`` -> list of those, ``func`` -> the function's name.
    """
    if not isinstance(value, dict):
        raise TfjsFormatError(f"attribute value {value!r} is not an AttrValue object", file=file, field=where)
    if "list" in value:
        lst = value["list"] or {}
        for key, conv in (("s", _text), ("i", int), ("f", _float), ("b", bool)):
            if key in lst:
                return [conv(v) for v in lst[key]]
        if "type" in lst:
            return [tf_dtype(v, where=where, file=file) for v in lst["type"]]
        if "shape" in lst:
            return [_shape(v) for v in lst["shape"]]
        if "tensor" in lst:
            return [tensor_value(v, where=where, file=file) for v in lst["tensor"]]
        if "func" in lst:
            return [f.get("name") for f in lst["func"]]
        return []
    if "s" in value:
        return _text(value["s"])
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return _float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return tf_dtype(value["type"], where=where, file=file)
    if "shape" in value:
        return _shape(value["shape"])
    if "tensor" in value:
        arr = tensor_value(value["tensor"], where=where, file=file)
        return value["tensor"] if arr is None else arr
    if "func" in value:
        return value["func"].get("name")
    if "placeholder" in value:
        return value["placeholder"]
    if not value:  # an empty AttrValue: the proto default (0 / "" / false)
        return None
    raise TfjsFormatError(f"attribute value {value!r} is not understood", file=file, field=where)


class Node:
    """One GraphDef node, parsed.

    Attributes:
        name: the node name.
        op: the op name.
        inputs: data inputs as written (``'x'``, ``'x:1'``); control inputs
            (``'^x'``) are kept apart in :attr:`control`.
        control: control-input node names (without the ``^``).
        raw_attr: the node's ``attr`` object as in the JSON.
        device: the ``device`` field, or ``""``.
        file: the model file name, for error messages.
    """

    __slots__ = ("name", "op", "inputs", "control", "raw_attr", "device", "file", "_cache")

    def __init__(self, doc: dict[str, Any], *, file: str | None = None) -> None:
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not isinstance(doc.get("op"), str):
            raise TfjsFormatError(f"node {str(doc)[:80]!r} has no name or op", file=file, field="modelTopology.node")
        self.name: str = doc["name"]
        self.op: str = doc["op"]
        ins = doc.get("input") or []
        if not isinstance(ins, list) or not all(isinstance(i, str) for i in ins):
            raise TfjsFormatError(f"input is {ins!r}, not a list of names", file=file, field=f"node {self.name!r}")
        self.inputs: list[str] = [i for i in ins if not i.startswith("^")]
        self.control: list[str] = [i[1:] for i in ins if i.startswith("^")]
        attr = doc.get("attr") or {}
        if not isinstance(attr, dict):
            raise TfjsFormatError(f"attr is {attr!r}, not an object", file=file, field=f"node {self.name!r}")
        self.raw_attr: dict[str, Any] = attr
        self.device: str = doc.get("device", "")
        self.file = file
        self._cache: dict[str, Any] = {}

    def has(self, key: str) -> bool:
        """True when the node has attribute ``key``."""
        return key in self.raw_attr

    def attr(self, key: str, default: Any = MISSING) -> Any:
        """The decoded value of attribute ``key`` (see :func:`decode_attr`).

        Args:
            key: the attribute name (``"strides"``, ``"T"``, ...).
            default: returned when the node lacks the attribute; without it a
                missing attribute raises.

        Raises:
            TfjsFormatError: the attribute is missing (and no default was
                given) or malformed; the message names file, node and attribute.
        """
        if key in self._cache:
            return self._cache[key]
        if key not in self.raw_attr:
            if default is MISSING:
                raise self.error(f"attribute {key!r} is missing")
            return default
        value = decode_attr(self.raw_attr[key], where=f"node {self.name!r} ({self.op}) attribute {key!r}", file=self.file)
        self._cache[key] = value
        return value

    def cached(self, key: str, compute: Callable[[Node], Any]) -> Any:
        """``compute(self)``, worked out once per node (op functions keep their parsed attributes here)."""
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = compute(self)
            return value

    def error(self, reason: str) -> TfjsFormatError:
        """A :class:`TfjsFormatError` naming the model file and this node."""
        return TfjsFormatError(reason, file=self.file, field=f"node {self.name!r} ({self.op})")

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.op!r}, inputs={self.inputs!r})"
