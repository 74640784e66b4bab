"""A graph model's ``modelTopology`` (a TensorFlow GraphDef in JSON) and ``signature``, parsed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import TfjsFormatError
from .registry import Node, parse_ref

__all__ = ["GraphDef", "TensorInfo", "parse_graph", "parse_signature"]


@dataclass
class GraphDef:
    """The nodes of a GraphDef, by name in file order, and its function library.

    Attributes:
        nodes: node name -> :class:`Node`, in the order of the file.
        functions: function name -> the raw ``FunctionDef`` JSON object
            (``library.function``), for the control-flow interpreter.
        file: the model file name, for error messages.
    """

    nodes: dict[str, Node]
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    file: str | None = None

    def consumers(self) -> dict[str, list[str]]:
        """node name -> names of the nodes taking it as an input (data or control)."""
        out: dict[str, list[str]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for ref in node.inputs:
                out.setdefault(parse_ref(ref)[0], []).append(node.name)
            for name in node.control:
                out.setdefault(name, []).append(node.name)
        return out


@dataclass
class TensorInfo:
    """One signature entry: its key, the graph tensor (``node:index``), dtype, shape, resource id."""

    key: str
    ref: str
    dtype: str | None
    shape: list[int] | None
    resource_id: int | None = None


def parse_graph(topology: Any, *, file: str | None = None, where: str = "modelTopology") -> GraphDef:
    """Parse a GraphDef JSON object (``{"node": [...], "library": {...}, "versions": ...}``).

    Raises:
        TfjsFormatError: no node list, a malformed node, or two nodes with one name.
    """
    if not isinstance(topology, dict) or not isinstance(topology.get("node", []), list):
        raise TfjsFormatError("is not a GraphDef (an object with a list of nodes)", file=file, field=where)
    nodes: dict[str, Node] = {}
    for doc in topology.get("node", []):
        node = Node(doc, file=file)
        if node.name in nodes:
            raise TfjsFormatError(f"two nodes are named {node.name!r}", file=file, field=where)
        nodes[node.name] = node
    functions: dict[str, dict[str, Any]] = {}
    library = topology.get("library") or {}
    for fn in library.get("function", []) if isinstance(library, dict) else []:
        name = (fn.get("signature") or {}).get("name") if isinstance(fn, dict) else None
        if isinstance(name, str):
            functions[name] = fn
    return GraphDef(nodes, functions, file)


def _ref(name: str) -> str:
    node, idx = parse_ref(name)
    return f"{node}:{idx}"


def parse_signature(entries: Any, *, file: str | None = None, where: str = "signature") -> list[TensorInfo]:
    """A signature's ``inputs`` or ``outputs`` map as a list in file order.

    Raises:
        TfjsFormatError: an entry without a tensor name.
    """
    if not entries:
        return []
    if not isinstance(entries, dict):
        raise TfjsFormatError(f"is {type(entries).__name__}, not an object", file=file, field=where)
    out = []
    for key, info in entries.items():
        if not isinstance(info, dict) or not isinstance(info.get("name"), str):
            raise TfjsFormatError("has no tensor name", file=file, field=f"{where}.{key}")
        shape = info.get("tensorShape") or {}
        dims = None if shape.get("unknownRank") else [int(d.get("size", 0)) for d in shape.get("dim", [])]
        rid = info.get("resourceId")
        out.append(TensorInfo(str(key), _ref(info["name"]), info.get("dtype"), dims, int(rid) if rid is not None else None))
    return out
