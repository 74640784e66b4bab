"""``export(..., format="graph")``: a PyTorch module becomes a TensorFlow.js graph model (``tf.loadGraphModel``).

The module is traced with ``torch.export`` (the batch dimension a ``torch.export.Dim``, so the
model runs on any batch) and decomposed to core aten operators; each operator is translated to
TensorFlow ops (:mod:`~tfjs_codec.torch.exporter.aten_ops`) with tfjs-converter 4.22's
semantics. Parameters, buffers and every tensor computed from constants alone (grids,
positional tables, masks made in ``forward``) become ``Const`` nodes, their values weights of the
manifest named by their state-dict path. Recurrent layers and attention decompose to matmuls:
an RNN is unrolled over the traced sequence length, which is therefore fixed.

Layout: with ``channels_last`` (the default) 4-D inputs and outputs are NHWC in the tfjs model;
convolutions, pooling and resizing run NHWC, and the layout pass
(:mod:`~tfjs_codec.torch.exporter.tf_layout`) removes the transposes between them.

Every operator without an exact translation is listed in one :class:`TfjsFormatError` (op,
module path, source line) before anything is written; ``verify`` rebuilds the written model with
the project's graph interpreter (:func:`~tfjs_codec.torch.to_module`) and compares with the module.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...atomic import TEMP_PREFIX
from ...errors import TfjsFormatError
from .aten_ops import HANDLERS, KEEP, REFUSED, Call, target_key
from .steps import in_eval_mode, output_location
from .tf_emit import INT32_MAX, INT32_MIN, Emitter, Unsupported, Value, tf_dtype_of
from .tf_graph import GraphBuilder, attr_shape, attr_type
from .tf_layout import optimize_layout

__all__ = ["export_graph", "GraphExport"]

NHWC = [0, 2, 3, 1]
NCHW = [0, 3, 1, 2]
_DT = {"float32": "DT_FLOAT", "int32": "DT_INT32", "bool": "DT_BOOL", "complex64": "DT_COMPLEX64"}


def _version() -> str:
    from ..._version import __version__

    return str(__version__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def trace(module: nn.Module, examples: tuple[torch.Tensor, ...]) -> tuple[Any, bool]:
    """``torch.export`` of ``module`` with an open batch when it allows one; decomposed to core aten.

    Returns:
        (exported program, whether the batch is open).
    """
    batches = {int(x.shape[0]) for x in examples if x.dim() > 0}
    args = examples
    dynamic = len(batches) == 1 and all(x.dim() > 0 for x in examples)
    if dynamic and batches == {1}:  # torch.export specializes size-1 dims: trace at batch 2
        args = tuple(torch.cat([x, x]) for x in examples)
    ep = None
    quiet = logging.getLogger("torch")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # torch logs each failed guard attempt; the error below says it once
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # and prints the graph of each failed attempt
            ep, dynamic = _export(module, examples, args, dynamic)
    finally:
        quiet.setLevel(level)
    table = torch.export.default_decompositions()
    for name in KEEP:
        packet = getattr(torch.ops.aten, name)
        for overload in packet.overloads():
            table.pop(getattr(packet, overload), None)  # type: ignore[no-untyped-call]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = ep.run_decompositions(table)
    return ep, dynamic


def _export(
    module: nn.Module, examples: tuple[torch.Tensor, ...], args: tuple[torch.Tensor, ...], dynamic: bool
) -> tuple[Any, bool]:
    ep = None
    if dynamic:
        batch = torch.export.Dim("batch", min=1, max=2**20)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ep = torch.export.export(module, args, dynamic_shapes=tuple({0: batch} for _ in args))
        except Exception:  # noqa: BLE001 - the model fixes its batch: export it static
            ep = None
    if ep is None:
        dynamic = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ep = torch.export.export(module, examples)
        except Exception as exc:  # noqa: BLE001
            text = _first_line(exc)
            if "data-dependent" in text:
                raise TfjsFormatError(
                    f"{type(module).__name__}'s forward depends on tensor values in Python (an if / while / int() on a "
                    f"tensor): a graph model has one fixed sequence of ops, so torch.export refuses it: {text}"
                ) from None
            raise TfjsFormatError(f"torch.export cannot trace {type(module).__name__}: {text}") from None
    return ep, dynamic


def _shape(val: Any) -> tuple[int, ...]:
    return tuple(int(d) if isinstance(d, int) else -1 for d in val.shape)


def _scope(node: Any) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = str(list(stack.values())[-1][0])
    return "" if path.startswith("_empty") else path


def _source(node: Any) -> str:
    """``file.py:12: code`` of the innermost frame fx recorded for ``node``."""
    trace_text = node.meta.get("stack_trace") or ""
    lines = [ln for ln in trace_text.splitlines() if ln.strip()]
    where, code = "", ""
    for i, ln in enumerate(lines):
        s = ln.strip()
        if s.startswith("File "):
            parts = s.split('"')
            if len(parts) >= 3:
                fname = os.path.basename(parts[1])
                lineno = s.split("line ")[1].split(",")[0] if "line " in s else "?"
                where = f"{fname}:{lineno}"
                code = lines[i + 1].strip() if i + 1 < len(lines) and not lines[i + 1].strip().startswith("File ") else ""
    if not where:
        return ""
    return f"{where}: {code}" if code else where


class GraphExport:
    """The translation of one exported program into a :class:`GraphBuilder`."""

    def __init__(self, module: nn.Module, examples: tuple[torch.Tensor, ...], *, channels_last: bool = True) -> None:
        self.module = module
        self.examples = examples
        self.channels_last = channels_last
        self.g = GraphBuilder()
        self.e = Emitter(self.g)
        self.input_names: list[str] = []
        self.input_perms: list[list[int] | None] = []
        self.output_names: list[str] = []
        self.output_perms: list[list[int] | None] = []
        self.output_dtypes: list[str] = []
        self.dynamic = False

    def run(self) -> None:
        for x in self.examples:
            if not x.is_floating_point() and x.dtype != torch.bool and x.numel():
                if int(x.min()) < INT32_MIN or int(x.max()) > INT32_MAX:
                    raise TfjsFormatError("an integer input holds values outside int32 (tfjs has no int64)")
        ep, self.dynamic = trace(self.module, self.examples)
        sig = ep.graph_signature
        state: dict[str, Any] = {**ep.state_dict, **ep.constants}
        specs = {spec.arg.name: spec for spec in sig.input_specs}
        env: dict[Any, Any] = {}
        problems: list[str] = []
        poisoned: set[Any] = set()
        names = self._input_names(ep)
        user_i = 0
        for node in ep.graph.nodes:
            if node.op == "placeholder":
                spec = specs[node.name]
                if spec.kind.name == "USER_INPUT":
                    env[node] = self._placeholder(node, names[user_i], user_i)
                    user_i += 1
                else:
                    t = state[spec.target]
                    if not isinstance(t, torch.Tensor):
                        raise TfjsFormatError(f"the constant {spec.target!r} is not a tensor")
                    env[node] = Value(tuple(t.shape), tf_dtype_of(t.dtype), tensor=t.detach(), name=spec.target)
            elif node.op == "call_function":
                self._call(node, env, problems, poisoned)
            elif node.op == "output":
                outs = node.args[0]
                if problems:
                    break
                self._outputs([env.get(o) if hasattr(o, "op") else o for o in outs], sig)
        if problems:
            n = len(problems)
            raise TfjsFormatError(
                f"{type(self.module).__name__} cannot be exported as a TensorFlow.js graph model: "
                f"{n} operation{'s' if n > 1 else ''} without an exact tfjs translation:\n" + "\n".join(problems)
            )
        optimize_layout(self.g, [f"{n}" for n in self.output_names])
        self.g.prune(self.output_names, keep=self.input_names)

    def _input_names(self, ep: Any) -> list[str]:
        users = [s.arg.name for s in ep.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
        try:
            params = list(inspect.signature(self.module.forward).parameters)
        except (TypeError, ValueError):
            params = []
        if len(params) == len(users) and all(p.isidentifier() for p in params):
            return params
        return users

    def _placeholder(self, node: Any, name: str, i: int) -> Value:
        val = node.meta["val"]
        shape = list(_shape(val))
        if not self.dynamic:
            shape = [int(d) for d in self.examples[i].shape]
        dtype = tf_dtype_of(val.dtype)
        perm = NHWC if self.channels_last and len(shape) == 4 else None
        tf_shape = [shape[p] for p in perm] if perm else shape
        ref = self.g.add(
            name,
            "Placeholder",
            [],
            {"dtype": attr_type(dtype), "shape": attr_shape(tf_shape)},
            [tf_shape],
            [dtype],
            exact_name=True,
        )
        self.input_names.append(ref)
        self.input_perms.append(perm)
        v = Value(tuple(tf_shape), dtype, ref=ref)
        self.e.scope = ""
        return self.e.transpose(v, NCHW) if perm else v

    def _call(self, node: Any, env: dict[Any, Any], problems: list[str], poisoned: set[Any]) -> None:
        key = target_key(node.target)
        inputs = node.all_input_nodes
        if any(i in poisoned for i in inputs):
            poisoned.add(node)
            return
        handler = HANDLERS.get(key)
        args = torch.fx.node.map_arg(node.args, lambda n: env.get(n))
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env.get(n))
        scope = _scope(node)
        if handler is None and not self._foldable(args, kwargs):
            poisoned.add(node)
            problems.append(self._problem(node, key, scope, REFUSED.get(key, "no TensorFlow.js op sequence for it here")))
            return
        if self._foldable(args, kwargs) and key not in ("operator.getitem",) and self._fold(node, args, kwargs, env):
            return
        self.e.scope = scope
        val = node.meta.get("val")
        call = Call(self.e, node, list(args), dict(kwargs))
        try:
            if isinstance(val, torch.Tensor):
                call.shape, call.dtype = _shape(val), tf_dtype_of(val.dtype)
            elif isinstance(val, (list, tuple)):
                call.shapes = [_shape(v) if isinstance(v, torch.Tensor) else () for v in val]
                call.dtypes = [tf_dtype_of(v.dtype) if isinstance(v, torch.Tensor) else "int32" for v in val]
            assert handler is not None
            env[node] = handler(call)
        except Unsupported as exc:
            poisoned.add(node)
            problems.append(self._problem(node, key, scope, str(exc)))
        except (TypeError, ValueError, IndexError, KeyError, AssertionError, RuntimeError) as exc:
            poisoned.add(node)
            problems.append(self._problem(node, key, scope, f"these arguments are not supported ({type(exc).__name__}: {exc})"))

    def _problem(self, node: Any, key: str, scope: str, reason: str) -> str:
        src = _source(node)
        where = f"module {scope!r}" if scope else "the top-level forward"
        return f"- {str(node.target)} in {where}{f' ({src})' if src else ''}: {reason}"

    @staticmethod
    def _foldable(args: Any, kwargs: Any) -> bool:
        """True when every traced input is a constant (no symbolic sizes, nothing from the inputs)."""
        ok = True

        def visit(v: Any) -> None:
            nonlocal ok
            if isinstance(v, Value):
                if v.tensor is None or v.sym:
                    ok = False
            elif isinstance(v, (list, tuple)):
                for x in v:
                    visit(x)
            elif isinstance(v, torch.SymInt):
                ok = False

        visit(args)
        visit(kwargs)
        return ok

    def _fold(self, node: Any, args: Any, kwargs: Any, env: dict[Any, Any]) -> bool:
        """Evaluate a node whose inputs are all constants; False when it cannot be evaluated here."""
        named: list[str] = []

        def concrete(v: Any) -> Any:
            if isinstance(v, Value):
                if v.name:
                    named.append(v.name)
                return v.tensor
            if isinstance(v, (list, tuple)):
                return type(v)(concrete(x) for x in v)
            return v

        try:
            with torch.no_grad():
                out = node.target(*concrete(args), **concrete(kwargs))
        except Exception:  # noqa: BLE001 - left to the handler
            return False

        def wrap(o: Any) -> Any:
            if isinstance(o, torch.Tensor):
                name = named[0] if len(set(named)) == 1 else None
                return Value(tuple(o.shape), tf_dtype_of(o.dtype), tensor=o, name=name)
            if isinstance(o, (list, tuple)):
                return [wrap(x) for x in o]
            return o

        try:
            env[node] = wrap(out)
        except Unsupported:
            return False
        return True

    def _outputs(self, outs: list[Any], sig: Any) -> None:
        self.e.scope = ""
        for i, v in enumerate(outs):
            if not isinstance(v, Value):
                raise TfjsFormatError(f"output {i} of {type(self.module).__name__} is not a tensor")
            perm = NHWC if self.channels_last and v.rank == 4 else None
            if perm:
                v = self.e.transpose(v, perm)
            ref = self.e.ref(v)
            name = self.g.add(
                f"output_{i}" if len(outs) > 1 else "output",
                "Identity",
                [ref],
                {"T": attr_type(v.dtype)},
                [list(v.shape)],
                [v.dtype],
                exact_name=True,
            )
            self.output_names.append(name)
            self.output_perms.append(perm)
            self.output_dtypes.append(v.dtype)

    def signature(self) -> dict[str, Any]:
        def info(ref: str) -> dict[str, Any]:
            shape = self.g.shape_of(ref)
            return {
                "name": f"{ref}:0",
                "dtype": _DT[self.g.dtype_of(ref)],
                "tensorShape": {"dim": [{"size": str(d)} for d in shape]},
            }

        return {"inputs": {n: info(n) for n in self.input_names}, "outputs": {n: info(n) for n in self.output_names}}


def export_graph(
    out: str | os.PathLike[str],
    module: nn.Module,
    examples: tuple[torch.Tensor, ...],
    *,
    quantize: Any = None,
    shard_size: int | None = None,
    channels_last: bool = True,
    verify: bool = True,
) -> Path:
    """Write ``module`` as a TensorFlow.js graph model; see :func:`tfjs_codec.torch.export` (``format="graph"``)."""

    def trace() -> GraphExport:
        gx = GraphExport(module, examples, channels_last=channels_last)
        gx.run()
        return gx

    gx, wants = in_eval_mode(module, examples, trace)
    document: dict[str, Any] = {
        "format": "graph-model",
        "generatedBy": f"PyTorch {torch.__version__}",
        "convertedBy": f"tfjs_codec {_version()}",
        "signature": gx.signature(),
        "modelTopology": gx.g.topology(),
    }
    directory, manifest_name = output_location(out)
    from ... import writer

    if not verify:
        return writer.save_document(directory / manifest_name, gx.g.weights, document, quantize=quantize, shard_size=shard_size)
    from ... import reader

    work = directory / f"{TEMP_PREFIX}export-{os.urandom(4).hex()}"
    try:
        check = writer.save_document(work / "model.json", gx.g.weights, document, shard_size=shard_size)
        gx.g.weights = {}  # from here on the weights are the checked files' (mapped): one copy less at the peak
        verify_graph(check, gx, examples, wants)
        with reader.load(check) as model:
            weights = {name: model.weights[name] for name in model.specs}
            return writer.save_document(directory / manifest_name, weights, document, quantize=quantize, shard_size=shard_size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def tfjs_inputs(gx: GraphExport, examples: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """The module's inputs in the tfjs model's layout and dtypes."""
    out = []
    for x, perm in zip(examples, gx.input_perms, strict=True):
        x = x.permute(perm) if perm else x
        out.append(x.to(torch.float32) if x.is_floating_point() else x.to(torch.int32) if x.dtype != torch.bool else x)
    return out


def tfjs_outputs(gx: GraphExport, wants: list[torch.Tensor]) -> list[torch.Tensor]:
    """The module's outputs as the tfjs model returns them (layout and dtype)."""
    out = []
    for w, perm in zip(wants, gx.output_perms, strict=True):
        w = w.detach()
        w = w.permute(perm) if perm else w
        out.append(w.to(torch.float32) if w.is_floating_point() else w.to(torch.int32) if w.dtype != torch.bool else w)
    return out


