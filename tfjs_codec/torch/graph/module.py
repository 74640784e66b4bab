""":class:`GraphModule`: a TensorFlow.js graph model as a torch module.

The GraphDef is compiled once, at build time, into Python source: a generated
``forward`` that calls one op function per node (see
:mod:`tfjs_codec.torch.graph.registry`) in topological order, on the graph's
weights held as parameters (float) and buffers (int, bool), and drops each
intermediate after its last use (``net.code`` shows it). There is no per-node
interpretation at run time, and ``torch.compile`` can take the module.

Graphs with control flow (TF1 ``Switch``/``Merge``/``Enter``/``Exit``/
``NextIteration``/``LoopCond``, ``While``/``If`` with a function library,
TensorArray / TensorList ops) cannot be laid out in a static order; for them
the generated ``forward`` hands the feeds to
``tfjs_codec.torch.graph.control_flow.execute(graph, feeds, outputs, evaluate_node)``:

- ``graph``: the :class:`~tfjs_codec.torch.graph.graphdef.GraphDef`
  (``nodes`` by name in file order, ``functions`` the raw ``FunctionDef`` JSON);
- ``feeds``: ``"node:index"`` -> value for every graph input and every constant
  (weights as the module's parameters / buffers, strings as numpy arrays);
- ``outputs``: the wanted ``"node:index"`` refs, in output order;
- ``evaluate_node(node, inputs) -> list``: runs ``node``'s registered op on a
  list of input values and returns its outputs as a list;

and ``execute`` returns the list of output values.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import keyword
import linecache
import math
import re
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import TfjsFormatError
from ...reader import Model
from ..state import as_numpy, as_tensor
from .graphdef import GraphDef, TensorInfo, parse_graph, parse_signature
from .registry import OPS, STATIC_INPUTS, VALIDATORS, Node, parse_ref
from .shapes import RUNTIME, Arg, shape_expression
from .values import TRACING_REFUSAL

__all__ = ["GraphModule", "build_graph_module", "is_graph_model", "evaluate_node", "CONTROL_FLOW_OPS"]

#: Ops that need the control-flow interpreter (prefixes ``TensorArray``/``TensorList`` too).
CONTROL_FLOW_OPS = frozenset(
    {"Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond", "While", "StatelessWhile", "If", "StatelessIf"}
)
_CONTROL_FLOW_PREFIXES = ("TensorArray", "TensorList")
# Ops that only forward their input: aliased at build time, no call emitted.
_ALIASES = frozenset({"Identity", "Snapshot"})
_OP_MODULES = ("ops_nn", "ops_math", "ops_shape", "ops_image", "ops_table", "ops_dynamic", "control_flow")
_loaded = False


def _load_ops() -> None:
    """Import every op family module present (each registers its ops)."""
    global _loaded
    if _loaded:
        return
    for mod in _OP_MODULES:
        name = f"{__package__}.{mod}"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    _loaded = True


def is_control_flow(op: str) -> bool:
    """True for the ops :data:`CONTROL_FLOW_OPS` and the TensorArray / TensorList families."""
    return op in CONTROL_FLOW_OPS or op.startswith(_CONTROL_FLOW_PREFIXES)


def is_graph_model(model: Model) -> bool:
    """True when ``model`` is a graph model (``format: graph-model`` or a GraphDef topology)."""
    if model.format == "graph-model":
        return True
    doc = model.json if isinstance(model.json, dict) else {}
    topo = doc.get("modelTopology")
    return isinstance(topo, dict) and isinstance(topo.get("node"), list) and "class_name" not in topo


def evaluate_node(node: Node, inputs: Sequence[Any]) -> list[Any]:
    """Run ``node``'s registered op on ``inputs``; its outputs as a list.

    Raises:
        TfjsFormatError: no op function is registered for ``node.op``.
    """
    fn = OPS.get(node.op)
    if fn is None:
        raise node.error("op is not supported by tfjs_codec.torch")
    out = fn(node, *inputs)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _identifier(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W", "_", name)
    if not base or base[0].isdigit() or keyword.iskeyword(base):
        base = "_" + base
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}_{n}"
    taken.add(key)
    return key


def _bind(fn: Callable[..., Any], node: Node, multi: bool) -> Callable[..., Any]:
    """``fn(node, *xs)`` as a function of the inputs, returning one value or a tuple."""
    if multi:

        def call(*xs: Any) -> Any:
            out = fn(node, *xs)
            return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    else:

        def call(*xs: Any) -> Any:
            out = fn(node, *xs)
            return out[0] if isinstance(out, (tuple, list)) else out

    call.__name__ = call.__qualname__ = re.sub(r"\W", "_", node.op)
    return call


_NUMERIC_INPUTS = {
    "DT_FLOAT": torch.float32,
    "DT_HALF": torch.float32,
    "DT_DOUBLE": torch.float32,
    "DT_INT32": torch.int32,
    "DT_INT64": torch.int32,
    "DT_INT8": torch.int32,
    "DT_UINT8": torch.int32,
    "DT_INT16": torch.int32,
    "DT_BOOL": torch.bool,
}


def _input_converter(name: str, dtype: torch.dtype) -> Callable[[Any], Any]:
    """An input as a dense tensor of the placeholder's dtype (tfjs dtypes: float64 -> float32, int64 -> int32).

    Dense (row-major, as tfjs' tensors are): torch's CPU kernels write their output in their
    input's memory order, so a strided view (an image transposed or sliced in numpy) would carry
    its order into every convolution after it, which then runs 1.2-2x slower than on the NHWC
    memory of the graph's own layout (measured: benchmarks/RESULTS.md, "Engines"). One copy of the
    input, none when it is dense already.
    """

    def convert(x: Any) -> Any:
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        if x.dtype == dtype:
            return x.contiguous()
        if (
            x.dtype == torch.float64
            and dtype == torch.float32
            or dtype == torch.int32
            and x.dtype in (torch.int64, torch.int16, torch.int8, torch.uint8)
        ):
            return x.to(dtype).contiguous()
        raise TypeError(f"input {name!r} must be {str(dtype).replace('torch.', '')}, got {str(x.dtype).replace('torch.', '')}")

    return convert


class GraphModule(nn.Module):
    """A TensorFlow.js graph model as a torch module.

    ``forward(*inputs)`` takes the graph's inputs positionally in
    :attr:`input_names` order, in the graph's own layout (most tfjs graph
    models are NHWC), and returns a tensor, or a tuple in :attr:`output_names`
    order. Inputs may be tensors or numpy arrays; float64 becomes float32 and
    int64 int32, as tfjs' dtypes go; other dtypes than the placeholder's raise
    ``TypeError``. String inputs (hash-table lookups) are lists or numpy arrays of str.

    Attributes:
        input_names / output_names: signature keys (or placeholder / sink node names).
        input_refs / output_refs: the graph tensors (``node:index``) they stand for.
        input_shapes / input_dtypes: from the signature or the placeholders
            (-1 for unknown dimensions; dtype names as in the GraphDef).
        weight_names: tfjs weight name -> the module attribute holding it
            (a parameter for float weights, a buffer for int / bool ones), in
            the weight's tfjs shape.
        graph_def: the parsed :class:`~tfjs_codec.torch.graph.graphdef.GraphDef`.
        model_file: the model's file name.
        code: the source of the generated forward.
    """

    input_names: list[str]
    output_names: list[str]
    input_refs: list[str]
    output_refs: list[str]
    input_shapes: list[list[int] | None]
    input_dtypes: list[str | None]
    weight_names: dict[str, str]
    graph_def: GraphDef
    model_file: str
    code: str
    _run: Callable[..., Any]

    def forward(self, *inputs: Any) -> Any:
        _check_arity(self, inputs)
        return self._run(self, *inputs)

    def tfjs_state(self) -> dict[str, np.ndarray]:
        """tfjs weight name -> the module's current value (tfjs shape and dtype)."""
        return {name: as_numpy(getattr(self, key)) for name, key in self.weight_names.items()}

    def extra_repr(self) -> str:
        return f"inputs={self.input_names}, outputs={self.output_names}, weights={len(self.weight_names)}"


