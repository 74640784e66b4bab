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
from ..heap import keep_freed_memory
from ..keras3 import keras3_signs, translate
from ..reader import Model
from .ml5 import Ml5Meta, ml5_meta
from .registry import TfjsLayer, build_layer
from .teachable import TeachableMeta, teachable_meta

if TYPE_CHECKING:
    from .graph.module import GraphModule

__all__ = ["TfjsModule", "to_module", "save_module"]

_Ref = tuple[str, int, int]  # (layer key, node index, tensor index)
_Node = tuple[str, int, list[_Ref]]  # (layer key, the node index refs use for this call, inbound refs)

#: Keras / tfjs model classes, top-level or nested as a layer.
MODEL_CLASSES = ("Sequential", "Model", "Functional")

_SEQ_INPUT: _Ref = ("__input__", 0, 0)


class Graph(TfjsLayer):
    """A Sequential or functional model: its layers called node by node.

    Used for the top-level model (:class:`TfjsModule`) and for every model nested
    as a layer inside another (a Teachable Machine image model is a Sequential
    holding a functional MobileNet and a Sequential head). A layer called at
    several places of the topology (a shared layer, or a nested model applied
    twice) is one module with one set of weights, called once per node.

    Inputs and outputs are channels-last, in the order of the model's input and
    output layers; a single-output model returns a tensor, a multi-output one a
    tuple.

    Attributes:
        layers: ``nn.ModuleDict`` of the layers, keyed by a torch-safe form of
            their names (``.`` replaced by ``_``), in topology order; a nested
            model is a :class:`Graph` there.
        input_names / output_names: the model's input and output layer keys.
    """

    def __init__(
        self,
        name: str,
        cls: str,
        layers: dict[str, nn.Module],
        nodes: list[_Node],
        inputs: list[_Ref],
        outputs: list[_Ref],
    ) -> None:
        super().__init__(name, cls)
        self.layers = nn.ModuleDict(layers)
        self._nodes = nodes
        self._inputs = inputs
        self._outputs = outputs
        self.input_names = [r[0] for r in inputs]
        self.output_names = [r[0] for r in outputs]

    def forward(self, *xs: torch.Tensor) -> Any:
        if len(xs) != len(self._inputs):
            raise TypeError(
                f"{self.tfjs_class} {self.tfjs_name!r} takes {len(self._inputs)} input(s) "
                f"({', '.join(self.input_names)}), got {len(xs)}"
            )
        values: dict[_Ref, torch.Tensor] = dict(zip(self._inputs, xs, strict=True))
        for key, node, args in self._nodes:
            out = self.layers[key](*[values[a] for a in args])
            if isinstance(out, tuple):
                for t, o in enumerate(out):
                    values[(key, node, t)] = o
            else:
                values[(key, node, 0)] = out
        outs = tuple(values[r] for r in self._outputs)
        return outs[0] if len(outs) == 1 else outs

    def extra_repr(self) -> str:
        return f"{self.tfjs_class} {self.tfjs_name!r}, inputs {self.input_names}, outputs {self.output_names}"


class TfjsModule(Graph):
    """A Keras / tfjs-layers model as a torch module (see :class:`Graph`).

    Attributes:
        weight_names: tfjs weight name -> (layer path, variable name), for every
            model weight the module holds; the path is the layer's key, or the
            keys from the outermost model down joined by ``.`` for a layer of a
            nested model (``sequential_1.conv1``).
        ml5: the ml5 ``model_meta.json`` helpers (:class:`Ml5Meta`), or None.
        teachable: the Teachable Machine ``metadata.json`` helpers
            (:class:`TeachableMeta`: labels, image size, library versions, input
            preprocessing), or None.
    """

    def __init__(
        self,
        name: str,
        cls: str,
        layers: dict[str, nn.Module],
        nodes: list[_Node],
        inputs: list[_Ref],
        outputs: list[_Ref],
        weight_names: dict[str, tuple[str, str]],
        ml5: Ml5Meta | None,
        teachable: TeachableMeta | None = None,
    ) -> None:
        super().__init__(name, cls, layers, nodes, inputs, outputs)
        self.weight_names = weight_names
        self.ml5 = ml5
        self.teachable = teachable

    def layer(self, path: str) -> TfjsLayer:
        """The layer at a path of :attr:`weight_names` (``"sequential_1.conv1"``).

        Raises:
            KeyError: no layer there.
        """
        layer: nn.Module = self
        for key in path.split("."):
            if not isinstance(layer, Graph) or key not in layer.layers:
                raise KeyError(f"no layer {path!r} in the model")
            layer = layer.layers[key]
        return cast(TfjsLayer, layer)

    def tfjs_state(self) -> dict[str, np.ndarray]:
        """tfjs weight name -> the module's current value in the tfjs layout."""
        exported: dict[str, dict[str, np.ndarray]] = {}
        out = {}
        for name, (path, var) in self.weight_names.items():
            if path not in exported:
                exported[path] = self.layer(path).export_tfjs()
            out[name] = exported[path][var]
        return out


