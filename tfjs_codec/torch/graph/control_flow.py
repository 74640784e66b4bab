"""TF1 control flow for graph models: frames, loops, conditionals, TensorArray and TensorList.

Graphs with ``Switch`` / ``Merge`` / ``Enter`` / ``Exit`` / ``NextIteration`` / ``LoopCond``
(``tf.while_loop`` / ``tf.cond`` / ``tf.map_fn`` as TF1 lowers them) have no static execution
order. :func:`execute` runs them the way tfjs-converter 4.22 does
(``graph_executor.ts: executeWithControlFlow / processStack / processChildNodes``,
``execution_context.ts``, ``executors/control_executor.ts``, ``tensor_array.ts``,
``tensor_list.ts``):

- a stack of (node, context) items, a context being the path of (frame name, iteration) pairs
  from the root; a node's outputs are stored under its name in the context it ran in;
- reading an input looks in the current context, then in each enclosing one (so loop-invariant
  tensors of an outer frame are visible in every iteration);
- when a node has run, each of its consumers is pushed once per context: a ``Merge`` as soon
  as one of its inputs has a value, any other node when all of its inputs (control inputs
  included: tfjs reads ``^x`` as ``x``) have one;
- ``Switch`` outputs only the taken branch (the other one never gets a value, so nothing
  downstream of it runs), ``Merge`` forwards its first input that has a value (it has no
  ``value_index`` output in tfjs), ``Enter`` moves into frame ``frame_name`` iteration 0 (an
  ``is_constant`` Enter stores its value in the enclosing context, visible to every
  iteration), ``NextIteration`` moves to the next iteration, ``Exit`` back to the enclosing
  frame;
- TensorArrays and TensorLists are Python objects flowing through the graph as handles, with
  tfjs's rules (a TensorArray's size is the number of elements written; a list made by
  ``TensorListReserve`` starts empty; ...).

Functional control flow (TF2's ``While`` / ``StatelessWhile`` / ``If`` / ``StatelessIf``, the
converter's ``control_flow_v2``) runs the functions of the graph's library
(``modelTopology.library.function``) as tfjs's ``executeFunctionAsync`` does: ``If`` runs
``then_branch`` or ``else_branch`` on its other inputs; ``While`` runs ``cond`` on the loop
variables, then ``body`` while it is true. A function's input args are its Placeholders, its
outputs its ``ret`` map in ``outputArg`` order; an input ``node:out_arg:i`` is read as
``node:i`` (tfjs keeps only the index); its Consts are weights of the model (fed by the module).

The control-flow ops are registered in the op registry so that a graph using them builds; the
registered functions only raise, since these ops run inside :func:`execute`, never alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from .registry import Node, parse_ref, register

__all__ = ["execute", "TensorArray", "TensorList", "CONTROL_OPS"]

Context = tuple[tuple[str, int], ...]  # ((frame name, iteration), ...) from the root; () is the root
_ROOT: Context = ()


# --------------------------------------------------------------------------
# TensorArray / TensorList (tensor_array.ts, tensor_list.ts)


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def _shape_matches(a: list[int] | None, b: Sequence[int] | None) -> bool:
    """tfjs assertShapesMatchAllowUndefinedSize: unknown rank (None) or -1 dims match anything."""
    if a is None or b is None:
        return True
    return len(a) == len(b) and all(x < 0 or y < 0 or x == y for x, y in zip(a, b, strict=True))


def _merge_shape(a: list[int] | None, b: list[int] | None) -> list[int] | None:
    """tfjs mergeElementShape."""
    if a is None:
        return b
    if b is None:
        return a
    if len(a) != len(b):
        raise ValueError(f"Incompatible ranks during merge: {a} vs. {b}")
    out = []
    for x, y in zip(a, b, strict=True):
        if x >= 0 and y >= 0 and x != y:
            raise ValueError(f"Incompatible shape during merge: {a} vs. {b}")
        out.append(x if x >= 0 else y)
    return out


def _defined(shape: list[int] | None) -> bool:
    return shape is not None and all(d >= 0 for d in shape)


class TensorArray:
    """A TF1 TensorArray (``TensorArrayV3``) with tfjs-converter's rules.

    Attributes:
        name: the ``tensor_array_name`` attribute (for messages).
        dtype: the element dtype (torch).
        max_size: the declared size.
        element_shape: the element shape (None: unknown, set by the first write).
        dynamic_size / clear_after_read: as in TensorFlow.
        tensors: the elements by index (None: not written).
    """

    def __init__(
        self, name: str, dtype: Any, max_size: int, element_shape: list[int] | None, dynamic_size: bool, clear_after_read: bool
    ):
        self.name = name
        self.dtype = dtype
        self.max_size = max_size
        self.element_shape = element_shape
        self.dynamic_size = dynamic_size
        self.clear_after_read = clear_after_read
        self.tensors: list[torch.Tensor | None] = []
        self._read: set[int] = set()
        self._cleared: set[int] = set()
        self.closed = False

    def size(self) -> int:
        """The number of slots written up to the highest index (tfjs: ``tensors.length``)."""
        return len(self.tensors)

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"TensorArray {self.name} has already been closed.")

    def read(self, index: int) -> torch.Tensor:
        self._check_open()
        if index < 0 or index >= self.size():
            raise ValueError(f"Tried to read from index {index}, but array size is: {self.size()}")
        if index in self._cleared:
            raise ValueError(
                f"TensorArray {self.name}: Could not read index {index} twice because it was cleared after a previous read."
            )
        t = self.tensors[index]
        if t is None:
            raise ValueError(f"TensorArray {self.name}: index {index} was never written")
        if self.clear_after_read:
            self._cleared.add(index)
        self._read.add(index)
        return t

    def write(self, index: int, tensor: torch.Tensor) -> None:
        self._check_open()
        if index < 0 or (not self.dynamic_size and index >= self.max_size):
            raise ValueError(f"Tried to write to index {index}, but array is not resizeable and size is: {self.max_size}")
        if tensor.dtype != self.dtype:
            raise ValueError(
                f"TensorArray {self.name}: Could not write to TensorArray index {index}, because the value dtype is "
                f"{_dtype_name(tensor.dtype)}, but TensorArray dtype is {_dtype_name(self.dtype)}."
            )
        if self.size() == 0 and not self.element_shape:
            self.element_shape = list(tensor.shape)
        if not _shape_matches(self.element_shape, list(tensor.shape)):
            raise ValueError(
                f"TensorArray {self.name}: Could not write to TensorArray index {index}. "
                f"Shapes {self.element_shape} and {list(tensor.shape)} must match"
            )
        if index in self._read:
            raise ValueError(
                f"TensorArray {self.name}: Could not write to TensorArray index {index}, because it has already been read."
            )
        if index < len(self.tensors) and self.tensors[index] is not None:
            raise ValueError(
                f"TensorArray {self.name}: Could not write to TensorArray index {index}, because it has already been written."
            )
        while len(self.tensors) <= index:
            self.tensors.append(None)
        self.tensors[index] = tensor

    def gather(self, indices: list[int]) -> torch.Tensor:
        indices = indices[: self.size()]
        if not indices:
            return torch.zeros([0, *(self.element_shape or [])], dtype=self.dtype)
        return torch.stack([self.read(i) for i in indices], 0)

    def concat(self) -> torch.Tensor:
        if self.size() == 0:
            return torch.zeros([0, *(self.element_shape or [])], dtype=self.dtype)
        return torch.cat([self.read(i) for i in range(self.size())], 0)

    def scatter(self, indices: list[int], tensor: torch.Tensor) -> None:
        if tensor.dtype != self.dtype:
            raise ValueError(f"TensorArray dtype is {_dtype_name(self.dtype)} but tensor has dtype {_dtype_name(tensor.dtype)}")
        if len(indices) != tensor.shape[0]:
            raise ValueError(f"Expected len(indices) == tensor.shape[0], but saw: {len(indices)} vs. {tensor.shape[0]}")
        if indices and not self.dynamic_size and max(indices) >= self.max_size:
            raise ValueError(f"Max index must be < array size ({max(indices)}  vs. {self.max_size})")
        for i, t in zip(indices, torch.unbind(tensor, 0), strict=True):
            self.write(i, t)

    def split(self, lengths: list[int], tensor: torch.Tensor) -> None:
        if tensor.dtype != self.dtype:
            raise ValueError(f"TensorArray dtype is {_dtype_name(self.dtype)} but tensor has dtype {_dtype_name(tensor.dtype)}")
        total = sum(lengths)
        if total != tensor.shape[0]:
            raise ValueError(
                f"Expected sum of lengths to be equal to tensor.shape[0], but sum of lengths is {total}, "
                f"and tensor's shape is: {list(tensor.shape)}"
            )
        if not self.dynamic_size and len(lengths) != self.max_size:
            raise ValueError(
                f"TensorArray's size is not equal to the size of lengths ({self.max_size} vs. {len(lengths)}), "
                "and the TensorArray is not marked as dynamically resizeable"
            )
        per_row = 0 if total == 0 else tensor.numel() // total
        flat = tensor.reshape(total, per_row)
        start = 0
        for i, n in enumerate(lengths):
            piece = flat[start : start + n]
            start += n
            self.write(i, piece.reshape(self.element_shape) if self.element_shape is not None else piece)


class TensorList:
    """A TensorList (``TensorListReserve`` / ``TensorListFromTensor`` ...) with tfjs-converter's rules."""

    def __init__(
        self, tensors: list[torch.Tensor | None], element_shape: list[int] | None, dtype: Any, max_num_elements: int = -1
    ):
        for t in tensors:
            if t is not None and t.dtype != dtype:
                raise ValueError(
                    f"Invalid data types; op elements {_dtype_name(dtype)}, but list elements {_dtype_name(t.dtype)}"
                )
            if t is not None and not _shape_matches(element_shape, list(t.shape)):
                raise ValueError(f"TensorList shape mismatch: Shapes {element_shape} and {list(t.shape)} must match")
        self.tensors = tensors
        self.element_shape = element_shape
        self.dtype = dtype
        self.max_num_elements = max_num_elements

    def _check_dtype(self, dtype: Any) -> None:
        if dtype != self.dtype:
            raise ValueError(f"Invalid data types; op elements {_dtype_name(dtype)}, but list elements {_dtype_name(self.dtype)}")

    def _infer_shape(self, element_shape: list[int] | None) -> list[int]:
        partial = _merge_shape(self.element_shape, element_shape)
        if not _defined(partial):
            if not self.tensors:
                raise ValueError(f"Tried to calculate elements of an empty list with non-fully-defined elementShape: {partial}")
            for t in self.tensors:
                if t is not None:
                    partial = _merge_shape(list(t.shape), partial)
        if partial is None or not _defined(partial):
            raise ValueError(f"Non-fully-defined elementShape: {partial}")
        return partial

    def size(self) -> int:
        return len(self.tensors)

    def _items(self, indices: Iterable[int], shape: list[int]) -> list[torch.Tensor]:
        out = []
        for i in indices:
            t = self.tensors[i]
            if t is None:
                raise ValueError(f"element at index {i} is null.")
            out.append(t.reshape(shape))
        return out

    def stack(self, element_shape: list[int] | None, dtype: Any, num_elements: int = -1) -> torch.Tensor:
        self._check_dtype(dtype)
        if num_elements != -1 and self.size() != num_elements:
            raise ValueError(
                f"Operation expected a list with {num_elements} elements but got a list with {self.size()} elements."
            )
        if not _shape_matches(element_shape, self.element_shape):
            raise ValueError(f"TensorList shape mismatch: Shapes {element_shape} and {self.element_shape} must match")
        shape = self._infer_shape(element_shape)
        items = self._items(range(self.size()), shape)
        return torch.stack(items, 0) if items else torch.zeros([0, *shape], dtype=self.dtype)

    def get_item(self, index: int, element_shape: list[int] | None, dtype: Any) -> torch.Tensor:
        self._check_dtype(dtype)
        if index < 0 or index > self.size():
            raise ValueError(f"Trying to access element {index} in a list with {self.size()} elements.")
        if index == self.size() or self.tensors[index] is None:
            raise ValueError(f"element at index {index} is null.")
        t = self.tensors[index]
        assert t is not None
        if not _shape_matches(list(t.shape), element_shape):
            raise ValueError(f"TensorList shape mismatch: Shapes {list(t.shape)} and {element_shape} must match")
        return t.reshape(self._infer_shape(element_shape))

    def set_item(self, index: int, tensor: torch.Tensor) -> None:
        self._check_dtype(tensor.dtype)
        if index < 0 or (self.max_num_elements != -1 and index >= self.max_num_elements):
            raise ValueError(f"Trying to set element {index} in a list with max {self.max_num_elements} elements.")
        if not _shape_matches(self.element_shape, list(tensor.shape)):
            raise ValueError(f"TensorList shape mismatch: Shapes {self.element_shape} and {list(tensor.shape)} must match")
        while len(self.tensors) <= index:
            self.tensors.append(None)
        self.tensors[index] = tensor

    def push_back(self, tensor: torch.Tensor) -> None:
        self._check_dtype(tensor.dtype)
        if not _shape_matches(list(tensor.shape), self.element_shape):
            raise ValueError(f"TensorList shape mismatch: Shapes {list(tensor.shape)} and {self.element_shape} must match")
        if self.max_num_elements == self.size():
            raise ValueError("Trying to push element into a full list.")
        self.tensors.append(tensor)

    def pop_back(self, element_shape: list[int] | None, dtype: Any) -> torch.Tensor:
        self._check_dtype(dtype)
        if self.size() == 0:
            raise ValueError("Trying to pop from an empty list.")
        shape = self._infer_shape(element_shape)
        t = self.tensors.pop()
        if t is None:
            raise ValueError(f"element at index {self.size()} is null.")
        return t.reshape(shape)

    def gather(self, indices: list[int], dtype: Any, element_shape: list[int] | None) -> torch.Tensor:
        self._check_dtype(dtype)
        shape = self._infer_shape(element_shape)
        indices = indices[: self.size()]
        if not indices:
            return torch.zeros([0, *shape], dtype=self.dtype)
        return torch.stack(self._items(indices, shape), 0)

    def concat(self, dtype: Any, element_shape: list[int] | None) -> torch.Tensor:
        self._check_dtype(dtype)
        shape = self._infer_shape(element_shape)
        if self.size() == 0:
            return torch.zeros([0, *shape], dtype=self.dtype)
        return torch.cat(self._items(range(self.size()), shape), 0)

    def resize(self, size: int) -> TensorList:
        if size < 0:
            raise ValueError(f"TensorListResize expects size to be non-negative. Got: {size}")
        if self.max_num_elements != -1 and size > self.max_num_elements:
            raise ValueError(f"TensorListResize input size {size} is greater maxNumElement {self.max_num_elements}.")
        kept: list[torch.Tensor | None] = list(self.tensors[:size])
        return TensorList(kept + [None] * (size - len(kept)), self.element_shape, self.dtype, self.max_num_elements)