def _check_arity(module: GraphModule, inputs: tuple[Any, ...]) -> None:
    if len(inputs) != len(module.input_names):
        raise TypeError(
            f"the graph takes {len(module.input_names)} input(s) ({', '.join(module.input_names)}), got {len(inputs)}"
        )


def _forward_calling(run: Callable[..., Any]) -> Callable[..., Any]:
    def forward(self: GraphModule, *inputs: Any) -> Any:
        _check_arity(self, inputs)
        return run(self, *inputs)

    return forward


def _own_forward(module: GraphModule) -> None:
    """Give ``module`` a ``forward`` of its own: :meth:`GraphModule.forward` as a new code object,
    with the module's generated function in its closure.

    torch.compile keeps compiled graphs and their guards per code object, and its "automatic
    dynamic shapes" keep the sizes seen per function (file, line, name and closure). With the
    one forward of the class, every graph model compiled in a process was the same function: a
    second model was a recompilation of the first, its input sizes compiled as symbols (code that
    Inductor got wrong for age after antispoof: inf and NaN, varying from call to call), and the
    ninth model met dynamo's recompile limit.
    """
    shared = _forward_calling(module._run)
    own = types.FunctionType(shared.__code__.replace(), shared.__globals__, "forward", None, shared.__closure__)
    object.__setattr__(module, "forward", types.MethodType(own, module))