def _key(name: str) -> str:
    return name.replace(".", "_") or "_"


class _Renamed:
    """A model seen under other weight names (a Keras 3 export's, as the Keras 2 form names them)."""

    def __init__(self, model: Model, renames: dict[str, str]) -> None:
        self.model = model
        self.file_name = model.file_name
        self.json = model.json
        self.format = model.format
        self.specs = {renames.get(name, name): spec for name, spec in model.specs.items()}
        self.back = {new: old for old, new in renames.items()}
        self.weights = self

    def __getitem__(self, name: str) -> np.ndarray:
        return self.model.weights[self.back.get(name, name)]


def _topology(model: Model) -> tuple[dict[str, Any], str, dict[str, str]]:
    """The model config to build, the manifest's name, and the weight renames (a Keras 3 export's)."""
    doc = model.json if isinstance(model.json, dict) else {}
    topo = doc.get("modelTopology")
    file = model.file_name
    if model.format == "graph-model":
        raise TfjsFormatError(
            "a graph model has no Keras topology; to_module needs a layers model", file=file, field="format"
        )
    if not isinstance(topo, dict):
        raise TfjsFormatError("no Keras topology; to_module needs a layers model", file=file, field="modelTopology")
    renames: dict[str, str] = {}
    names = [n for n, spec in model.specs.items() if spec.group != "optimizer"]
    if keras3_signs(doc, names):  # built from the Keras 2 form, with Keras 3's semantics
        translation = translate(doc, names, file=file)
        topo = translation.document["modelTopology"]
        renames = translation.renames
    if "model_config" in topo:  # converter: {keras_version, backend, model_config}
        topo = topo["model_config"]
    if not isinstance(topo, dict) or "class_name" not in topo:
        raise TfjsFormatError("no class_name in the topology", file=file, field="modelTopology")
    return topo, file, renames


def _weight_index(model: Model) -> dict[str, dict[str, str]]:
    """layer name -> {var: tfjs weight name} for the model's weights (optimizer slots left out).

    ``layer/var`` and ``layer/cell/var`` give ``var`` (``layer/var`` first); every name
    of 3 parts or more also gives its path below the layer (``forward_lstm/kernel`` for
    ``bidirectional/forward_lstm/kernel``), for wrappers and RNN cells; and, as tfjs'
    ``loadWeights`` does, a name of 4 parts or more that path without its next-to-last
    part (``forward_lstm/kernel`` for ``bidirectional/forward_lstm/lstm_cell_1/kernel``).
    """
    index: dict[str, dict[str, str]] = {}
    for name, spec in model.specs.items():
        if spec.group == "optimizer":
            continue
        parts = name.split("/")
        if len(parts) < 2:
            continue
        by_var = index.setdefault(parts[0], {})
        if len(parts) <= 3:
            var = parts[-1]
            if len(parts) == 2 or var not in by_var:
                by_var[var] = name
        if len(parts) >= 3:
            by_var.setdefault("/".join(parts[1:]), name)
        if len(parts) >= 4:  # tfjs' rule: without the token before the variable (TF 2.2+ cell names)
            by_var.setdefault("/".join(parts[1:-2] + parts[-1:]), name)
    return index


