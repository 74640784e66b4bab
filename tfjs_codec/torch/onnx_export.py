"""TensorFlow.js models out to ONNX and to ``torch.export`` programs.

Both go through the torch module :func:`tfjs_codec.torch.to_module` builds (which
matches tfjs) and ``torch.export``: :func:`to_exported_program` returns the
program, :func:`to_onnx` translates it with ``torch.onnx.export(..., dynamo=True)``
(onnxscript) at opset :data:`OPSET`. The inputs of the result are the tfjs
model's inputs in its order and under its names (signature keys of a graph model,
input layer names of a layers model), the outputs likewise; a batch dimension the
tfjs model leaves open (``-1`` / ``null``) stays dynamic. Weights are stored in the
``.onnx`` file up to 2 GB, beside it as external data (``OUT.onnx.data``) beyond.

The only module of tfjs_codec that uses onnx and onnxscript (through torch.onnx);
they come with ``pip install "tfjs-codec[onnx]"``.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..model import Model
from .graph.module import GraphModule
from .module import TfjsModule, to_module

__all__ = ["OPSET", "InputSpec", "input_specs", "save_program", "to_exported_program", "to_onnx"]

#: The ONNX opset written: the newest the torch 2.13 exporter (onnxscript's torchlib) targets
#: natively; ONNX Runtime 1.17 and later run it.
OPSET = 18

#: GraphDef / Keras dtype names -> torch dtypes of the example inputs.
_DTYPES = {
    "DT_FLOAT": torch.float32,
    "float32": torch.float32,
    "DT_INT32": torch.int32,
    "int32": torch.int32,
    "DT_BOOL": torch.bool,
    "bool": torch.bool,
}


class InputSpec:
    """One input of the model: its tfjs name, shape (-1 where unknown, None when undeclared) and torch dtype."""

    def __init__(self, name: str, shape: list[int] | None, dtype: torch.dtype) -> None:
        self.name, self.shape, self.dtype = name, shape, dtype

    def __repr__(self) -> str:
        return f"InputSpec({self.name!r}, {self.shape}, {self.dtype})"


def _require_extra() -> None:
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"writing ONNX needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed: "
            'pip install "tfjs-codec[onnx]"'
        )


def _sort_stable(self: Any, stable: bool | None = None, dim: int = -1, descending: bool = False) -> Any:
    """ONNX form of ``aten.sort.stable`` (tfjs TopK: ties in index order), which torch.onnx lacks:
    ``TopK`` of the whole axis, whose ties the ONNX spec orders by index, as a stable sort does."""
    from onnxscript import opset18 as op

    size = op.Shape(self, start=dim, end=None if dim == -1 else dim + 1)  # [the axis' size]
    return op.TopK(self, size, axis=dim, largest=descending, sorted=True)


def _conv3d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Sequence[int] = (1, 1, 1),
    padding: Sequence[int] = (0, 0, 0),
    dilation: Sequence[int] = (1, 1, 1),
    groups: int = 1,
) -> Any:
    """``aten.conv3d`` as one ONNX ``Conv``: torch.onnx 2.13 gives a Conv3D without bias a zero
    bias of shape ``[out, 2]``, which onnxruntime refuses (its optimizer, ``optimize=True``, happens
    to drop it)."""
    from onnxscript import opset18 as op

    args = (input, weight) if bias is None else (input, weight, bias)
    return op.Conv(*args, strides=list(stride), pads=list(padding) * 2, dilations=list(dilation), group=groups)


def _translations() -> dict[Any, Any]:
    """The ONNX translations to_onnx adds to (or puts in place of) torch.onnx's."""
    return {torch.ops.aten.sort.stable: _sort_stable, torch.ops.aten.conv3d.default: _conv3d}


def _layers_inputs(model: Model, net: TfjsModule) -> list[InputSpec]:
    topo = model.json.get("modelTopology") or {}
    topo = topo.get("model_config", topo)
    config = topo.get("config") or {}
    layers = config.get("layers") if isinstance(config, dict) else config
    by_name = {ly.get("config", {}).get("name", ly.get("name")): ly for ly in layers or []}
    specs = []
    for i, name in enumerate(net.input_names):
        layer = by_name.get(name)
        if layer is None and topo.get("class_name") == "Sequential" and i == 0 and layers:
            layer = layers[0]
        conf = (layer or {}).get("config", {})
        shape = conf.get("batch_input_shape") or conf.get("batch_shape")
        if shape is None and conf.get("input_shape") is not None:
            shape = [None, *conf["input_shape"]]
        # no declared shape (a Teachable Machine model's first layer has none): the example gives it
        specs.append(
            InputSpec(
                name,
                None if shape is None else [-1 if d is None else int(d) for d in shape],
                _DTYPES.get(conf.get("dtype"), torch.float32),
            )
        )
    return specs