def verify_graph(path: Path, gx: GraphExport, examples: tuple[torch.Tensor, ...], wants: list[torch.Tensor]) -> None:
    """Rebuild the written model with the graph interpreter; compare with the module within 1e-4 + 1e-4 * max|y|."""
    from ... import reader
    from ..graph.module import build_graph_module

    with reader.load(path) as model:
        try:
            net = build_graph_module(model, share_weights=True)  # the checked files' mapped weights: no copy
        except TfjsFormatError as exc:
            raise TfjsFormatError(f"self-check: to_module cannot rebuild the export ({exc}); pass verify=False to skip") from None
    with torch.no_grad():
        got = net(*tfjs_inputs(gx, examples))
    gots = list(got) if isinstance(got, tuple) else [got]
    for i, (g, w) in enumerate(zip(gots, tfjs_outputs(gx, wants), strict=True)):
        if tuple(g.shape) != tuple(w.shape):
            raise TfjsFormatError(f"self-check: output {i} has shape {list(g.shape)}, torch gives {list(w.shape)} (tfjs layout)")
        if not w.is_floating_point():
            if not torch.equal(g.to(w.dtype), w):
                raise TfjsFormatError(f"self-check: output {i} (integers) differs from torch's; the export is not exact")
            continue
        diff = float((g.float() - w).abs().max()) if g.numel() else 0.0
        bound = 1e-4 + 1e-4 * (float(w.abs().max()) if w.numel() else 0.0)
        if not diff <= bound:
            raise TfjsFormatError(
                f"self-check: output {i} differs from torch's by {diff:.3g} (> {bound:.3g}); the export is not exact"
            )