def _getter(model: Model, vars_: dict[str, str]) -> Callable[[str], np.ndarray | None]:
    """var -> the layer's decoded weight, or None when the manifest lacks it."""

    def get(var: str) -> np.ndarray | None:
        return model.weights[vars_[var]] if var in vars_ else None

    return get


def _ref(item: Any, file: str, where: str) -> _Ref:
    if isinstance(item, (list, tuple)) and len(item) >= 3:
        if len(item) >= 4 and item[3]:
            raise TfjsFormatError(
                f"call arguments {item[3]!r} are not supported by tfjs_codec.torch", file=file, field=where
            )
        return (str(item[0]), int(item[1]), int(item[2]))
    raise TfjsFormatError(
        f"inbound node {item!r} is not in the Keras 2 / tfjs form [layer, node, tensor, kwargs]", file=file, field=where
    )


def _layer_configs(cls: str, config: Any, file: str, where: str) -> list[dict[str, Any]]:
    """The topology's list of layer configs (Sequential also comes as a bare list)."""
    layer_cfgs: Any
    if cls == "Sequential" and isinstance(config, list):
        layer_cfgs = config
    else:
        layer_cfgs = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layer_cfgs, list) or not all(isinstance(lc, dict) for lc in layer_cfgs):
        raise TfjsFormatError(f"{cls} config has no list of layers", file=file, field=where)
    return layer_cfgs


def _layer_name(lc: dict[str, Any], file: str) -> str:
    name = lc.get("name") or (lc.get("config") or {}).get("name")
    if not isinstance(name, str):
        raise TfjsFormatError("a layer has no name", file=file, field=f"layer {name!r} ({lc.get('class_name')})")
    return name


def _endpoints(config: dict[str, Any], key: str, file: str, where: str) -> list[_Ref]:
    """A functional model's ``input_layers`` / ``output_layers`` as keyed refs."""
    refs = config.get(key)
    field = f"{where}.{key}"
    if not isinstance(refs, list):
        raise TfjsFormatError(f"is {refs!r}, not a list of [layer, node, tensor]", file=file, field=field)
    out = []
    for r in refs:
        if not (isinstance(r, (list, tuple)) and len(r) >= 3):
            raise TfjsFormatError(f"entry {r!r} is not [layer, node, tensor]", file=file, field=field)
        out.append((_key(str(r[0])), int(r[1]), int(r[2])))
    return out


def _first_node(cls: str, config: Any) -> int:
    """The node index a model's first call inside another model has in refs.

    A plain layer's calls are nodes 0, 1, ... A nested model's node 0 is its own
    creation (its input layer linked to its outputs), so refs to its calls count
    from 1: always in tfjs-layers (``keptNodes = layer instanceof Container ? 1 :
    0``), and in Keras 2 for a model built with an input (``_should_skip_first_node``);
    a Keras 2 Sequential that was never built on its own counts from 0.
    """
    if cls not in MODEL_CLASSES:
        return 0
    return 1 if cls != "Sequential" or _sequential_built(config) else 0


def _sequential_built(config: Any) -> bool:
    """Whether a Sequential config has an input of its own: an InputLayer, a first layer
    with an input shape, or a first layer that is a model (which has its inputs)."""
    layers = config if isinstance(config, list) else (config or {}).get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list) or not layers or not isinstance(layers[0], dict):
        return False
    first = layers[0]
    cls = first.get("class_name")
    if cls == "InputLayer" or cls in ("Model", "Functional"):
        return True
    if cls == "Sequential":
        return _sequential_built(first.get("config"))
    conf = first.get("config") or {}
    return isinstance(conf, dict) and any(conf.get(k) is not None for k in ("batch_input_shape", "batch_shape", "input_shape"))


