"""The Keras functional graph an export builds, and where torch's axes live in it.

A torch tensor of the traced module becomes a :class:`Value`: a Keras tensor
(``ref``, the ``[layer, node, tensor]`` triple of the functional config) plus the
place of each torch axis in it. ``perm[i]`` is the torch axis that Keras axis
``i`` holds, so a channels-first image ``(N, C, H, W)`` held channels-last has
``perm == (0, 2, 3, 1)``. Torch axes of size 1 may be absent from ``perm`` (the
Keras tensor is then of lower rank: the ``(N, C, 1, 1)`` of a global pooling is
held as ``(N, C)``). Layers that need a given layout ask :meth:`KerasGraph.layout`
for it, which adds the fewest ``Reshape`` / ``Permute`` layers that give it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import TfjsFormatError

__all__ = ["KerasGraph", "Value", "channels_last", "identity", "init"]

Ref = tuple[str, int, int]


def identity(rank: int) -> tuple[int, ...]:
    """The torch layout: Keras axis i is torch axis i."""
    return tuple(range(rank))


def channels_last(rank: int) -> tuple[int, ...]:
    """``(N, C, *spatial)`` held as ``(N, *spatial, C)``."""
    return (0, *range(2, rank), 1) if rank >= 3 else identity(rank)


def init(class_name: str, **config: Any) -> dict[str, Any]:
    """A Keras initializer entry as tfjs-layers writes it."""
    return {"class_name": class_name, "config": config}


#: Initializers tfjs-layers writes by default (they only matter to a user who re-initializes).
GLOROT = init("VarianceScaling", scale=1, mode="fan_avg", distribution="normal", seed=None)
ZEROS = init("Zeros")
ONES = init("Ones")
ORTHOGONAL = init("Orthogonal", gain=1, seed=None)


@dataclass(frozen=True)
class Value:
    """A torch tensor of the traced module, as a tensor of the Keras graph.

    Attributes:
        ref: the Keras tensor (``(layer name, node index, tensor index)``).
        shape: the torch tensor's shape (batch first).
        perm: torch axis held by each Keras axis (see the module docstring).
        nonneg: every element is known to be >= 0 (after a ReLU, a sigmoid...).
        integer: the torch tensor holds integer ids (an Embedding input).
    """

    ref: Ref
    shape: tuple[int, ...]
    perm: tuple[int, ...]
    nonneg: bool = False
    integer: bool = False

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def keras_shape(self) -> list[int]:
        """The Keras tensor's shape without the batch axis."""
        return [self.shape[a] for a in self.perm[1:]]

    def big(self, perm: tuple[int, ...] | None = None) -> list[int]:
        """Torch axes of size > 1 in the order ``perm`` (default: this value's) holds them."""
        return [a for a in (self.perm if perm is None else perm) if a != 0 and self.shape[a] != 1]

    def with_(self, **changes: Any) -> Value:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


