"""Trace a torch module and turn its graph into a Keras functional topology.

The module is traced with ``torch.fx`` (standard ``torch.nn`` layers stay whole
calls) and run once on the example input, so every node's concrete output
(shapes, the ints of ``x.size(0)``) is known. Each node is then handed to the
export function of its module's registry entry (``attach_export`` in the family
files: :mod:`tfjs_codec.torch.conv`...), function (:data:`FUNCTIONS`) or
tensor method (:data:`METHODS`), which adds Keras layers to a
:class:`~tfjs_codec.torch.exporter.graph.KerasGraph` and returns the node's
:class:`~tfjs_codec.torch.exporter.graph.Value`.
"""

from __future__ import annotations

import operator
import os
import re
from typing import Any, cast

import torch
import torch.fx as fx
from torch import nn

from ..registry import kind_for_torch
from .calls import FUNCTIONS, METHODS, Call, Handler, describe
from .graph import KerasGraph, Value, channels_last, identity, refuse

__all__ = ["Call", "Exporter", "FUNCTIONS", "METHODS", "Handler"]


#: Module classes whose calls need the input channels-last (decides an input's layout).
CHANNELS_FIRST_MODULES: tuple[type, ...] = (
    nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.BatchNorm2d, nn.ZeroPad2d, nn.Upsample, nn.UpsamplingNearest2d,
)


def _fn_name(target: Any) -> str:
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    if mod in ("_operator", "operator"):
        return f"operator.{name}"
    if mod.startswith("torch.nn.functional") or mod == "torch.nn.functional":
        return f"F.{name}"
    if mod.startswith("torch") or mod == "":
        return f"torch.{name}"
    return f"{mod}.{name}"


def tfjs_layer_class() -> type[nn.Module]:
    """The base class of the layers :func:`~tfjs_codec.torch.to_module` builds."""
    try:
        from ..registry import TfjsLayer
    except ImportError:  # before the registry split
        from ..layers import TfjsLayer  # type: ignore[no-redef]
    return TfjsLayer


class _Tracer(fx.Tracer):
    """Keeps ``torch.nn`` layers (and tfjs_codec's own layers) as single calls."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, tfjs_layer_class()) or super().is_leaf_module(m, module_qualified_name)


class _Root(nn.Module):
    """Holds a single layer so that tracing sees a call of it (named after its class)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.name = _snake(type(layer).__name__)
        self.add_module(self.name, layer)

    def forward(self, x: Any) -> Any:
        return getattr(self, self.name)(x)