# --------------------------------------------------------------------------
# helpers for op arguments


def _int(t: Any) -> int:
    return int(t.reshape(-1)[0].item()) if isinstance(t, torch.Tensor) else int(t)


def _ints(t: Any) -> list[int]:
    if isinstance(t, torch.Tensor):
        return [int(v) for v in t.reshape(-1).tolist()]
    return [int(v) for v in t]


def _shape_arg(t: Any) -> list[int] | None:
    """A shape input as tfjs reads it: a scalar means unknown rank (None), else a list of dims."""
    if isinstance(t, torch.Tensor):
        if t.dim() == 0:
            return None
        return [int(v) for v in t.tolist()]
    return None if t is None else list(t)


def _truth(t: Any) -> bool:
    if isinstance(t, torch.Tensor):
        return bool(t.reshape(-1)[0].item())
    return bool(t)


def _array(node: Node, h: Any) -> TensorArray:
    if not isinstance(h, TensorArray):
        raise node.error(f"input 0 is {type(h).__name__}, not a TensorArray handle")
    return h


def _list(node: Node, h: Any) -> TensorList:
    if not isinstance(h, TensorList):
        raise node.error(f"input 0 is {type(h).__name__}, not a TensorList handle")
    return h


def _elem_dtype(node: Node, key: str = "element_dtype") -> Any:
    return node.attr(key)


