"""TensorFlow.js graph models (a TensorFlow GraphDef + weights) as torch modules.

Build one with :func:`tfjs_codec.torch.to_module` on a graph model; see
:mod:`tfjs_codec.torch.graph.module` (the compiled module),
:mod:`tfjs_codec.torch.graph.registry` (the op registry and parsed nodes) and
the ``ops_*`` modules (the op functions, by family).
"""

from __future__ import annotations

from .module import GraphModule, build_graph_module, is_graph_model
from .registry import OPS, Node, register

__all__ = ["GraphModule", "Node", "OPS", "build_graph_module", "is_graph_model", "register", "supported_ops"]


def supported_ops() -> list[str]:
    """Every op name the interpreter can run (registered op functions), sorted."""
    from .module import _load_ops

    _load_ops()
    return sorted(OPS)
