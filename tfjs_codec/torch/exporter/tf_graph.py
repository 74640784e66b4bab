"""A TensorFlow GraphDef being written, in the JSON protobuf form tfjs-converter reads.

:class:`GraphBuilder` holds the nodes (``{name, op, input, attr}``) in the order
they are made, with each output's static shape (``-1`` for the open batch) and
dtype, and the constants: every ``Const`` node's value is a weight of the
manifest under the node's name (tfjs' graph loader reads constants from the
weights only, never inline). Attribute values are encoded as TensorFlow's JSON
protobuf mapping writes them (and as tfjs-converter's ``operation_mapper``
decodes them): ``{"type": "DT_FLOAT"}``, ``{"i": "3"}``, ``{"f": 0.2}``,
``{"b": true}``, ``{"s": <base64>}``, ``{"list": {"i": ["1", "2"]}}``,
``{"shape": {"dim": [{"size": "-1"}]}}``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["GraphBuilder", "TfNode", "attr_type", "attr_int", "attr_ints", "attr_str", "attr_float", "attr_bool", "attr_shape"]

#: numpy dtype kind/name -> the TensorFlow DataType written (tfjs computes in these three).
_TF_DTYPES = {"float32": "DT_FLOAT", "int32": "DT_INT32", "bool": "DT_BOOL", "complex64": "DT_COMPLEX64"}


def attr_type(dtype: str) -> dict[str, Any]:
    """``{"type": "DT_FLOAT"}`` for ``"float32"`` (``"int32"``, ``"bool"``)."""
    return {"type": _TF_DTYPES[dtype]}


def attr_int(v: int) -> dict[str, Any]:
    return {"i": str(int(v))}


def attr_ints(vs: Sequence[int]) -> dict[str, Any]:
    return {"list": {"i": [str(int(v)) for v in vs]}}


def attr_str(s: str) -> dict[str, Any]:
    return {"s": base64.b64encode(s.encode()).decode("ascii")}


def attr_float(v: float) -> dict[str, Any]:
    return {"f": float(v)}


def attr_bool(v: bool) -> dict[str, Any]:
    return {"b": bool(v)}


def _shape_proto(shape: Sequence[int]) -> dict[str, Any]:
    return {"dim": [{"size": str(int(d))} for d in shape]}


def attr_shape(shape: Sequence[int]) -> dict[str, Any]:
    return {"shape": _shape_proto(shape)}


@dataclass
class TfNode:
    """One GraphDef node: its name, op, data inputs (``name`` / ``name:i``), encoded attributes,
    and the static shape (``-1``: open) and dtype of each output."""

    name: str
    op: str
    inputs: list[str]
    attr: dict[str, Any]
    shapes: list[list[int]] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "op": self.op}
        if self.inputs:
            doc["input"] = list(self.inputs)
        if self.attr:
            doc["attr"] = self.attr
        return doc


def _ref_node(ref: str) -> tuple[str, int]:
    name, sep, idx = ref.rpartition(":")
    if sep and idx.isdigit():
        return name, int(idx)
    return ref, 0


class GraphBuilder:
    """The nodes of the graph being written, their constants, and unique names."""

    def __init__(self) -> None:
        self.nodes: dict[str, TfNode] = {}
        self.weights: dict[str, np.ndarray] = {}
        self._taken: set[str] = set()
        self._small: dict[tuple[str, tuple[int, ...], bytes], str] = {}

    # ---------------------------------------------------------------- names

    def unique(self, name: str) -> str:
        """``name`` made a valid, unused node name (``conv/Conv2D``, then ``conv/Conv2D_1``...)."""
        base = re.sub(r"[^A-Za-z0-9_.\-/>]", "_", name).strip("/") or "node"
        if base[0] in "._-/":
            base = "n" + base
        key, n = base, 0
        while key in self._taken:
            n += 1
            key = f"{base}_{n}"
        self._taken.add(key)
        return key

    # ---------------------------------------------------------------- nodes

    def add(
        self,
        name: str,
        op: str,
        inputs: Sequence[str],
        attr: dict[str, Any] | None,
        shapes: Sequence[Sequence[int]],
        dtypes: Sequence[str],
        *,
        exact_name: bool = False,
    ) -> str:
        """Add a node; returns its name (the ref of output 0)."""
        key = name if exact_name else self.unique(name)
        if exact_name:
            self._taken.add(key)
        self.nodes[key] = TfNode(key, op, list(inputs), dict(attr or {}), [list(s) for s in shapes], list(dtypes))
        return key

    def const(self, name: str, value: np.ndarray, *, share: bool = True) -> str:
        """A ``Const`` node holding ``value`` (float32 / int32 / bool), its value a manifest weight.

        Small int / bool constants (shapes, axes) with equal values are made once when ``share``.
        """
        arr = np.array(value, order="C")  # (not ascontiguousarray: that makes a scalar 1-D)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int32)
        dtype = {"f": "float32", "i": "int32", "b": "bool"}[arr.dtype.kind]
        small = share and dtype != "float32" and arr.size <= 64
        if small:
            key = (dtype, tuple(arr.shape), arr.tobytes())
            if key in self._small:
                return self._small[key]
        tf_dtype = _TF_DTYPES[dtype]
        attr = {"dtype": {"type": tf_dtype}, "value": {"tensor": {"dtype": tf_dtype, "tensorShape": _shape_proto(arr.shape)}}}
        ref = self.add(name, "Const", [], attr, [list(arr.shape)], [dtype])
        self.weights[ref] = arr
        if small:
            self._small[key] = ref
        return ref

    def shape_of(self, ref: str) -> list[int]:
        name, i = _ref_node(ref)
        return list(self.nodes[name].shapes[i])

    def dtype_of(self, ref: str) -> str:
        name, i = _ref_node(ref)
        return self.nodes[name].dtypes[i]

    def node_of(self, ref: str) -> TfNode:
        return self.nodes[_ref_node(ref)[0]]

    def const_value(self, ref: str) -> np.ndarray | None:
        """The value of ``ref`` when it is a Const node's output, else None."""
        name, i = _ref_node(ref)
        node = self.nodes.get(name)
        if node is None or node.op != "Const" or i:
            return None
        return self.weights.get(name)

    # ---------------------------------------------------------------- output

    def prune(self, outputs: Sequence[str], keep: Sequence[str] = ()) -> None:
        """Drop the nodes no output needs (placeholders named in ``keep`` stay)."""
        live: set[str] = set(keep)
        todo = [_ref_node(r)[0] for r in outputs]
        while todo:
            n = todo.pop()
            if n in live:
                continue
            live.add(n)
            todo.extend(_ref_node(r)[0] for r in self.nodes[n].inputs)
        for name in [n for n in self.nodes if n not in live]:
            del self.nodes[name]
            self.weights.pop(name, None)
        self._small = {k: v for k, v in self._small.items() if v in self.nodes}

    def topology(self) -> dict[str, Any]:
        """The GraphDef JSON: nodes in an order where every input comes first."""
        order: list[str] = []
        state: dict[str, int] = {}
        for root in self.nodes:
            if state.get(root):
                continue
            stack: list[tuple[str, int]] = [(root, 0)]
            while stack:
                name, i = stack.pop()
                ins = self.nodes[name].inputs
                if i == 0:
                    if state.get(name):
                        continue
                    state[name] = 1
                if i < len(ins):
                    stack.append((name, i + 1))
                    dep = _ref_node(ins[i])[0]
                    if not state.get(dep):
                        stack.append((dep, 0))
                else:
                    state[name] = 2
                    order.append(name)
        return {"node": [self.nodes[n].to_json() for n in order], "library": {}, "versions": {"producer": 1882}}