# --------------------------------------------------------------------------
# build


def _signature_io(model: Model, graph: GraphDef, file: str) -> tuple[list[TensorInfo], list[TensorInfo]]:
    doc = model.json if isinstance(model.json, dict) else {}
    sig = doc.get("signature") or {}
    if not isinstance(sig, dict):
        raise TfjsFormatError(f"is {type(sig).__name__}, not an object", file=file, field="signature")
    inputs = parse_signature(sig.get("inputs"), file=file, where="signature.inputs")
    outputs = parse_signature(sig.get("outputs"), file=file, where="signature.outputs")
    inputs = [i for i in inputs if parse_ref(i.ref)[0] in graph.nodes]
    outputs = [o for o in outputs if parse_ref(o.ref)[0] in graph.nodes]
    if not inputs:
        for node in graph.nodes.values():
            if node.op.startswith("Placeholder") and node.op != "PlaceholderWithDefault":
                dt = node.raw_attr.get("dtype", {}).get("type")
                inputs.append(TensorInfo(node.name, f"{node.name}:0", dt, node.attr("shape", None)))
    if not outputs:
        consumers = graph.consumers()
        for node in graph.nodes.values():
            if not consumers.get(node.name) and node.op not in ("NoOp", "Const") and not node.op.startswith("Placeholder"):
                outputs.append(TensorInfo(node.name, f"{node.name}:0", None, None))
    if not outputs:
        raise TfjsFormatError("the graph has no outputs", file=file, field="signature.outputs")
    return inputs, outputs


def conv_filter_memory(w: torch.Tensor) -> torch.Tensor:
    """A copy of the ``[kh, kw, in, out]`` filter ``w`` with the same shape and values, in the
    memory order torch's CPU kernels read it: ``out, kh, kw, in`` (its ``[out, in, kh, kw]``
    permutation channels-last).

    With tfjs' own order the kernel copies the permuted filter on every eager call (1.3 ms of
    facemesh's 6 ms for its last 1404-channel filter in one thread). Depthwise filters stay in
    tfjs' order: theirs are small, and with them in the grouped kernel's order Inductor compiled
    blazeface 2x slower (18.9 against 9.4 ms a call)."""
    return w.permute(3, 0, 1, 2).contiguous().permute(1, 2, 3, 0)


#: convolution ops whose filter (input 1) the module holds in the memory order of conv_filter_memory
_CONV_OPS = ("Conv2D", "_FusedConv2D")


def _conv_filters(nodes: Sequence[Node]) -> set[str]:
    """Node names of the constants the graph uses as (not depthwise) convolution filters."""
    return {parse_ref(n.inputs[1])[0] for n in nodes if n.op in _CONV_OPS and len(n.inputs) > 1}