class KerasGraph:
    """The layers, weights and names of the functional model being written."""

    def __init__(self) -> None:
        self.layers: list[dict[str, Any]] = []
        self.weights: dict[str, np.ndarray] = {}
        self.inputs: list[Ref] = []
        self._names: set[str] = set()
        self._layouts: dict[tuple[Ref, tuple[int, ...]], Ref] = {}
        self._weight_layer: dict[str, str] = {}

    def name(self, base: str) -> str:
        """A new valid, unique Keras layer name made from ``base`` (a qualified name)."""
        name = re.sub(r"[^A-Za-z0-9_]", "_", base).strip("_") or "layer"
        if not name[0].isalpha():
            name = "l_" + name
        unique, n = name, 0
        while unique in self._names:
            n += 1
            unique = f"{name}_{n}"
        self._names.add(unique)
        return unique

    def input(self, base: str, keras_shape: list[int]) -> Ref:
        """Add an InputLayer of shape ``[None, *keras_shape]``."""
        name = self.name(base)
        config = {"batch_input_shape": [None, *keras_shape], "dtype": "float32", "sparse": False, "name": name}
        self.layers.append({"name": name, "class_name": "InputLayer", "config": config, "inbound_nodes": []})
        ref = (name, 0, 0)
        self.inputs.append(ref)
        return ref

    def add(
        self,
        base: str,
        class_name: str,
        config: dict[str, Any],
        inputs: list[Ref],
        weights: dict[str, np.ndarray] | None = None,
        *,
        exact_name: bool = False,
        weight_names: dict[str, str] | None = None,
    ) -> Ref:
        """Add a layer called once on ``inputs``; returns its output tensor.

        Args:
            base: the qualified name the layer is named after.
            class_name: the Keras class.
            config: its config without ``name`` / ``trainable``.
            inputs: the Keras tensors it is called on.
            weights: tfjs variable name (``kernel``) -> array in the tfjs layout.
            exact_name: use ``base`` as the name as it is (a layer read from a tfjs model).
            weight_names: variable -> full weight name, where not ``<layer>/<variable>``.
        """
        if exact_name and base and base not in self._names:
            name = base
            self._names.add(name)
        else:
            name = self.name(base)
        full = {**config, "name": name, "trainable": config.get("trainable", True)}
        node = [[r[0], r[1], r[2], {}] for r in inputs]
        self.layers.append({"name": name, "class_name": class_name, "config": full, "inbound_nodes": [node]})
        for var, array in (weights or {}).items():
            full_name = (weight_names or {}).get(var, f"{name}/{var}")
            self.weights[full_name] = np.ascontiguousarray(array, dtype=np.float32)
            self._weight_layer[full_name] = name
        return (name, 0, 0)

    def call_again(self, name: str, inputs: list[Ref]) -> Ref:
        """Call an existing layer once more (a shared layer): a new inbound node; returns its output."""
        layer = next(layer for layer in self.layers if layer["name"] == name)
        layer["inbound_nodes"].append([[r[0], r[1], r[2], {}] for r in inputs])
        return (name, len(layer["inbound_nodes"]) - 1, 0)

    def topology(self, outputs: list[Ref], model_name: str, keras_version: str) -> dict[str, Any]:
        """``modelTopology`` as tfjs-layers 4.22 writes it for a functional model."""
        live = self._live(outputs)
        for name in [w for w in self.weights if self._weight_layer[w] not in live]:
            del self.weights[name]
        config = {
            "name": model_name,
            "layers": [layer for layer in self.layers if layer["name"] in live],
            "input_layers": [list(r) for r in self.inputs],
            "output_layers": [list(r) for r in outputs],
        }
        return {"class_name": "Model", "config": config, "keras_version": keras_version, "backend": "tensor_flow.js"}

    def _live(self, outputs: list[Ref]) -> set[str]:
        """Names of the layers the outputs depend on, and the inputs (tfjs drops the others)."""
        by_name = {layer["name"]: layer for layer in self.layers}
        live = {r[0] for r in self.inputs}
        todo = [r[0] for r in outputs]
        while todo:
            name = todo.pop()
            if name in live:
                continue
            live.add(name)
            for node in by_name[name]["inbound_nodes"]:
                todo.extend(item[0] for item in node)
        return live

    # -- layouts ---------------------------------------------------------------

    def layout(self, v: Value, want: tuple[int, ...], base: str) -> Value:
        """``v`` held in layout ``want`` (a full permutation of its torch axes).

        Adds a ``Reshape`` when the data order already agrees (only size-1 axes
        move or appear), otherwise a ``Permute`` (after a ``Reshape`` restoring
        missing size-1 axes). Results are cached, so several consumers share them.
        """
        if sorted(want) != list(range(v.rank)) or want[0] != 0:
            raise ValueError(f"bad layout {want!r} for rank {v.rank}")
        if v.perm == want:
            return v
        key = (v.ref, want)
        if key in self._layouts:
            return v.with_(ref=self._layouts[key], perm=want)
        if v.big() == v.big(want):
            ref = self.add(f"{base}_reshape", "Reshape", {"target_shape": [v.shape[a] for a in want[1:]]}, [v.ref])
        else:
            ref, perm = v.ref, v.perm
            if len(perm) < v.rank:
                perm = perm + tuple(a for a in range(v.rank) if a not in perm)
                ref = self.add(f"{base}_reshape", "Reshape", {"target_shape": [v.shape[a] for a in perm[1:]]}, [ref])
            dims = [perm.index(want[i]) for i in range(1, v.rank)]
            ref = self.add(f"{base}_permute", "Permute", {"dims": dims}, [ref])
        self._layouts[key] = ref
        return v.with_(ref=ref, perm=want)

    def last_axis(self, v: Value, axis: int, base: str) -> Value:
        """``v`` held so that torch axis ``axis`` is the last Keras axis (others keep their order)."""
        if len(v.perm) == v.rank and v.perm[-1] == axis:
            return v
        full = v.perm + tuple(a for a in range(v.rank) if a not in v.perm)
        return self.layout(v, tuple(a for a in full if a != axis) + (axis,), base)

    def torch_order(self, v: Value, base: str) -> Ref:
        """A Keras tensor whose row-major data is the torch tensor's (for Flatten / Reshape)."""
        big = v.big()
        if big == sorted(big):
            return v.ref
        return self.layout(v, identity(v.rank), base).ref


def refuse(where: str, reason: str) -> TfjsFormatError:
    """The error for a node that cannot be exported (``node 'fc' (Linear): <reason>``)."""
    return TfjsFormatError(reason, field=where)