def _run_resource_op(node: Node, x: list[Any]) -> list[Any]:
    """TensorArray* / TensorList* ops (control_executor.ts); raises ValueError on misuse."""
    op = node.op
    if op == "TensorArrayV3":
        ta = TensorArray(
            node.attr("tensor_array_name", "") or node.name,
            node.attr("dtype"),
            _int(x[0]),
            node.attr("element_shape", None),
            bool(node.attr("dynamic_size", False)),
            bool(node.attr("clear_after_read", True)),
        )
        return [ta, torch.tensor(1.0)]
    if op == "TensorArrayWriteV3":
        ta = _array(node, x[0])
        ta.write(_int(x[1]), x[2])
        return [ta]
    if op == "TensorArrayReadV3":
        return [_array(node, x[0]).read(_int(x[1]))]
    if op == "TensorArrayGatherV3":
        ta = _array(node, x[0])
        dtype = node.attr("dtype", None)
        if dtype is not None and dtype != ta.dtype:
            raise ValueError(f"TensorArray dtype is {_dtype_name(ta.dtype)} but gather requested dtype {_dtype_name(dtype)}")
        return [ta.gather(_ints(x[1]))]
    if op == "TensorArrayScatterV3":
        ta = _array(node, x[0])
        ta.scatter(_ints(x[1]), x[2])
        return [ta]
    if op == "TensorArrayConcatV3":
        ta = _array(node, x[0])
        dtype = node.attr("dtype", None)
        if dtype is not None and dtype != ta.dtype:
            raise ValueError(f"TensorArray dtype is {_dtype_name(ta.dtype)} but concat requested dtype {_dtype_name(dtype)}")
        return [ta.concat()]
    if op == "TensorArraySplitV3":
        ta = _array(node, x[0])
        ta.split(_ints(x[2]), x[1])
        return [ta]
    if op == "TensorArraySizeV3":
        return [torch.tensor(_array(node, x[0]).size(), dtype=torch.int32)]
    if op == "TensorArrayCloseV3":
        ta = _array(node, x[0])
        ta.tensors, ta.closed = [], True
        return [ta]
    if op in ("TensorListReserve", "EmptyTensorList"):
        num = _int(x[1])
        return [TensorList([], _shape_arg(x[0]), _elem_dtype(node), -1 if op == "TensorListReserve" else num)]
    if op == "TensorListFromTensor":
        t, shape = x[0], _shape_arg(x[1])
        dtype = _elem_dtype(node)
        if t.dim() < 1:
            raise ValueError(f"Tensor must be at least a vector, but saw shape: {list(t.shape)}")
        if t.dtype != dtype:
            raise ValueError(f"Invalid data types; op elements {_dtype_name(t.dtype)}, but list elements {_dtype_name(dtype)}")
        if not _shape_matches(list(t.shape[1:]), shape):
            raise ValueError(f"TensorList shape mismatch: Shapes {list(t.shape[1:])} and {shape} must match")
        return [TensorList(list(torch.unbind(t, 0)), shape, t.dtype)]
    if op == "TensorListSetItem":
        tl = _list(node, x[0])
        tl.set_item(_int(x[1]), x[2])
        return [tl]
    if op == "TensorListGetItem":
        return [_list(node, x[0]).get_item(_int(x[1]), _shape_arg(x[2]), _elem_dtype(node))]
    if op == "TensorListStack":
        return [_list(node, x[0]).stack(_shape_arg(x[1]), _elem_dtype(node), int(node.attr("num_elements", -1)))]
    if op == "TensorListGather":
        return [_list(node, x[0]).gather(_ints(x[1]), _elem_dtype(node), _shape_arg(x[2]))]
    if op in ("TensorListConcat", "TensorListConcatV2"):
        return [
            _list(node, x[0]).concat(
                _elem_dtype(node), node.attr("element_shape", None) if op == "TensorListConcat" else _shape_arg(x[1])
            )
        ]
    if op == "TensorListPushBack":
        tl = _list(node, x[0])
        tl.push_back(x[1])
        return [tl]
    if op == "TensorListPopBack":
        return [_list(node, x[0]).pop_back(_shape_arg(x[1]), _elem_dtype(node))]
    if op == "TensorListLength":
        return [torch.tensor(_list(node, x[0]).size(), dtype=torch.int32)]
    if op == "TensorListResize":
        return [_list(node, x[0]).resize(_int(x[1]))]
    if op in ("TensorListScatter", "TensorListScatterV2"):
        t, indices, shape = x[0], _ints(x[1]), _shape_arg(x[2])
        num = _int(x[3]) if op == "TensorListScatterV2" else -1
        if len(indices) != t.shape[0]:
            raise ValueError(f"Expected len(indices) == tensor.shape[0], but saw: {len(indices)} vs. {t.shape[0]}")
        if indices and num != -1 and max(indices) >= num:
            raise ValueError(f"Max index must be < array size ({max(indices)}  vs. {num})")
        tl = TensorList([], shape, t.dtype, num)
        for i, item in zip(indices, torch.unbind(t, 0), strict=True):
            tl.set_item(i, item)
        return [tl]
    if op == "TensorListSplit":
        t, shape, lengths = x[0], _shape_arg(x[1]), _ints(x[2])
        if sum(lengths) != t.shape[0]:
            raise ValueError(
                f"Expected sum of lengths to be equal to tensor.shape[0], but sum of lengths is {sum(lengths)}, "
                f"and tensor's shape is: {list(t.shape)}"
            )
        out_shape = _merge_shape(list(t.shape[1:]), shape)
        tl = TensorList([], shape, t.dtype, len(lengths))
        start = 0
        for i, n in enumerate(lengths):
            piece = t[start : start + n]
            start += n
            tl.set_item(i, piece.reshape([n, *(out_shape or [])[1:]]) if out_shape else piece)
        return [tl]
    raise node.error("op is not supported by tfjs_codec.torch")  # pragma: no cover - guarded by RESOURCE_OPS