def _const_value(model: Model, node: Node, *, share: bool = False) -> Any:
    """A Const node's value: the weight of the same name, else the inline tensor (a copy the module
    owns, or with ``share`` the model's array itself where torch can use it)."""
    if node.name in model.specs:
        arr = model.weights[node.name]
    else:
        arr = node.attr("value", None)
        if not isinstance(arr, np.ndarray):
            raise node.error("constant has no weight in the manifest and no inline value")
    if arr.dtype.kind in "OUS":
        return np.asarray(arr, dtype=object)
    if share:
        return as_tensor(arr, name=node.name)
    return as_tensor(np.array(arr, copy=True, order="C"), name=node.name)  # the module owns its weights


def _run_initializer(model: Model, file: str) -> dict[int, Any]:
    """Execute ``modelInitializer`` (hash tables); resource id -> the resource it makes."""
    doc = model.json if isinstance(model.json, dict) else {}
    init = doc.get("modelInitializer")
    if not init:
        return {}
    graph = parse_graph(init, file=file, where="modelInitializer")
    sig = doc.get("initializerSignature") or {}
    outs = parse_signature(sig.get("outputs"), file=file, where="initializerSignature.outputs")
    values: dict[str, Any] = {}
    order = _toposort(graph, list(graph.nodes), file, control=True)
    unsupported = _unsupported([graph.nodes[n] for n in order], file)
    if unsupported:
        raise TfjsFormatError(f"the model initializer {unsupported}", file=file, field="modelInitializer")
    for name in order:
        node = graph.nodes[name]
        if node.op == "Const":
            values[f"{name}:0"] = _const_value(model, node)
        elif node.op == "NoOp":
            continue
        else:
            ins = [values[_canon(r)] for r in node.inputs]
            for i, v in enumerate(evaluate_node(node, ins)):
                values[f"{name}:{i}"] = v
    return {o.resource_id: values[o.ref] for o in outs if o.resource_id is not None and o.ref in values}


def _canon(ref: str) -> str:
    name, idx = parse_ref(ref)
    return f"{name}:{idx}"