class _Builder:
    """Builds the graphs of a model, the nested ones too, and records where each weight went."""

    def __init__(self, model: Model, file: str) -> None:
        self.model = model
        self.file = file
        self.index = _weight_index(model)
        self.weight_names: dict[str, tuple[str, str]] = {}

    def _elsewhere(self, exc: TfjsFormatError, layer: str) -> TfjsFormatError:
        """A missing-weight error, with the manifest's weight for the layer under another prefix if any."""
        if not exc.reason.startswith("has no weight"):
            return exc
        found = next(
            (n for n, spec in self.model.specs.items() if spec.group != "optimizer" and layer in n.split("/")[1:-1]),
            None,
        )
        if found is None:
            return exc
        return TfjsFormatError(
            f"{exc.reason} (the manifest has {found!r}: named under another prefix, which tf.loadLayersModel "
            "does not match to this layer either)",
            file=exc.file, field=exc.field,
        )

    def graph(self, name: str, cls: str, config: Any, path: str, where: str) -> tuple[
        dict[str, nn.Module], list[_Node], list[_Ref], list[_Ref]
    ]:
        file = self.file
        layer_cfgs = _layer_configs(cls, config, file, f"{where}.config.layers")
        names = [_layer_name(lc, file) for lc in layer_cfgs]
        layers: dict[str, nn.Module] = {}
        for lc, lname in zip(layer_cfgs, names, strict=True):
            lcls = str(lc.get("class_name"))
            lconf = lc.get("config") or {}
            key = _key(lname)
            if key in layers:
                raise TfjsFormatError("two layers with the same name", file=file, field=f"layer {lname!r} ({lcls})")
            lpath = f"{path}.{key}" if path else key
            if lcls in MODEL_CLASSES:
                inner = self.graph(lname, lcls, lconf, lpath, f"layer {lname!r} ({lcls})")
                layers[key] = Graph(lname, lcls, *inner)
                continue
            vars_ = self.index.get(lname, {})
            try:
                layer = build_layer(lname, lcls, lconf, _getter(self.model, vars_), file=file)
            except TfjsFormatError as exc:
                raise self._elsewhere(exc, lname) from None
            layers[key] = layer
            for var in layer.tfjs_vars:
                tfjs_name = vars_[var]
                if tfjs_name in self.weight_names:
                    raise TfjsFormatError(
                        f"is used by two layers ({self.weight_names[tfjs_name][0]} and {lpath}): layer names clash "
                        "across nested models, which tfjs_codec.torch does not support",
                        file=file, weight=tfjs_name,
                    )
                self.weight_names[tfjs_name] = (lpath, var)

        nodes: list[_Node] = []
        if cls == "Sequential":
            keys = [k for k, lc in zip(layers, layer_cfgs, strict=True) if lc.get("class_name") != "InputLayer"]
            prev = _SEQ_INPUT
            for k, lc in zip(keys, [lc for lc in layer_cfgs if lc.get("class_name") != "InputLayer"], strict=True):
                node = _first_node(str(lc.get("class_name")), lc.get("config"))
                nodes.append((k, node, [prev]))
                prev = (k, node, 0)
            return layers, nodes, [_SEQ_INPUT], [prev]
        for lc, lname in zip(layer_cfgs, names, strict=True):
            first = _first_node(str(lc.get("class_name")), lc.get("config"))
            inbound = lc.get("inbound_nodes") or []
            if not isinstance(inbound, list):
                raise TfjsFormatError(
                    f"inbound_nodes {inbound!r} is not a list", file=file, field=f"layer {lname!r} ({lc.get('class_name')})"
                )
            for n, node in enumerate(inbound):
                if not isinstance(node, list):
                    raise TfjsFormatError(
                        f"inbound node {node!r} is not in the Keras 2 / tfjs form [[layer, node, tensor, kwargs], ...]",
                        file=file, field=f"layer {lname!r} inbound node {n}",
                    )
                args = [_ref(item, file, f"layer {lname!r} inbound node {n}") for item in node]
                nodes.append((_key(lname), first + n, [(_key(a[0]), a[1], a[2]) for a in args]))
        if not isinstance(config, dict):
            raise TfjsFormatError(f"{cls} config is not an object", file=file, field=f"{where}.config")
        inputs = _endpoints(config, "input_layers", file, f"{where}.config")
        outputs = _endpoints(config, "output_layers", file, f"{where}.config")
        return layers, _toposort(nodes, inputs, outputs, file, where), inputs, outputs