#: Ops :func:`execute` runs itself (frame bookkeeping and resource handles).
FRAME_OPS = frozenset({"Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond"})
RESOURCE_OPS = frozenset(
    {
        "TensorArrayV3",
        "TensorArrayWriteV3",
        "TensorArrayReadV3",
        "TensorArrayGatherV3",
        "TensorArrayScatterV3",
        "TensorArrayConcatV3",
        "TensorArraySplitV3",
        "TensorArraySizeV3",
        "TensorArrayCloseV3",
        "TensorListReserve",
        "EmptyTensorList",
        "TensorListFromTensor",
        "TensorListSetItem",
        "TensorListGetItem",
        "TensorListStack",
        "TensorListGather",
        "TensorListConcat",
        "TensorListConcatV2",
        "TensorListPushBack",
        "TensorListPopBack",
        "TensorListLength",
        "TensorListResize",
        "TensorListScatter",
        "TensorListScatterV2",
        "TensorListSplit",
    }
)
#: Functional control flow: bodies from the graph's function library (``library.function``).
FUNCTION_OPS = frozenset({"While", "StatelessWhile", "If", "StatelessIf"})
CONTROL_OPS = FRAME_OPS | RESOURCE_OPS | FUNCTION_OPS
# Ops that forward their input: run here, so resource handles pass through them too.
_FORWARD = frozenset({"Identity", "Snapshot", "StopGradient"})