def input_specs(model: Model | None, net: nn.Module) -> list[InputSpec]:
    """The inputs of ``net`` (built from ``model``) in order, as tfjs declares them.

    Args:
        model: the loaded tfjs model (may be None for a graph module).
        net: ``to_module(model)``.

    Returns:
        One :class:`InputSpec` per input, -1 for dimensions tfjs leaves open.

    Raises:
        TypeError: a layers module without its model.
    """
    if isinstance(net, GraphModule):
        return [
            InputSpec(n, list(s) if s is not None else [], _DTYPES.get(d or "DT_FLOAT", torch.float32))
            for n, s, d in zip(net.input_names, net.input_shapes, net.input_dtypes, strict=True)
        ]
    if isinstance(net, TfjsModule):
        if model is None:
            raise TypeError("a layers module needs its model (source=) to know its input shapes")
        return _layers_inputs(model, net)
    raise TypeError(f"not a module built by tfjs_codec.torch.to_module: {type(net).__name__}")


def _examples(
    specs: Sequence[InputSpec], example_inputs: Sequence[Any] | None, dynamic_batch: bool
) -> tuple[tuple[torch.Tensor, ...], tuple[dict[int, Any] | None, ...] | None]:
    batch = torch.export.Dim("batch", min=1)
    dynamic: list[dict[int, Any] | None] = []
    examples: list[torch.Tensor] = []
    for i, spec in enumerate(specs):
        open_batch = dynamic_batch and (spec.shape is None or (len(spec.shape) > 0 and spec.shape[0] == -1))
        dynamic.append({0: batch} if open_batch else None)
        if example_inputs is not None:
            examples.append(torch.as_tensor(example_inputs[i]))
            continue
        if spec.shape is None:
            raise ValueError(f"input {spec.name!r} declares no shape; give example inputs (input_shapes / --input-shape)")
        unknown = [a for a, d in enumerate(spec.shape) if d == -1 and a > 0]
        if unknown:
            raise ValueError(
                f"input {spec.name!r} has shape {spec.shape}: the size of axis {unknown[0]} is not declared; "
                "give example inputs (input_shapes / --input-shape)"
            )
        # batch 2, not 1: torch.export specializes a dimension whose example size is 1
        shape = [(2 if open_batch else 1) if a == 0 and d == -1 else d for a, d in enumerate(spec.shape)]
        examples.append(torch.zeros(shape, dtype=spec.dtype))
    has_dynamic = any(d is not None for d in dynamic)
    return tuple(examples), (tuple(dynamic) if has_dynamic else None)


def _dynamic_arg(dynamic: tuple[dict[int, Any] | None, ...] | None) -> Any:
    # both kinds of module take ``forward(self, *inputs)``: one varargs parameter holding them all
    return None if dynamic is None else (dynamic,)


def _prepare(
    model: Model | nn.Module,
    source: Model | None,
    example_inputs: Sequence[Any] | None,
    input_shapes: Sequence[Sequence[int]] | None,
    dynamic_batch: bool,
) -> tuple[nn.Module, list[InputSpec], tuple[torch.Tensor, ...], tuple[dict[int, Any] | None, ...] | None]:
    if isinstance(model, Model):
        net: nn.Module = to_module(model)
        source = model
    else:
        net = model
    specs = input_specs(source, net)
    if input_shapes is not None:
        specs = [InputSpec(s.name, [int(d) for d in shape], s.dtype) for s, shape in zip(specs, input_shapes, strict=True)]
    examples, dynamic = _examples(specs, example_inputs, dynamic_batch)
    if example_inputs is not None and dynamic is not None:
        # an example of batch 1 would be specialized: export with batch 2 of it, run on anything
        examples = tuple(
            torch.cat([x, x]) if d is not None and x.shape[0] == 1 else x for x, d in zip(examples, dynamic, strict=True)
        )
    net.eval()
    return net, specs, examples, dynamic


def to_exported_program(
    model: Model | nn.Module,
    *,
    source: Model | None = None,
    example_inputs: Sequence[Any] | None = None,
    input_shapes: Sequence[Sequence[int]] | None = None,
    dynamic_batch: bool = True,
) -> torch.export.ExportedProgram:
    """A ``torch.export`` program of a tfjs model (save it with ``torch.export.save``).

    Args:
        model: a loaded tfjs model, or the module ``to_module`` built from one.
        source: the tfjs model a module was built from (needed for a layers module).
        example_inputs: inputs to trace with (default: zeros of the declared shapes).
        input_shapes: shapes for inputs whose sizes tfjs leaves open (-1 for the batch).
        dynamic_batch: keep a batch dimension tfjs leaves open dynamic.

    Returns:
        The exported program; its inputs are the tfjs model's, in order.

    Raises:
        ValueError: an input whose size is not declared and no example or shape was given.
        torch._dynamo.exc.UserError and other torch.export errors: the module does not trace.
    """
    net, _specs, examples, dynamic = _prepare(model, source, example_inputs, input_shapes, dynamic_batch)
    with torch.no_grad():
        if dynamic is not None:
            try:
                return torch.export.export(net, examples, dynamic_shapes=_dynamic_arg(dynamic))
            except Exception as exc:  # noqa: BLE001 - any tracing failure: the fixed-batch program may still trace
                _warn_fixed(exc)
                examples = _batch_one(examples, dynamic)
        return torch.export.export(net, examples)