def _is_graph_model(model: Model) -> bool:
    doc = model.json if isinstance(model.json, dict) else {}
    topo = doc.get("modelTopology")
    return model.format == "graph-model" or (isinstance(topo, dict) and isinstance(topo.get("node"), list))


def to_module(model: Model) -> TfjsModule | GraphModule:
    """Build a torch module from a model's topology, weights loaded, in eval mode.

    A graph model (``format: graph-model``, a TensorFlow GraphDef) becomes a
    :class:`tfjs_codec.torch.graph.GraphModule` (see :mod:`tfjs_codec.torch.graph`).
    Layers models: Sequential and functional (``Model`` / ``Functional``)
    topologies as tfjs-layers (browser, ml5, Teachable Machine) and the
    tensorflowjs converter (Keras 2, tf_keras) write them, with models nested as
    layers to any depth, shared layers (one module, called at each of its nodes)
    and several inputs and outputs. The module's parameters are copies of the
    weights in torch layouts (see :mod:`tfjs_codec.torch`); quantized weights are
    used dequantized.

    Args:
        model: a loaded layers or graph model.

    Returns:
        A :class:`TfjsModule` (layers model) or ``GraphModule`` (graph model) in eval mode.

    Raises:
        TfjsFormatError: an op a graph model uses that is not supported (all
            listed at once), a Keras 3 export (the message says what it is and
            that tfjs cannot load it either), an unsupported layer class or
            option (the message names the layer, its class and the option), a
            weight the topology needs that the manifest lacks, or a model weight
            no layer uses.

    The first call in a process also sets the C heap to keep freed activations for reuse
    (:func:`tfjs_codec.heap.keep_freed_memory`: eager calls without a page fault per 4 KiB of
    activations, up to 2x faster; ``TFJS_CODEC_MALLOPT=0`` leaves the heap as it is).
    """
    keep_freed_memory()
    if _is_graph_model(model):  # a GraphDef: compiled by tfjs_codec.torch.graph
        from .graph.module import build_graph_module

        return build_graph_module(model)
    topo, file, renames = _topology(model)
    view: Any = _Renamed(model, renames) if renames else model
    cls = topo["class_name"]
    config = topo.get("config")
    if cls not in MODEL_CLASSES:
        raise TfjsFormatError(
            f"model class {cls!r} is not supported by tfjs_codec.torch", file=file, field="modelTopology.class_name"
        )
    builder = _Builder(view, file)
    name = (config.get("name") if isinstance(config, dict) else None) or "model"
    layers, nodes, inputs, outputs = builder.graph(str(name), cls, config, "", "modelTopology")
    used = builder.weight_names
    if renames:  # the module's tfjs names are the file's own
        back = {new: old for old, new in renames.items()}
        used = {back.get(n, n): v for n, v in used.items()}
    for wname, spec in model.specs.items():
        if spec.group != "optimizer" and wname not in used:
            raise TfjsFormatError(
                "is not used by any layer of the topology (to_module would drop it)", file=file, weight=wname
            )
    module = TfjsModule(str(name), cls, layers, nodes, inputs, outputs, used, ml5_meta(model), teachable_meta(model))
    return module.eval()


def _toposort(nodes: list[_Node], inputs: list[_Ref], outputs: list[_Ref], file: str, where: str) -> list[_Node]:
    """Order nodes so each runs after its inputs."""
    pending = list(nodes)
    ordered = []
    produced: set[tuple[str, int]] = {(r[0], r[1]) for r in inputs}
    while pending:
        for i, (key, node, args) in enumerate(pending):
            if all((a[0], a[1]) in produced for a in args):
                produced.add((key, node))
                ordered.append(pending.pop(i))
                break
        else:
            raise TfjsFormatError(
                f"layer {pending[0][0]!r} needs inputs no layer produces ({pending[0][2]!r})", file=file, field="modelTopology"
            )
    for r in outputs:
        if (r[0], r[1]) not in produced:
            raise TfjsFormatError(
                f"output {list(r)!r} is not produced by any layer", file=file, field=f"{where}.config.output_layers"
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