def _only_in_execute(node: Node, *inputs: Any) -> Any:
    raise node.error("runs only inside the control-flow interpreter (tfjs_codec.torch.graph.control_flow.execute)")


register(*sorted(CONTROL_OPS))(_only_in_execute)


# --------------------------------------------------------------------------
# the executor


def _function_ref(ref: str) -> str:
    """A FunctionDef input (``node:out_arg:index``, ``arg``, ``^node``) as a graph ref.

    tfjs-converter keeps only the trailing index (``parseNodeName``), whatever the output arg.
    """
    if ref.startswith("^"):
        return ref
    parts = ref.split(":")
    return f"{parts[0]}:{parts[-1]}" if len(parts) == 3 else ref


class _FunctionGraph:
    """One FunctionDef as a graph :func:`execute` runs: its input args are Placeholders."""

    def __init__(self, fdef: dict[str, Any], functions: dict[str, dict[str, Any]], file: str | None):
        sig = fdef.get("signature") or {}
        self.name: str = sig.get("name", "?")
        self.args: list[str] = [a["name"] for a in sig.get("inputArg", [])]
        ret = fdef.get("ret") or {}
        self.outputs: list[str] = [_function_ref(ret[a["name"]]) for a in sig.get("outputArg", [])]
        self.nodes: dict[str, Node] = {a: Node({"name": a, "op": "Placeholder"}, file=file) for a in self.args}
        for doc in fdef.get("nodeDef", []):
            doc = {**doc, "input": [_function_ref(r) for r in doc.get("input", [])]}
            self.nodes[doc["name"]] = Node(doc, file=file)
        self.functions = functions
        self.file = file
        self.consts = [n.name for n in self.nodes.values() if n.op == "Const"]
        self.all_consts: dict[str, Any] = {}