def _toposort(
    graph: GraphDef, targets: Sequence[str], file: str, *, control: bool = False, stop: frozenset[str] = frozenset()
) -> list[str]:
    """Names of the nodes ``targets`` need (data inputs; control inputs too when ``control``), inputs first."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for target in targets:
        if state.get(target):
            continue
        stack: list[tuple[str, int]] = [(target, 0)]
        while stack:
            name, i = stack.pop()
            node = graph.nodes.get(name)
            if node is None:
                raise TfjsFormatError(
                    f"node {name!r} is an input of the graph but no node has that name", file=file, field="modelTopology"
                )
            deps = [] if name in stop else [parse_ref(r)[0] for r in node.inputs] + (node.control if control else [])
            if i == 0:
                if state.get(name) == 2:
                    continue
                state[name] = 1
            if i < len(deps):
                stack.append((name, i + 1))
                dep = deps[i]
                s = state.get(dep)
                if s == 1:
                    raise TfjsFormatError(
                        f"the graph has a cycle through node {dep!r} (without control-flow ops)", file=file, field="modelTopology"
                    )
                if not s:
                    stack.append((dep, 0))
            else:
                state[name] = 2
                order.append(name)
    return order


def _reachable(graph: GraphDef, targets: Sequence[str], stop: frozenset[str]) -> list[str]:
    """Every node ``targets`` reach through data and control inputs (cycles allowed), file order."""
    seen: set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name in seen or name not in graph.nodes:
            continue
        seen.add(name)
        if name in stop:
            continue
        node = graph.nodes[name]
        todo.extend(parse_ref(r)[0] for r in node.inputs)
        todo.extend(node.control)
    return [n for n in graph.nodes if n in seen]


def _unsupported(nodes: Sequence[Node], file: str) -> str:
    """'' when every node can run, else the text listing each unsupported op and its nodes."""
    missing: dict[str, list[str]] = {}
    reasons: list[str] = []
    for node in nodes:
        if node.op in ("Const", "NoOp") or node.op.startswith("Placeholder"):
            continue
        if node.op not in OPS:
            missing.setdefault(node.op, []).append(node.name)
            continue
        check = VALIDATORS.get(node.op)
        why = check(node) if check is not None else None
        if why:
            reasons.append(f"node {node.name!r} ({node.op}): {why}")
    parts = []
    if missing:
        items = []
        for op, names in sorted(missing.items()):
            shown = ", ".join(repr(n) for n in names[:5])
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            items.append(f"{op} (node{'s' if len(names) > 1 else ''} {shown}{more})")
        parts.append(
            f"uses {len(missing)} op{'s' if len(missing) > 1 else ''} tfjs_codec.torch does not support: " + "; ".join(items)
        )
    if reasons:
        parts.append("has node options tfjs_codec.torch does not support: " + "; ".join(reasons))
    return "; and ".join(parts)


def build_graph_module(model: Model, *, share_weights: bool = False) -> GraphModule:
    """Build a :class:`GraphModule` from a loaded graph model (in eval mode).

    Args:
        model: a graph model from :func:`tfjs_codec.load`.
        share_weights: use the model's arrays as the module's tensors where torch can (mapped
            shards are copy-on-write, so the files never change) instead of copies: no second copy
            of the weights, for a module used and dropped while the model is at hand (the
            exporter's self-check).

    Returns:
        The module; its float weights are parameters (copies of the model's
        arrays; quantized weights dequantized as tfjs-core does), its int and
        bool weights buffers.

    Raises:
        TfjsFormatError: a malformed GraphDef, or ops / op options the module
            cannot run (all of them listed in one message, with node names).
    """
    _load_ops()
    file = model.file_name
    doc = model.json if isinstance(model.json, dict) else {}
    graph = parse_graph(doc.get("modelTopology"), file=file)
    inputs, outputs = _signature_io(model, graph, file)
    resources = _run_initializer(model, file)
    fed = [i for i in inputs if i.resource_id is None]
    bound = {i.ref: resources[i.resource_id] for i in inputs if i.resource_id is not None and i.resource_id in resources}
    for i in inputs:
        if i.resource_id is not None and i.ref not in bound:
            raise TfjsFormatError(
                f"resource input {i.key!r} (id {i.resource_id}) is made by no initializer output",
                file=file,
                field="signature.inputs",
            )
    stop = frozenset(parse_ref(r)[0] for r in [i.ref for i in inputs])
    out_nodes = [parse_ref(o.ref)[0] for o in outputs]
    needed = _reachable(graph, out_nodes, stop)
    needed_nodes = [graph.nodes[n] for n in needed]
    control_flow = any(is_control_flow(n.op) for n in needed_nodes)
    # functional control flow (While / If): the nodes of the function library run too
    body_nodes: list[Node] = []
    if control_flow and graph.functions:
        from .control_flow import function_nodes

        body_nodes = function_nodes(graph)
    problems = _unsupported([n for n in needed_nodes if n.name not in stop] + body_nodes, file)
    if problems:
        raise TfjsFormatError(f"the graph {problems}", file=file, field="modelTopology")

    module = GraphModule()
    taken: set[str] = set(dir(module)) | {"self", "code"}
    weight_names: dict[str, str] = {}
    const_keys: dict[str, str] = {}  # "node:0" -> attribute
    filters = set() if share_weights else _conv_filters(needed_nodes + body_nodes)
    for node in [graph.nodes[n] for n in needed if n not in stop] + body_nodes:
        name = node.name
        if node.op != "Const":
            continue
        value = _const_value(model, node, share=share_weights)
        if name in filters and isinstance(value, torch.Tensor) and value.dim() == 4:
            value = conv_filter_memory(value)
        key = _identifier(name, taken)
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() or value.is_complex():
                module.register_parameter(key, nn.Parameter(value))
            else:
                module.register_buffer(key, value)
            if name in model.specs:
                weight_names[name] = key
        else:
            setattr(module, key, value)
        const_keys[f"{name}:0"] = key
    for ref, value in bound.items():
        key = _identifier(parse_ref(ref)[0], taken)
        setattr(module, key, value)
        const_keys[ref] = key

    output_refs = [o.ref for o in outputs]
    code = _Codegen(taken)
    args = [code.argument(info) for info in fed]
    env: dict[str, str] = {info.ref: arg for info, arg in zip(fed, args, strict=True)}
    env.update((ref, f"self.{key}") for ref, key in const_keys.items())
    if control_flow:
        code.control_flow(graph, env, [i.ref for i in fed], list(const_keys), output_refs, file)
    else:
        known = {ref: v for ref, key in const_keys.items() if isinstance(v := getattr(module, key), torch.Tensor)}
        code.nodes(graph, env, _toposort(graph, out_nodes, file, stop=stop), output_refs, stop, known)
    module.code, module._run = code.compile(args, file)
    _own_forward(module)
    module.input_names = [i.key for i in fed]
    module.output_names = [o.key for o in outputs]
    module.input_refs = [i.ref for i in fed]
    module.output_refs = output_refs
    module.input_shapes = [i.shape for i in fed]
    module.input_dtypes = [i.dtype for i in fed]
    module.weight_names = weight_names
    module.graph_def = graph
    module.model_file = file
    return module.eval()


_counter = itertools.count()
#: Constant subgraphs are evaluated at build time when their inputs and outputs hold at most
#: this many elements (shape arithmetic; not a convolution of two weights).
_FOLD_LIMIT = 4096
_FOLD_DTYPES = (torch.int32, torch.bool, torch.float32)
# Ops never evaluated at build time: their value is not fixed (random), or they make resources.
_NO_FOLD_PREFIXES = ("Random", "TruncatedNormal", "Multinomial", "HashTable", "LookupTable", "Placeholder")


# Ops written as the tensor method they are, when their second input is a Python value
# (``x.reshape([-1, 256])``): the op functions call exactly these.
_METHODS = {"Reshape": "reshape", "Transpose": "permute"}


def _literal_at(node: Node, position: int) -> bool:
    """True when ``node``'s op reads input ``position`` only as a Python value."""
    static = STATIC_INPUTS.get(node.op, ())
    return position in static or position - len(node.inputs) in static


def _literal(value: torch.Tensor | None) -> str | None:
    """``value`` as Python source (``3``, ``[-1, 256]``), or None when it is not small and finite."""
    if value is None or value.numel() > _FOLD_LIMIT or value.dtype not in _FOLD_DTYPES:
        return None
    return _source(value.tolist())


def _source(v: Any) -> str:
    """A (nested) list of Python numbers as source; non-finite floats as ``float('inf')`` etc."""
    if isinstance(v, list):
        return "[" + ", ".join(_source(x) for x in v) + "]"
    if isinstance(v, float) and not math.isfinite(v):
        return f"float({str(v)!r})"
    return repr(v)


def _fold(graph: GraphDef, order: list[str], stop: frozenset[str], known: dict[str, torch.Tensor]) -> None:
    """Add to ``known`` the outputs of the nodes of ``order`` whose inputs are all known.

    Each such node runs once, here, with the same op function the forward would
    call (so the values are the ones the forward would compute); only small
    int / bool / float results are kept.
    """
    for name in order:
        node = graph.nodes[name]
        if name in stop or node.op == "Const" or node.op not in OPS or node.op.startswith(_NO_FOLD_PREFIXES):
            continue
        if is_control_flow(node.op):
            continue
        refs = [_canon(r) for r in node.inputs]
        if not refs or any(r not in known or known[r].numel() > _FOLD_LIMIT for r in refs):
            continue
        try:
            with torch.no_grad():
                outs = evaluate_node(node, [known[r] for r in refs])
        except Exception:  # noqa: BLE001 - an op that fails on these values fails the same way in forward
            continue
        if all(isinstance(o, torch.Tensor) and o.numel() <= _FOLD_LIMIT and o.dtype in _FOLD_DTYPES for o in outs):
            for i, o in enumerate(outs):
                known[f"{name}:{i}"] = o


class _Codegen:
    """Writes the source of a graph's forward: one call per node, temporaries deleted after their last use."""

    def __init__(self, taken: set[str]) -> None:
        self.names = set(taken)
        self.globals: dict[str, Any] = {"__builtins__": __builtins__}
        self.prologue: list[str] = []
        self.lines: list[tuple[str, list[str]]] = []  # (statement, temporaries it reads)
        self.result = "None"
        self.temps: set[str] = set()
        self.shape_kinds: dict[str, str] = {}  # shape-domain variable -> "scalar" / "vector"
        self.tensor_of: dict[str, str] = {}  # shape-domain variable -> its tensor's variable
        for key, obj in {**RUNTIME, "torch": torch}.items():
            self.names.add(key)
            self.globals[key] = obj

    def _global(self, hint: str, obj: Any) -> str:
        name = _identifier(hint, self.names)
        self.globals[name] = obj
        return name

    def argument(self, info: TensorInfo) -> str:
        arg = _identifier(info.key, self.names)
        dtype = _NUMERIC_INPUTS.get(info.dtype or "")
        if dtype is not None:
            conv = self._global(f"as_{arg}", _input_converter(info.key, dtype))
            self.prologue.append(f"{arg} = {conv}({arg})")
        return arg

    def _emit(self, statement: str, reads: list[str]) -> None:
        self.lines.append((statement, [r for r in reads if r in self.temps]))

    def nodes(
        self,
        graph: GraphDef,
        env: dict[str, str],
        order: list[str],
        output_refs: list[str],
        stop: frozenset[str],
        known: dict[str, torch.Tensor],
    ) -> None:
        """Emit one call per node of ``order`` that an output needs.

        ``known`` holds the values known at build time (the constants); it gains
        the outputs of constant subgraphs (:func:`_fold`). An input an op reads
        only as a Python value (``STATIC_INPUTS``) whose value is known is
        written as a literal, and a node whose outputs only such inputs read is
        not emitted at all.
        """
        _fold(graph, order, stop, known)
        literals: dict[str, str | None] = {}

        def literal(ref: str) -> str | None:
            if ref not in literals:
                literals[ref] = _literal(known.get(ref))
            return literals[ref]

        used: dict[str, set[int]] = {}  # node -> the outputs read (by a tensor input or as an output)
        for r in output_refs:
            n, i = parse_ref(r)
            used.setdefault(n, set()).add(i)
        emitted: list[str] = []
        for name in reversed(order):
            node = graph.nodes[name]
            if name in stop or node.op == "Const" or name not in used:
                continue
            emitted.append(name)
            for p, r in enumerate(node.inputs):
                if _literal_at(node, p) and literal(_canon(r)) is not None:
                    continue
                n, i = parse_ref(r)
                used.setdefault(n, set()).add(i)
        for name in reversed(emitted):
            node = graph.nodes[name]
            args: list[str] = []
            shape_args: list[Arg | None] = []
            for p, r in enumerate(node.inputs):
                ref = _canon(r)
                lit = literal(ref) if _literal_at(node, p) else None
                if lit is not None:
                    args.append(lit)
                elif ref not in env:
                    raise node.error(f"input {r!r} is not an output of any node run before it")
                else:
                    args.append(env[ref])
                shape_args.append(self._shape_arg(args[-1], known.get(ref)))
            comment = name.replace("\n", " ")
            if node.op in _ALIASES and len(args) == 1:
                env[f"{name}:0"] = args[0]
                continue
            plain = [a is None and x not in self.shape_kinds for a, x in zip(shape_args, args, strict=True)]
            if node.op in ("Shape", "Size", "Rank"):
                shape_args = [Arg(x, "tensor") for x in args]  # they read only the shape of a tensor
            found = shape_expression(node, shape_args, plain)
            var = _identifier("v_" + name.rsplit("/", 1)[-1].lower(), self.names)
            self.temps.add(var)
            if found is not None:
                expr, kind = found
                self.shape_kinds[var] = kind
                self._emit(f"{var} = {expr}  # {comment}", args)
                env[f"{name}:0"] = var
                continue
            # a consumer that reads a shape-domain value as a tensor gets the tensor the op would have made
            args = [x if _literal_at(node, p) else self._as_tensor(x) for p, x in enumerate(args)]
            method = _METHODS.get(node.op)
            if method is not None and len(args) == 2 and args[0] not in self.shape_kinds and self._is_python(args[1]):
                self._emit(f"{var} = {args[0]}.{method}({args[1]})  # {comment}", args)
                env[f"{name}:0"] = var
                continue
            idxs = used.get(name, {0})
            multi = idxs != {0}
            fn = self._global(node.op, _bind(OPS[node.op], node, multi))
            self._emit(f"{var} = {fn}({', '.join(args)})  # {comment}", args)
            if multi:
                for i in sorted(idxs):
                    part = _identifier(f"{var}_{i}", self.names)
                    self.temps.add(part)
                    self._emit(f"{part} = {var}[{i}]", [var])
                    env[f"{name}:{i}"] = part
            else:
                env[f"{name}:0"] = var
        outs = [self._as_tensor(env[r]) for r in output_refs]
        self.result = outs[0] if len(outs) == 1 else "(" + ", ".join(outs) + ",)"
        self.keep = set(outs)

    def _is_python(self, src: str) -> bool:
        """True when ``src`` is a literal or a shape-domain variable (a Python value, not a tensor)."""
        return src in self.shape_kinds or not src.isidentifier() and not src.startswith("self.")

    def _shape_arg(self, src: str, value: torch.Tensor | None) -> Arg | None:
        """An input as :func:`shape_expression` sees it (None: neither shape-domain nor a small int constant)."""
        if src in self.shape_kinds:
            return Arg(src, self.shape_kinds[src])
        if value is not None and value.dtype == torch.int32 and value.dim() <= 1 and value.numel() <= 16:
            py = value.tolist()
            return Arg(repr(py), "vector" if value.dim() else "scalar", py)
        return None

    def _as_tensor(self, src: str) -> str:
        """``src``, or for a shape-domain variable the int32 tensor of its value (made once)."""
        if src not in self.shape_kinds:
            return src
        if src not in self.tensor_of:
            var = _identifier(src + "_t", self.names)
            self.temps.add(var)
            self._emit(f"{var} = torch.tensor({src}, dtype=torch.int32)", [src])
            self.tensor_of[src] = var
        return self.tensor_of[src]

    def control_flow(
        self,
        graph: GraphDef,
        env: dict[str, str],
        input_refs: list[str],
        const_refs: list[str],
        output_refs: list[str],
        graph_file: str,
    ) -> None:
        from . import control_flow

        refs = input_refs + const_refs
        n_out = len(output_refs)
        flow = [n for n in graph.nodes.values() if is_control_flow(n.op)]
        first = flow[0]
        more = f" and {len(flow) - 1} more control-flow nodes" if len(flow) > 1 else ""
        why = f"the graph has control flow ({first.op} node {first.name!r}{more}), run by the graph interpreter"

        def run_control_flow(*values: Any) -> Any:
            if torch.compiler.is_compiling():
                raise TfjsFormatError(f"{why}: {TRACING_REFUSAL}", file=graph_file, field="modelTopology")
            feeds = dict(zip(refs, values, strict=True))
            outs = control_flow.execute(graph, feeds, output_refs, evaluate_node)
            return outs[0] if n_out == 1 else tuple(outs)

        fn = self._global("run_control_flow", run_control_flow)
        self.result = f"{fn}({', '.join(env[r] for r in refs)})"
        self.keep = set()

    def compile(self, args: list[str], file: str) -> tuple[str, Callable[..., Any]]:
        last: dict[str, int] = {}
        for i, (_, reads) in enumerate(self.lines):
            for r in reads:
                last[r] = i
        body = list(self.prologue)
        dead_after: dict[int, list[str]] = {}
        for var, i in last.items():
            if var not in self.keep:
                dead_after.setdefault(i, []).append(var)
        for i, (stmt, _) in enumerate(self.lines):
            body.append(stmt)
            if i in dead_after:
                body.append("del " + ", ".join(sorted(dead_after[i])))
        body.append(f"return {self.result}")
        src = f"def forward(self{''.join(', ' + a for a in args)}):\n" + "".join(f"    {line}\n" for line in body)
        filename = f"<tfjs_codec graph {next(_counter)}: {file}>"
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        namespace = dict(self.globals)
        exec(compile(src, filename, "exec"), namespace)  # noqa: S102 - our own generated source
        return src, namespace["forward"]
