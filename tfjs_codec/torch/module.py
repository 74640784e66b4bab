"""Build a torch module from a layers model's ``modelTopology``, and write it back."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from .. import writer
from ..errors import TfjsFormatError
from ..reader import Model
from .ml5 import Ml5Meta, ml5_meta
from .registry import TfjsLayer, build_layer

if TYPE_CHECKING:
    from .graph.module import GraphModule

__all__ = ["TfjsModule", "to_module", "save_module"]

_Ref = tuple[str, int, int]  # (layer name, node index, tensor index)


class TfjsModule(nn.Module):
    """A Keras / tfjs-layers model as a torch module.

    Inputs and outputs are channels-last, in the order of the model's input and
    output layers; a single-output model returns a tensor, a multi-output one a
    tuple.

    Attributes:
        layers: ``nn.ModuleDict`` of the layers, keyed by a torch-safe form of
            their names (``.`` replaced), in topology order.
        weight_names: tfjs weight name -> (layer key, variable name), for every
            model weight the module holds.
        input_names / output_names: the model's input and output layer names.
        ml5: the ml5 ``model_meta.json`` helpers (:class:`Ml5Meta`), or None.
    """

    def __init__(
        self,
        layers: dict[str, TfjsLayer],
        nodes: list[tuple[str, list[_Ref]]],
        inputs: list[_Ref],
        outputs: list[_Ref],
        weight_names: dict[str, tuple[str, str]],
        ml5: Ml5Meta | None,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self._nodes = nodes
        self._inputs = inputs
        self._outputs = outputs
        self.weight_names = weight_names
        self.input_names = [r[0] for r in inputs]
        self.output_names = [r[0] for r in outputs]
        self.ml5 = ml5

    def forward(self, *xs: torch.Tensor) -> Any:
        if len(xs) != len(self._inputs):
            raise TypeError(f"the model takes {len(self._inputs)} input(s) ({', '.join(self.input_names)}), got {len(xs)}")
        values: dict[_Ref, torch.Tensor] = dict(zip(self._inputs, xs, strict=False))
        counts: dict[str, int] = {}
        for key, args in self._nodes:
            node = counts.get(key, 0)
            counts[key] = node + 1
            out = self.layers[key](*[values[a] for a in args])
            if isinstance(out, tuple):  # a layer with several outputs (Bidirectional, merge_mode None)
                for t, o in enumerate(out):
                    values[(key, node, t)] = o
            else:
                values[(key, node, 0)] = out
        outs = tuple(values[r] for r in self._outputs)
        return outs[0] if len(outs) == 1 else outs

    def tfjs_state(self) -> dict[str, np.ndarray]:
        """tfjs weight name -> the module's current value in the tfjs layout."""
        exported = {key: cast(TfjsLayer, layer).export_tfjs() for key, layer in self.layers.items()}
        return {name: exported[key][var] for name, (key, var) in self.weight_names.items()}


def _key(name: str) -> str:
    return name.replace(".", "_") or "_"


def _topology(model: Model) -> tuple[dict[str, Any], str]:
    doc = model.json if isinstance(model.json, dict) else {}
    topo = doc.get("modelTopology")
    file = model.file_name
    if model.format == "graph-model":
        raise TfjsFormatError("a graph model has no Keras topology; to_module needs a layers model", file=file, field="format")
    if not isinstance(topo, dict):
        raise TfjsFormatError("no Keras topology; to_module needs a layers model", file=file, field="modelTopology")
    if "model_config" in topo:  # converter: {keras_version, backend, model_config}
        topo = topo["model_config"]
    if not isinstance(topo, dict) or "class_name" not in topo:
        raise TfjsFormatError("no class_name in the topology", file=file, field="modelTopology")
    return topo, file


def _lookup(model: Model, layer: str) -> dict[str, str]:
    """var -> array for a layer, accepting ``layer/var`` and ``layer/cell/var``."""
    by_var: dict[str, str] = {}
    for name, spec in model.specs.items():
        if spec.group == "optimizer":
            continue
        parts = name.split("/")
        if len(parts) >= 2 and parts[0] == layer and len(parts) <= 3:
            var = parts[-1]
            if len(parts) == 2 or var not in by_var:
                by_var[var] = name
        if len(parts) >= 3 and parts[0] == layer:  # wrapped layers / RNN cells: the name below the layer's
            by_var.setdefault("/".join(parts[1:]), name)
    return by_var