def function_nodes(graph: Any) -> list[Node]:
    """Every node of every function in ``graph.functions`` (their Consts are weights to feed)."""
    out: list[Node] = []
    for fdef in graph.functions.values():
        fg = _FunctionGraph(fdef, graph.functions, getattr(graph, "file", None))
        out.extend(n for n in fg.nodes.values() if n.name not in fg.args)
    return out


def _call(
    node: Node,
    graph: Any,
    name: Any,
    args: list[Any],
    consts: dict[str, Any],
    evaluate_node: Callable[[Node, Sequence[Any]], list[Any]],
) -> list[Any]:
    """Run function ``name`` of ``graph``'s library on ``args`` (tfjs executeFunctionAsync)."""
    fdef = graph.functions.get(name) if isinstance(name, str) else None
    if fdef is None:
        raise node.error(f"function {name!r} is not in the graph's function library")
    fg = _FunctionGraph(fdef, graph.functions, getattr(graph, "file", None))
    fg.all_consts = consts  # nested calls find their functions' constants here too
    if len(args) != len(fg.args):
        raise node.error(f"function {fg.name!r} takes {len(fg.args)} arguments, got {len(args)}")
    feeds = {f"{a}:0": v for a, v in zip(fg.args, args, strict=True)}
    feeds.update({f"{c}:0": consts[f"{c}:0"] for c in fg.consts if f"{c}:0" in consts})
    return execute(fg, feeds, fg.outputs, evaluate_node)


