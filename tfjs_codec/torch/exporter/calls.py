"""What the exporter's node handlers see and where they register: the vocabulary below them.

A handler (:data:`Handler`) gets the exporter and one :class:`Call` (a node of the
traced graph with its arguments turned into :class:`~tfjs_codec.torch.exporter.graph.Value`
objects and concrete outputs) and returns the node's value. Functions register in
:data:`FUNCTIONS`, tensor methods in :data:`METHODS` (:mod:`tfjs_codec.torch.exporter.ops`
fills both); modules through the registry's ``attach_export`` (the family files). This
module imports nothing above it: the family files, the op handlers and the engine
(:mod:`tfjs_codec.torch.exporter.engine`) all import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.fx as fx
from torch import nn

from .graph import KerasGraph, Value, refuse

if TYPE_CHECKING:
    from ..registry import ExportedLayer
    from .engine import Exporter

__all__ = ["Call", "FUNCTIONS", "METHODS", "Handler", "describe"]


@dataclass
class Call:
    """One node of the traced graph, as a handler sees it.

    Attributes:
        node: the fx node.
        where: how errors name it: ``node 'features.0' (Conv2d)``.
        base: the name its Keras layers are named after (the qualified name).
        args / kwargs: the node's arguments, fx nodes replaced by their values.
        module: the called module (``call_module`` nodes), else None.
        out: the node's concrete output on the example input.
    """

    node: fx.Node
    where: str
    base: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    module: nn.Module | None
    out: Any
    graph: KerasGraph = field(repr=False, default_factory=KerasGraph)

    def arg(self, i: int, name: str, default: Any = None) -> Any:
        """Positional argument ``i`` or keyword ``name``."""
        if len(self.args) > i:
            return self.args[i]
        return self.kwargs.get(name, default)

    def tensor(self, i: int = 0, name: str = "input") -> Value:
        """Argument ``i`` (or keyword ``name``), which must be a tensor of the graph."""
        v = self.arg(i, name)
        if not isinstance(v, Value):
            raise self.fail(f"argument {name!r} is {describe(v)}, not a tensor computed from the model's input")
        return v

    @property
    def out_shape(self) -> tuple[int, ...]:
        if not isinstance(self.out, torch.Tensor):
            raise self.fail("does not return a tensor")
        return tuple(self.out.shape)

    def fail(self, reason: str) -> Exception:
        return refuse(self.where, reason)

    def add(self, suffix: str, class_name: str, config: dict[str, Any], inputs: list[Value], weights: Any = None) -> Any:
        """Add a layer named after this node (``base`` + ``suffix``) on ``inputs``' Keras tensors."""
        return self.graph.add(self.base + suffix, class_name, config, [v.ref for v in inputs], weights)

    def emit(self, layer: ExportedLayer, inputs: list[Value], suffix: str = "") -> Any:
        """Add ``layer`` (class, config, tfjs weights) on ``inputs``; returns its Keras tensor."""
        return self.add(suffix, layer.class_name, layer.config, inputs, layer.weights)


#: A node handler: (exporter, call) -> the node's value.
Handler = Callable[["Exporter", Call], Any]

#: function (``torch.cat``, ``F.relu``, ``operator.add``) -> handler.
FUNCTIONS: dict[Any, Handler] = {}
#: tensor method name (``view``) -> handler.
METHODS: dict[str, Handler] = {}

def describe(v: Any) -> str:
    """How an error names a value that is not a tensor of the graph."""
    if isinstance(v, torch.Tensor):
        return f"a constant tensor of shape {list(v.shape)}"
    return repr(v) if not isinstance(v, (list, tuple)) else f"{type(v).__name__} {v!r}"