def _getter(model: Model, vars_: dict[str, str]) -> Callable[[str], np.ndarray | None]:
    """var -> the layer's decoded weight, or None when the manifest lacks it."""

    def get(var: str) -> np.ndarray | None:
        return model.weights[vars_[var]] if var in vars_ else None

    return get


def _ref(item: Any, file: str, where: str) -> _Ref:
    if isinstance(item, (list, tuple)) and len(item) >= 3:
        if len(item) >= 4 and item[3]:
            raise TfjsFormatError(f"call arguments {item[3]!r} are not supported by tfjs_codec.torch", file=file, field=where)
        return (str(item[0]), int(item[1]), int(item[2]))
    raise TfjsFormatError(
        f"inbound node {item!r} is not in the Keras 2 / tfjs form [layer, node, tensor, kwargs]", file=file, field=where
    )


def _layer_configs(cls: str, config: Any, file: str) -> list[dict[str, Any]]:
    """The topology's list of layer configs (Sequential also comes as a bare list)."""
    layer_cfgs: Any
    if cls == "Sequential" and isinstance(config, list):
        layer_cfgs = config
    else:
        layer_cfgs = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layer_cfgs, list) or not all(isinstance(lc, dict) for lc in layer_cfgs):
        raise TfjsFormatError(f"{cls} config has no list of layers", file=file, field="modelTopology.config.layers")
    return layer_cfgs


def _layer_name(lc: dict[str, Any], file: str) -> str:
    name = lc.get("name") or (lc.get("config") or {}).get("name")
    if not isinstance(name, str):
        raise TfjsFormatError("a layer has no name", file=file, field=f"layer {name!r} ({lc.get('class_name')})")
    return name


def _endpoints(config: dict[str, Any], key: str, file: str) -> list[_Ref]:
    """A functional model's ``input_layers`` / ``output_layers`` as keyed refs."""
    refs = config.get(key)
    if not isinstance(refs, list):
        raise TfjsFormatError(f"is {refs!r}, not a list of [layer, node, tensor]", file=file, field=f"modelTopology.config.{key}")
    out = []
    for r in refs:
        if not (isinstance(r, (list, tuple)) and len(r) >= 3):
            raise TfjsFormatError(f"entry {r!r} is not [layer, node, tensor]", file=file, field=f"modelTopology.config.{key}")
        out.append((_key(str(r[0])), r[1], r[2]))
    return out


def _is_graph_model(model: Model) -> bool:
    doc = model.json if isinstance(model.json, dict) else {}
    topo = doc.get("modelTopology")
    return model.format == "graph-model" or (isinstance(topo, dict) and isinstance(topo.get("node"), list))


def to_module(model: Model) -> TfjsModule | GraphModule:
    """Build a torch module from a model's topology, weights loaded, in eval mode.

    A graph model (``format: graph-model``, a TensorFlow GraphDef) becomes a
    :class:`tfjs_codec.torch.graph.GraphModule` (see :mod:`tfjs_codec.torch.graph`).
    Layers models: covers Sequential and functional (``Model`` / ``Functional``) topologies as
    tfjs-layers (browser, ml5) and the tensorflowjs converter (Keras 2,
    tf_keras) write them. The module's parameters are copies of the weights in
    torch layouts (see :mod:`tfjs_codec.torch`); quantized weights are used
    dequantized.

    Args:
        model: a loaded layers or graph model.

    Returns:
        A :class:`TfjsModule` (layers model) or ``GraphModule`` (graph model) in eval mode.

    Raises:
        TfjsFormatError: an op a graph model uses that is not supported (all
            listed at once), an unsupported layer class or option
            (the message names the layer, its class and the option), nested
            models, a weight the topology needs that the manifest lacks, or a
            model weight no layer uses.
    """
    if _is_graph_model(model):  # a GraphDef: compiled by tfjs_codec.torch.graph
        from .graph.module import build_graph_module

        return build_graph_module(model)
    topo, file = _topology(model)
    cls = topo["class_name"]
    config = topo.get("config")
    if cls not in ("Sequential", "Model", "Functional"):
        raise TfjsFormatError(
            f"model class {cls!r} is not supported by tfjs_codec.torch", file=file, field="modelTopology.class_name"
        )
    layer_cfgs = _layer_configs(cls, config, file)
    names = [_layer_name(lc, file) for lc in layer_cfgs]

    layers: dict[str, TfjsLayer] = {}
    weight_names: dict[str, tuple[str, str]] = {}
    for lc, name in zip(layer_cfgs, names, strict=False):
        lcls = str(lc.get("class_name"))
        lconf = lc.get("config") or {}
        if lcls in ("Sequential", "Model", "Functional"):
            raise TfjsFormatError(
                "nested models are not supported by tfjs_codec.torch", file=file, field=f"layer {name!r} ({lcls})"
            )
        vars_ = _lookup(model, name)
        key = _key(name)
        if key in layers:
            raise TfjsFormatError("two layers with the same name", file=file, field=f"layer {name!r} ({lcls})")
        layer = build_layer(name, lcls, lconf, _getter(model, vars_), file=file)
        layers[key] = layer
        for var in layer.tfjs_vars:
            weight_names[vars_[var]] = (key, var)

    nodes: list[tuple[str, list[_Ref]]] = []
    if cls == "Sequential":
        keys = [k for k, lc in zip(layers, layer_cfgs, strict=False) if lc.get("class_name") != "InputLayer"]
        inp: _Ref = ("__input__", 0, 0)
        prev = inp
        for k in keys:
            nodes.append((k, [prev]))
            prev = (k, 0, 0)
        inputs, outputs = [inp], [prev]
    else:
        for lc, name in zip(layer_cfgs, names, strict=False):
            for n, node in enumerate(lc.get("inbound_nodes") or []):
                args = [_ref(item, file, f"layer {name!r} inbound node {n}") for item in node]
                nodes.append((_key(name), [(_key(a[0]), a[1], a[2]) for a in args]))
        assert isinstance(config, dict)  # _layer_configs accepts a bare list for Sequential only
        inputs = _endpoints(config, "input_layers", file)
        outputs = _endpoints(config, "output_layers", file)
        nodes = _toposort(nodes, inputs, file)

    used = {n for n in weight_names}
    for name, spec in model.specs.items():
        if spec.group != "optimizer" and name not in used:
            raise TfjsFormatError(
                "is not used by any layer of the topology (to_module would drop it)", file=file, weight=name
            )
    module = TfjsModule(layers, nodes, inputs, outputs, weight_names, ml5_meta(model))
    return module.eval()