def _run_function_op(node: Node, graph: Any, ins: list[Any], consts: dict[str, Any], evaluate_node: Any) -> list[Any]:
    """``If`` / ``StatelessIf`` / ``While`` / ``StatelessWhile`` (control_executor.ts)."""
    if node.op in ("If", "StatelessIf"):
        branch = node.attr("then_branch") if _truth(ins[0]) else node.attr("else_branch")
        return _call(node, graph, branch, list(ins[1:]), consts, evaluate_node)
    cond, body = node.attr("cond"), node.attr("body")
    args = list(ins)
    while _truth(_call(node, graph, cond, args, consts, evaluate_node)[0]):
        args = _call(node, graph, body, args, consts, evaluate_node)
    return args


def _context_chain(ctx: Context) -> list[Context]:
    """``ctx`` and each enclosing context, innermost first (tfjs ``currentContextIds``)."""
    return [ctx[:k] for k in range(len(ctx), -1, -1)]


def _static_frames(nodes: dict[str, Node], used: set[str], roots: set[str]) -> dict[str, tuple[str, ...]]:
    """node name -> the frame names (outermost first) of the context the node runs in.

    A node runs in the frame its inputs' values are in (the deepest of them); ``Enter`` puts its
    output in frame ``frame_name`` inside that, ``Exit`` back in the enclosing frame. Fixed point
    over the graph (loops close through ``NextIteration``, which does not change the frame).
    """
    out_frame: dict[str, tuple[str, ...]] = {n: () for n in roots}
    run_frame: dict[str, tuple[str, ...]] = {n: () for n in roots}
    order = [n for n in nodes if n in used and n not in roots]
    for _ in range(len(order) + 1):
        changed = False
        for name in order:
            node = nodes[name]
            deps = [out_frame.get(parse_ref(r)[0]) for r in node.inputs] + [out_frame.get(c) for c in node.control]
            known = [d for d in deps if d is not None]
            if not known and deps:
                continue
            fr = max(known, key=len) if known else ()
            if node.op == "Enter":
                out = fr + (str(node.attr("frame_name")),)
            elif node.op == "Exit":
                out = fr[:-1]
            else:
                out = fr
            if run_frame.get(name) != fr or out_frame.get(name) != out:
                run_frame[name], out_frame[name] = fr, out
                changed = True
        if not changed:
            break
    return run_frame