def _snake(name: str) -> str:
    import re

    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class _Recorder(fx.Interpreter):
    """Runs the traced graph once and keeps every node's output."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.outputs: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        self.outputs[n] = out
        return out


class _ConcreteProxy(fx.Proxy):
    """A proxy that knows its value on the example input, and answers shape questions with it."""

    example: Any = None

    def __getattr__(self, k: str) -> Any:
        if k in ("shape", "ndim", "dtype", "device", "is_floating_point") and isinstance(self.example, torch.Tensor):
            return getattr(self.example, k)
        return super().__getattr__(k)

    def __len__(self) -> int:
        if isinstance(self.example, torch.Tensor):
            return len(self.example)
        return super().__len__()


class _ConcreteTracer(_Tracer):
    """Traces with the example input at hand: ``x.shape``, ``x.size(1)``, ``len(x)`` and ``x.dim()`` are
    plain numbers, so Python code branching or looping on shapes traces (specialized to these shapes);
    code branching on tensor values still cannot."""

    def __init__(self, examples: tuple[torch.Tensor, ...]) -> None:
        super().__init__()
        self.examples = list(examples)
        self.module_outputs: dict[str, list[Any]] = {}
        self.attributes: dict[str, Any] = {}

    def trace(self, root: Any, concrete_args: Any = None) -> fx.Graph:
        """Run ``root`` once first (hooks record each layer's outputs, in call order), then trace it."""
        assert isinstance(root, nn.Module)
        hooks = []
        for qualname, m in root.named_modules():
            def record(mod: nn.Module, args: Any, out: Any, qualname: str = qualname) -> None:
                self.module_outputs.setdefault(qualname, []).append(out)

            hooks.append(m.register_forward_hook(record))
        try:
            with torch.no_grad():
                root(*self.examples)
        finally:
            for h in hooks:
                h.remove()
        self.attributes = {**dict(root.named_parameters()), **dict(root.named_buffers())}
        return super().trace(root, concrete_args)

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _ConcreteProxy(node, self)

    def create_proxy(self, kind: str, target: Any, args: Any, kwargs: Any, name: Any = None, type_expr: Any = None,
                     proxy_factory_fn: Any = None) -> Any:
        ex_args = fx.node.map_aggregate(args, lambda a: a.example if isinstance(a, _ConcreteProxy) else a)
        ex_kwargs = fx.node.map_aggregate(kwargs, lambda a: a.example if isinstance(a, _ConcreteProxy) else a)
        with torch.no_grad():
            if kind == "placeholder":
                example: Any = self.examples.pop(0) if self.examples else None
            elif kind == "call_method" and target in ("size", "dim", "numel", "__len__"):
                return getattr(ex_args[0], target)(*ex_args[1:], **ex_kwargs)
            elif kind == "call_function" and target is getattr and ex_args[1] in ("shape", "ndim"):
                return getattr(ex_args[0], ex_args[1])
            elif kind == "call_function":
                example = target(*ex_args, **ex_kwargs)
            elif kind == "call_method":
                example = getattr(ex_args[0], target)(*ex_args[1:], **ex_kwargs)
            elif kind == "call_module":  # recorded before tracing (calling it here would trace it)
                calls = self.module_outputs.get(str(target)) or [None]
                example = calls.pop(0)
            elif kind == "get_attr":
                example = self.attributes.get(str(target))
            else:
                example = None
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        if isinstance(proxy, _ConcreteProxy):
            proxy.example = example
        return proxy


def trace(module: nn.Module, examples: tuple[torch.Tensor, ...] = ()) -> fx.GraphModule:
    """``module`` traced with torch.fx, standard layers kept whole.

    When symbolic tracing fails (Python code branching or looping on shapes), the
    module is traced again with the example input at hand, shapes as numbers.

    Raises:
        TfjsFormatError: the module's forward does not trace either way (control
            flow on tensor values, unsupported Python); the message says what fx said.
    """
    if _Tracer().is_leaf_module(module, ""):  # a bare nn.Conv2d...: trace a container holding it
        module = _Root(module)
    tracer: _Tracer = _Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(module)
    except Exception:  # fx raises many kinds (TraceError, TypeError, NotImplementedError...)
        tracer = _ConcreteTracer(examples)
        tracer.record_stack_traces = True
        try:
            graph = tracer.trace(module)
        except Exception as exc:
            raise refuse(
                f"module {type(module).__name__}",
                f"torch.fx cannot trace its forward ({type(exc).__name__}: {exc}); export needs a forward whose "
                "operations do not depend on tensor values",
            ) from None
    name = module.__class__.__name__
    return fx.GraphModule(tracer.root, graph, name)


class Exporter:
    """Turns one traced module into a Keras graph.

    Args:
        module: the module (eval mode).
        examples: example inputs, in the module's own layout.
        channels_last: hold image / sequence-of-channels inputs and outputs channels-last.
    """

    def __init__(self, module: nn.Module, examples: tuple[torch.Tensor, ...], *, channels_last: bool) -> None:
        self.module = module
        self.examples = examples
        self.channels_last = channels_last
        self.graph = KerasGraph()
        self.input_perms: list[tuple[int, ...]] = []
        self.output_perms: list[tuple[int, ...]] = []
        self.outputs: list[Value] = []
        self.single_output = True

    # -- driver ----------------------------------------------------------------

    def run(self) -> None:
        from ..module import TfjsModule

        if isinstance(self.module, TfjsModule):
            self._run_tfjs_module(self.module)
            return
        gm = self.gm = trace(self.module, self.examples)
        rec = _Recorder(gm)
        with torch.no_grad():
            rec.run(*self.examples)
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(self.examples):
            raise refuse(
                f"module {type(self.module).__name__}",
                f"forward takes {len(placeholders)} input(s), example_input gives {len(self.examples)}",
            )
        self._check_all(gm, rec.outputs)
        env: dict[fx.Node, Any] = {}
        for n in gm.graph.nodes:
            if n.op == "placeholder":
                env[n] = self._input(n, rec.outputs[n])
            elif n.op == "output":
                self._output(n, env)
            else:
                env[n] = self._node(gm, n, env, rec.outputs[n])

    def _check_all(self, gm: fx.GraphModule, outputs: dict[fx.Node, Any]) -> None:
        """One error listing every node no handler takes (op, module path, source line), when there
        are several; a single one is reported by the walk, with its own message."""
        depends: set[fx.Node] = set()
        problems: list[str] = []
        for n in gm.graph.nodes:
            if n.op == "placeholder":
                depends.add(n)
                continue
            if n.op == "output":
                continue
            uses = any(a in depends for a in n.all_input_nodes)
            if uses:
                depends.add(n)
            out = outputs.get(n)
            if not isinstance(out, torch.Tensor):
                continue
            if n.op == "get_attr":
                reason = "a tensor attribute used directly (a constant has no Keras layer)"
                where = f"node {n.name!r} (attribute {n.target})"
            elif n.op == "call_module":
                module = gm.get_submodule(str(n.target))
                where = f"node {str(n.target)!r} ({type(module).__name__})"
                reason = "" if _module_handler(module) is not None else f"torch module {type(module).__name__}"
            elif n.op == "call_function":
                where = f"node {n.name!r} ({_fn_name(n.target)})"
                reason = "" if n.target in FUNCTIONS else f"function {_fn_name(n.target)}"
            else:
                where = f"node {n.name!r} (Tensor.{n.target})"
                reason = "" if str(n.target) in METHODS else f"tensor method .{n.target}()"
            if reason == "" and not uses:
                reason = "a tensor that does not depend on the input (a constant has no Keras layer)"
            if reason:
                problems.append(f"{where}{_source_line(n)}: {reason}")
        if len(problems) > 1:
            raise refuse(
                f"module {type(self.module).__name__}",
                f"{len(problems)} nodes have no tfjs layers equivalent: " + "; ".join(problems)
                + ". A Keras layers model cannot express them; tfjs_codec.torch.export(..., format=\"graph\") "
                "writes a TensorFlow.js graph model, which runs TensorFlow ops",
            )

    def _run_tfjs_module(self, module: Any) -> None:
        """A module made by to_module: its layers again, with their names, configs and current weights.

        Such a module takes and returns tfjs' layouts already, so nothing is permuted.
        Nested models are inlined (their layers join the top-level graph); a layer
        called at several places stays one layer with several inbound nodes.
        """
        where = f"module {type(module).__name__}"
        if len(module._inputs) != len(self.examples):
            raise refuse(where, f"takes {len(module._inputs)} input(s), example_input gives {len(self.examples)}")
        values = []
        for r, x in zip(module._inputs, self.examples, strict=True):
            shape = tuple(x.shape)
            ref = self.graph.input(str(r[0]).strip("_") or "input", list(shape[1:]))
            self.input_perms.append(identity(len(shape)))
            values.append(Value(ref, shape, identity(len(shape))))
        full_names = {(path, var): name for name, (path, var) in module.weight_names.items()}
        emitted: dict[str, str] = {}
        with torch.no_grad():
            outs, _ = self._walk(module, values, list(self.examples), "", full_names, emitted)
        self.single_output = len(outs) == 1
        self.outputs = outs
        self.output_perms = [v.perm for v in outs]

    def _walk(
        self, graph: Any, in_values: list[Value], in_real: list[torch.Tensor], path: str,
        full_names: dict[tuple[str, str], str], emitted: dict[str, str],
    ) -> tuple[list[Value], list[torch.Tensor]]:
        from ..module import Graph

        values: dict[Any, Value] = dict(zip(graph._inputs, in_values, strict=True))
        real: dict[Any, torch.Tensor] = dict(zip(graph._inputs, in_real, strict=True))
        for key, node, args in graph._nodes:
            layer = graph.layers[key]
            lpath = f"{path}.{key}" if path else key
            argv, argr = [values[a] for a in args], [real[a] for a in args]
            if isinstance(layer, Graph):
                outs_v, outs_r = self._walk(layer, argv, argr, lpath, full_names, emitted)
            else:
                out = layer(*argr)
                outs_r = list(out) if isinstance(out, tuple) else [out]
                if lpath in emitted:
                    ref = self.graph.call_again(emitted[lpath], [v.ref for v in argv])
                else:
                    name = str(getattr(layer, "tfjs_name", key))
                    config = getattr(layer, "tfjs_config", None)
                    if not isinstance(config, dict):
                        raise refuse(f"layer {name!r} ({type(layer).__name__})", "does not carry its Keras config")
                    config = {k: v for k, v in config.items() if k not in ("name", "batch_input_shape", "input_shape", "dtype")}
                    weights = layer.export_tfjs()
                    ref = self.graph.add(
                        name, str(layer.tfjs_class), config, [v.ref for v in argv], weights, exact_name=True,
                        weight_names={var: full_names[(lpath, var)] for var in weights if (lpath, var) in full_names},
                    )
                    emitted[lpath] = ref[0]
                outs_v = [Value((ref[0], ref[1], t), tuple(o.shape), identity(o.dim())) for t, o in enumerate(outs_r)]
            for t, (v, o) in enumerate(zip(outs_v, outs_r, strict=True)):
                values[(key, node, t)], real[(key, node, t)] = v, o
        return [values[r] for r in graph._outputs], [real[r] for r in graph._outputs]

    def _input(self, n: fx.Node, example: Any) -> Value:
        if not isinstance(example, torch.Tensor):
            raise refuse(f"input {n.name!r}", f"is {describe(example)}, not a tensor")
        shape = tuple(example.shape)
        if len(shape) < 2:
            raise refuse(f"input {n.name!r}", f"has shape {list(shape)}: an input needs a batch axis and at least one more")
        perm = identity(len(shape))
        if self.channels_last and (len(shape) >= 4 or len(shape) == 3 and self._feeds_channels_first(n)):
            perm = channels_last(len(shape))
        ref = self.graph.input(n.name, [shape[a] for a in perm[1:]])
        self.input_perms.append(perm)
        integer = not (example.is_floating_point() or example.is_complex())
        return Value(ref, shape, perm, integer=integer)

    def _feeds_channels_first(self, n: fx.Node) -> bool:
        """Does a 3-D input go (through dropout/identity) into a layer that works on (N, C, L)?

        A 3-D tensor is a sequence of channels for Conv1d / pooling / BatchNorm1d (held
        (N, L, C) in tfjs) but (N, T, features) for Linear / LSTM (kept as it is); 4-D
        inputs are images, always channels-last.
        """
        from . import ops

        seen, todo = set(), list(n.users)
        while todo:
            u = todo.pop()
            if u in seen:
                continue
            seen.add(u)
            if u.op == "call_module":
                m = self.gm.get_submodule(str(u.target))
                if isinstance(m, CHANNELS_FIRST_MODULES):
                    return True
                if isinstance(m, (nn.Dropout, nn.Identity, nn.Dropout2d, nn.Dropout1d)):
                    todo.extend(u.users)
            elif u.op == "call_function" and u.target in ops.CHANNELS_FIRST_FUNCTIONS:
                return True
        return False

    def _node(self, gm: fx.GraphModule, n: fx.Node, env: dict[fx.Node, Any], out: Any) -> Any:
        getitem = n.op == "call_function" and n.target is operator.getitem
        args = fx.node.map_aggregate(n.args, lambda a: _resolve(env[a], getitem) if isinstance(a, fx.Node) else a)
        kwargs = fx.node.map_aggregate(n.kwargs, lambda a: _resolve(env[a], getitem) if isinstance(a, fx.Node) else a)
        assert isinstance(args, tuple) and isinstance(kwargs, dict)
        module: nn.Module | None = None
        handler: Handler | None = None
        if n.op == "call_module":
            module = gm.get_submodule(str(n.target))
            where = f"node {str(n.target)!r} ({type(module).__name__})"
            base = str(n.target)
            handler = _module_handler(module)
            why = f"torch module {type(module).__name__} is not supported by tfjs_codec.torch.export"
        elif n.op == "call_function":
            where = f"node {n.name!r} ({_fn_name(n.target)})"
            base = n.name
            handler = FUNCTIONS.get(n.target)
            why = f"function {_fn_name(n.target)} is not supported by tfjs_codec.torch.export"
        elif n.op == "call_method":
            where = f"node {n.name!r} (Tensor.{n.target})"
            base = n.name
            handler = METHODS.get(str(n.target))
            why = f"tensor method .{n.target}() is not supported by tfjs_codec.torch.export"
        else:  # get_attr
            where = f"node {n.name!r} (attribute {n.target})"
            if not isinstance(out, torch.Tensor):
                return out
            raise refuse(
                where,
                f"the forward uses the tensor attribute {n.target!r} directly; only calls of supported modules and "
                "functions on the input can be exported (a constant tensor has no Keras layer)",
            )
        call = Call(n, where, base, args, kwargs, module, out, self.graph)
        if not _uses_graph(args, kwargs):
            if isinstance(out, torch.Tensor):
                raise call.fail("computes a tensor that does not depend on the input (a constant has no Keras layer)")
            return out  # constants: sizes, ints
        if handler is None:
            if isinstance(out, (int, float, torch.Size)) and not isinstance(out, bool) or _is_int_tuple(out):
                return out  # x.size(0), x.dim(), ...: plain numbers
            raise call.fail(why)
        return handler(self, call)

    def _output(self, n: fx.Node, env: dict[fx.Node, Any]) -> None:
        result = fx.node.map_aggregate(n.args[0], lambda a: _resolve(env[a], False) if isinstance(a, fx.Node) else a)
        items = list(result) if isinstance(result, (tuple, list)) else [result]
        self.single_output = not isinstance(result, (tuple, list))
        for i, v in enumerate(items):
            if not isinstance(v, Value):
                raise refuse(f"output {i}", f"is {describe(v)}, not a tensor computed from the input")
            if self.channels_last:
                full = v.perm if len(v.perm) == v.rank else None
                if full not in (identity(v.rank), channels_last(v.rank)):
                    v = self.graph.layout(v, identity(v.rank), f"output_{i}")
            else:
                v = self.graph.layout(v, identity(v.rank), f"output_{i}")
            self.outputs.append(v)
            self.output_perms.append(v.perm)


def _source_line(n: fx.Node) -> str:
    """`` at file.py:12 (code)``: where fx recorded the node's call (the first frame outside torch), or ""."""
    trace = n.stack_trace or ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in \w+\n\s*(.*)', trace)
    if not frames:
        return ""
    user = [f for f in frames if f"{os.sep}torch{os.sep}" not in f[0]]
    file, line, code = (user or frames)[0]
    return f" at {os.path.basename(file)}:{line} ({code.strip()})"


def _module_handler(module: nn.Module) -> Handler | None:
    """The registry entry's export function for a module, or the engine's own (Identity, to_module layers)."""
    if isinstance(module, tfjs_layer_class()):
        return _tfjs_layer
    if isinstance(module, nn.Identity):
        return _identity
    kind = kind_for_torch(module)
    return kind.export if kind is not None else None


def _identity(ex: Exporter, call: Call) -> Value:
    return call.tensor()


def _tfjs_layer(ex: Exporter, call: Call) -> Value:
    """A layer of a :func:`~tfjs_codec.torch.to_module` module: its Keras class and config, current weights.

    Such a module works channels-last already, so its tensors keep torch's layout.
    """
    m = call.module
    assert isinstance(m, tfjs_layer_class())
    config = getattr(m, "tfjs_config", None)
    if not isinstance(config, dict):
        raise call.fail(f"{getattr(m, 'tfjs_class', '?')} layer {getattr(m, 'tfjs_name', '?')!r} does not carry its Keras config")
    inputs = [call.graph.layout(v, identity(v.rank), call.base) for v in call.args if isinstance(v, Value)]
    if len(inputs) != len(call.args):
        raise call.fail("takes an argument that is not a tensor computed from the input")
    skip = ("name", "trainable", "batch_input_shape", "input_shape", "dtype")
    config = {k: v for k, v in config.items() if k not in skip}
    weights = cast(Any, m).export_tfjs()
    ref = call.add("", str(m.tfjs_class), config, inputs, weights)
    out = call.out_shape
    return Value(ref, out, identity(len(out)))


def _resolve(value: Any, getitem: bool) -> Any:
    """An RNN's output used as a tensor becomes one (indexing keeps the lazy part, see modules.rnn_getitem)."""
    if not getitem and hasattr(value, "is_rnn_value") and hasattr(value, "value"):
        v = value.value()
        return value if v is None else v
    return value


def _uses_graph(args: Any, kwargs: Any) -> bool:
    found = False

    def visit(a: Any) -> Any:
        nonlocal found
        if isinstance(a, Value) or hasattr(a, "is_rnn_value"):
            found = True
        return a

    fx.node.map_aggregate(args, visit)
    fx.node.map_aggregate(kwargs, visit)
    return found


def _is_int_tuple(v: Any) -> bool:
    return isinstance(v, tuple) and all(isinstance(x, int) for x in v)