def save_program(program: torch.export.ExportedProgram, path: str | Path) -> None:
    """Write an exported program as a ``.pt2`` file (``torch.export.save``; read with ``torch.export.load``)."""
    torch.export.save(program, path)


def _warn_fixed(exc: BaseException) -> None:
    while exc.__cause__ is not None:  # the root cause, not torch.onnx's wrapper
        exc = exc.__cause__
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    warnings.warn(
        f"the batch dimension does not trace as dynamic ({first[:300]}); exported with a fixed batch of 1", stacklevel=3
    )


def _batch_one(examples: tuple[torch.Tensor, ...], dynamic: tuple[dict[int, Any] | None, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(x[:1] if d is not None else x for x, d in zip(examples, dynamic, strict=True))


def _output_names(net: nn.Module) -> list[str]:
    names = list(getattr(net, "output_names", []))
    seen: set[str] = set()
    unique = []
    for n in names:  # ONNX value names must be unique; tfjs allows an output layer listed twice
        u, k = n, 1
        while u in seen:
            k += 1
            u = f"{n}_{k}"
        seen.add(u)
        unique.append(u)
    return unique


def to_onnx(
    model: Model | nn.Module,
    path: str | Path,
    *,
    source: Model | None = None,
    example_inputs: Sequence[Any] | None = None,
    input_shapes: Sequence[Sequence[int]] | None = None,
    dynamic_batch: bool = True,
    opset: int = OPSET,
    optimize: bool = True,
) -> Path:
    """Write a tfjs model as an ONNX file.

    Args:
        model: a loaded tfjs model, or the module ``to_module`` built from one.
        path: the ``.onnx`` file to write (weights over 2 GB go to ``path.data`` beside it).
        source: the tfjs model a module was built from (needed for a layers module).
        example_inputs: inputs to trace with (default: zeros of the declared shapes).
        input_shapes: shapes for inputs whose sizes tfjs leaves open (-1 for the batch).
        dynamic_batch: keep a batch dimension tfjs leaves open dynamic.
        opset: the ONNX opset to write.
        optimize: let onnxscript fold constants and fuse the graph (slower to write).

    Returns:
        ``path``.

    Raises:
        ImportError: onnx / onnxscript missing (the message names the extra).
        ValueError: an input whose size is not declared and no example or shape was given.
        torch.export / torch.onnx errors: the module does not trace or an op has no ONNX form.
    """
    _require_extra()
    net, specs, examples, dynamic = _prepare(model, source, example_inputs, input_shapes, dynamic_batch)
    out = Path(path)

    def export(examples: tuple[torch.Tensor, ...], dynamic_shapes: Any) -> Any:
        with torch.no_grad():
            return torch.onnx.export(
                net,
                examples,
                None,
                input_names=[s.name for s in specs],
                output_names=_output_names(net),
                opset_version=opset,
                dynamo=True,
                dynamic_shapes=dynamic_shapes,
                optimize=optimize,
                custom_translation_table=_translations(),
                verbose=False,
            )

    if dynamic is not None:
        try:
            program = export(examples, _dynamic_arg(dynamic))
            inputs = program.model.graph.inputs if program is not None else []
            fixed = [v.name for v, d in zip(inputs, dynamic, strict=False) if d is not None and isinstance(v.shape[0], int)]
            if fixed:  # the exporter fell back to the example's batch of 2: a batch of 1 is what tfjs runs
                raise RuntimeError(f"the exporter fixed the batch of {', '.join(map(str, fixed))}")
        except Exception as exc:  # noqa: BLE001 - any tracing failure: the fixed-batch program may still trace
            _warn_fixed(exc)
            program = export(_batch_one(examples, dynamic), None)
    else:
        program = export(examples, None)
    assert program is not None
    program.save(out)  # external data only past 2 GB of initializers
    return out


def describe(path: str | Path) -> str:
    """One line about a written ONNX file: opset, inputs and outputs with their shapes."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)

    def dims(v: Any) -> str:
        return json.dumps([d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]).replace('"', "")

    ins = ", ".join(f"{v.name} {dims(v)}" for v in m.graph.input)
    outs = ", ".join(f"{v.name} {dims(v)}" for v in m.graph.output)
    return f"opset {m.opset_import[0].version}; inputs {ins}; outputs {outs}"