def execute(
    graph: Any,
    feeds: dict[str, Any],
    outputs: Sequence[str],
    evaluate_node: Callable[[Node, Sequence[Any]], list[Any]],
) -> list[Any]:
    """Run a graph with TF1 control flow, as tfjs-converter's ``executeWithControlFlow`` does.

    Args:
        graph: the parsed GraphDef (``.nodes``: name -> :class:`Node`, ``.file``).
        feeds: ``"node:index"`` -> value for every graph input and constant.
        outputs: the wanted ``"node:index"`` refs.
        evaluate_node: runs one ordinary (non control-flow) node on its input values and
            returns its outputs as a list.

    Returns:
        The values of ``outputs``, in order.

    Raises:
        TfjsFormatError: an output cannot be computed from the feeds (naming it), or a
            TensorArray / TensorList op is misused (naming the node and the reason).
    """
    nodes: dict[str, Node] = graph.nodes
    file = getattr(graph, "file", None)
    fed: dict[str, list[Any]] = {}
    for ref, value in feeds.items():
        name, idx = parse_ref(ref)
        slot = fed.setdefault(name, [])
        while len(slot) <= idx:
            slot.append(None)
        slot[idx] = value
    stop = set(fed)

    # the nodes the outputs need (data and control inputs), as tfjs's getExecutionSubgraph
    used: set[str] = set()
    todo = [parse_ref(r)[0] for r in outputs]
    while todo:
        name = todo.pop()
        if name in used:
            continue
        if name not in nodes:
            from ...errors import TfjsFormatError

            raise TfjsFormatError(
                f"node {name!r} is an input of the graph but no node has that name", file=file, field="modelTopology"
            )
        used.add(name)
        if name not in stop:
            node = nodes[name]
            todo.extend(parse_ref(r)[0] for r in node.inputs)
            todo.extend(node.control)
    children: dict[str, list[Node]] = {}
    for name in nodes:  # file order, as tfjs's node.children
        if name not in used:
            continue
        node = nodes[name]
        for dep in [parse_ref(r)[0] for r in node.inputs] + list(node.control):
            children.setdefault(dep, []).append(node)

    values: dict[tuple[str, Context], list[Any]] = {(name, _ROOT): outs for name, outs in fed.items()}

    def lookup(ref: str, ctx: Context) -> Any:
        name, idx = parse_ref(ref)
        for c in _context_chain(ctx):
            outs = values.get((name, c))
            if outs is not None:
                return outs[idx] if idx < len(outs) else None
        return None

    def ready(node: Node, ctx: Context) -> bool:
        refs = list(node.inputs) + list(node.control)
        if node.op == "Merge":
            return any(lookup(r, ctx) is not None for r in node.inputs)
        return all(lookup(r, ctx) is not None for r in refs)

    frames = _static_frames(nodes, used, stop)
    live: set[Context] = {_ROOT}

    def targets(child: str, store_ctx: Context, new_ctx: Context) -> list[Context]:
        """The contexts in which ``child`` may have become ready: where it runs (its static frame)
        and the new value is visible (``store_ctx`` or a context inside it)."""
        want = frames.get(child, ())
        if store_ctx == new_ctx and len(want) == len(new_ctx):
            return [new_ctx]
        if len(want) < len(store_ctx):
            return []
        k = len(store_ctx)
        return sorted(
            d
            for d in live
            if len(d) == len(want) and d[:k] == store_ctx and all(f == w for (f, _), w in zip(d, want, strict=True))
        )

    # start: the fed nodes, then nodes without inputs (tfjs: inputs, weights, init nodes)
    start = [n for n in nodes if n in fed and n in used]
    start += [n for n in nodes if n in used and n not in fed and not nodes[n].inputs and not nodes[n].control]
    stack: list[tuple[Node, Context]] = [(nodes[n], _ROOT) for n in start]
    added: set[tuple[str, Context]] = set()
    while stack:
        node, ctx = stack.pop()
        new_ctx = store_ctx = ctx
        if (node.name, _ROOT) in values:
            store_ctx = _ROOT  # a feed or a root value: visible in every context
        else:
            op = node.op
            if op == "Merge":
                taken = next((v for v in (lookup(r, ctx) for r in node.inputs) if v is not None), None)
                outs: list[Any] = [taken]
            else:
                ins = [lookup(r, ctx) for r in node.inputs]
                if op == "Switch":
                    outs = [None, ins[0]] if _truth(ins[1]) else [ins[0], None]
                elif op in ("LoopCond", "Exit", "NextIteration", "Enter") or op in _FORWARD:
                    outs = [ins[0]]
                    if op == "Enter":
                        new_ctx = ctx + ((str(node.attr("frame_name")), 0),)
                        if not node.attr("is_constant", False):
                            store_ctx = new_ctx
                    elif op == "Exit":
                        if not ctx:
                            raise node.error("Cannot exit frame, the context is empty")
                        new_ctx = store_ctx = ctx[:-1]
                    elif op == "NextIteration":
                        if not ctx:
                            raise node.error("Cannot increase frame iteration, the context is empty")
                        frame, it = ctx[-1]
                        new_ctx = store_ctx = ctx[:-1] + ((frame, it + 1),)
                elif op in FUNCTION_OPS:
                    outs = _run_function_op(node, graph, ins, getattr(graph, "all_consts", feeds), evaluate_node)
                elif op == "NoOp":
                    outs = [torch.tensor(1.0)]  # tfjs: scalar(1), a value for its control consumers
                elif op in RESOURCE_OPS:
                    try:
                        outs = _run_resource_op(node, ins)
                    except ValueError as e:
                        raise node.error(str(e)) from None
                else:
                    outs = evaluate_node(node, ins)
            if outs and outs[0] is None and len(outs) == 1:
                continue  # a Merge with no input: tfjs stores nothing and pushes nothing
            values[(node.name, store_ctx)] = outs
        live.add(new_ctx)
        for child in children.get(node.name, ()):
            for target in targets(child.name, store_ctx, new_ctx):
                key = (child.name, target)
                if key in added or not ready(child, target):
                    continue
                added.add(key)
                stack.append((child, target))

    results = []
    missing = []
    for ref in outputs:
        v = lookup(ref, _ROOT)
        if v is None:
            missing.append(ref)
        results.append(v)
    if missing:
        from ...errors import TfjsFormatError

        raise TfjsFormatError(
            f"cannot compute the outputs {missing} from the inputs: the control flow never reached them",
            file=file,
            field="modelTopology",
        )
    return results