def _toposort(nodes: list[tuple[str, list[_Ref]]], inputs: list[_Ref], file: str) -> list[tuple[str, list[_Ref]]]:
    """Order nodes so each runs after its inputs (node indices follow each layer's call order)."""
    ready = {(r[0], r[1]) for r in inputs}
    pending = list(nodes)
    ordered = []
    counts: dict[str, int] = {}
    while pending:
        for i, (key, args) in enumerate(pending):
            if all((a[0], a[1]) in ready for a in args):
                node = counts.get(key, 0)
                counts[key] = node + 1
                ready.add((key, node))
                ordered.append(pending.pop(i))
                break
        else:
            raise TfjsFormatError(
                f"layer {pending[0][0]!r} needs inputs no layer produces ({pending[0][1]!r})", file=file, field="modelTopology"
            )
    return ordered


def save_module(
    out: str | os.PathLike[str],
    module: TfjsModule | GraphModule,
    *,
    like: Model | str | os.PathLike[str],
    **kwargs: Any,
) -> Path:
    """Write a module's (fine-tuned) weights as a TensorFlow.js model.

    Weights the module holds are converted back to the tfjs layouts; every
    other weight of ``like`` (optimizer slots, ``group: optimizer``) is carried
    through unchanged. Topology, groups, shard layout, quantization and the
    sidecar files (ml5 ``model_meta.json``) come from ``like``, as with
    :func:`tfjs_codec.save`.

    Args:
        out: the manifest path or directory to write.
        module: a module made by :func:`to_module` from ``like`` (or from a
            model with the same topology and weight names).
        like: the model to copy the structure of (loaded or a path).
        **kwargs: passed to :func:`tfjs_codec.save` (``quantize``, ``shard_size``, ``progress``).

    Returns:
        The path of the written manifest.

    Raises:
        TfjsFormatError: the module's weights do not match ``like``'s names or shapes.
    """
    if not hasattr(module, "tfjs_state"):
        raise TypeError(f"save_module needs a module made by to_module, got {type(module).__name__}")
    from ..reader import load

    like_model = like if isinstance(like, Model) else load(like)
    try:
        state = module.tfjs_state()
        weights: dict[str, Any] = {}
        for name in like_model.specs:
            weights[name] = state.pop(name) if name in state else like_model.weights[name]
        if state:
            extra = next(iter(state))
            raise TfjsFormatError(
                f"is in the module but not in the model given as like= ({len(state)} in all)", weight=extra
            )
        return writer.save(out, weights, like=like_model, **kwargs)
    finally:
        if like_model is not like:
            like_model.close()
