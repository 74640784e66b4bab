"""Keras 3 exports in the Keras 2 dialect tfjs-layers 4.22 reads: detection and translation.

Since TensorFlow 2.16 Keras 3 is the default, and the ``tensorflowjs`` 4.22 converter run under
it writes layers models that ``tf.loadLayersModel`` of tfjs 4.22 cannot load ("An InputLayer
should be passed either a `batchInputShape` or an `inputShape`"). What differs from the Keras 2
form tfjs-layers reads:

- topology: ``batch_shape`` for ``batch_input_shape``; dtypes as ``DTypePolicy`` objects;
  ``module`` / ``registered_name`` / ``build_config`` entries; inbound nodes as
  ``{"args": [...], "kwargs": {...}}`` with ``keras_history`` triples, a nested model's calls
  counted from node 0 (Keras 2 and tfjs count them from 1), a single input or output as a bare
  ``[layer, node, tensor]``; a Bidirectional's inner layer named ``forward_<name>``; Keras 3
  ops applied to Keras tensors (``x + 3.0``) saved as layers (``Add``, ``Multiply``...) with a
  number among their arguments; ``LeakyReLU``'s ``negative_slope`` (Keras 2: ``alpha``);
  activations tfjs spells otherwise (``silu``: ``swish``) or lacks (``hard_silu``, and
  ``hard_sigmoid``, which is x/6 + 1/2 in Keras 3 but 0.2 x + 1/2 in Keras 2 and tfjs);
- weight names: ``save_keras_model`` puts the model's name first for a Sequential
  (``sequential/dense/kernel``, a nested Sequential's too); the ``.keras`` route
  (``--input_format=keras_keras``) names weights by Keras 3's saving tree,
  ``layers/<class in snake case>[_i]/.../vars/<j>``; a DepthwiseConv2D's kernel is ``kernel``
  (Keras 2: ``depthwise_kernel``).

:func:`translate` turns such a document into the Keras 2 form (numbers and layer semantics
unchanged: Keras 3 activations tfjs lacks become layers tfjs has) and says how each weight is to
be renamed; :func:`blockers` lists what tfjs 4.22 still cannot load in the result. Used by
:func:`tfjs_codec.repair` (the file rewritten for tfjs) and by ``tfjs_codec.torch.to_module``
(which builds the translated topology with Keras 3's semantics).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import TfjsFormatError

__all__ = ["Translation", "blockers", "keras3_signs", "translate", "TFJS_KERAS3_INPUT_ERROR"]

#: What tfjs-layers 4.22's tf.loadLayersModel says about a Keras 3 InputLayer (``batch_shape``).
TFJS_KERAS3_INPUT_ERROR = "An InputLayer should be passed either a `batchInputShape` or an `inputShape`."

#: Keras / tfjs model classes, top-level or nested as a layer.
MODEL_CLASSES = ("Sequential", "Model", "Functional")

#: What the translated topology says it follows (as the exporter's: tfjs-layers 4.22's format).
KERAS_VERSION = "tfjs-layers 4.22.0"

#: Keras 3 ops (``keras.ops``) a functional model saves as layers, as tfjs layers: the op's class
#: name -> (the merge layer for two tensors, or None; how a number ``c`` combines with ``x``).
_OPS: dict[str, tuple[str | None, str]] = {
    "Add": ("Add", "x + c"),
    "Subtract": ("Subtract", "x - c"),
    "Multiply": ("Multiply", "x * c"),
    "Divide": (None, "x / c"),
    "TrueDivide": (None, "x / c"),
}

#: Keras 3 activation names tfjs 4.22 knows under another name.
_RENAMED_ACTIVATIONS = {"silu": "swish"}

#: Keras 3 activations tfjs 4.22 lacks (or computes otherwise), rewritten as layers after the layer.
_LAYER_ACTIVATIONS = ("hard_sigmoid", "hard_silu", "hard_swish", "leaky_relu")

#: Layer entry keys Keras 3 writes that Keras 2 / tfjs-layers do not have.
_ENTRY_KEYS = ("module", "registered_name", "build_config", "compile_config", "shared_object_id")

#: Config keys of Keras 3 layers that tfjs-layers 4.22 has no use for, dropped when they hold
#: the value that means "Keras 2 behaviour" (any other value is kept, and then refused by name).
_NEUTRAL_CONFIG = {
    "quantization_config": None,
    "lora_rank": None,
    "lora_alpha": None,
    "seed": None,
    "optional": False,
    "synchronized": False,
    "rms_scaling": False,
    "groups": 1,
    "keepdims": False,
    "use_cudnn": "auto",
}


#: Keras 3 config keys that change nothing at inference (random seeds, cross-device batch statistics,
#: the cuDNN choice, an optional input): dropped whatever their value.
_INFERENCE_ONLY = ("seed", "synchronized", "use_cudnn", "optional")

#: Keras 3 options whose other values change the numbers and have no tfjs form (int8 quantized layers,
#: LoRA, RMS layer normalization, grouped convolutions): refused when not neutral.
_UNSUPPORTED_CONFIG = ("quantization_config", "lora_rank", "rms_scaling", "groups")


@dataclass
class Translation:
    """A Keras 3 document in the Keras 2 form.

    Attributes:
        document: the model.json document (a new dict; the manifest's weight names renamed).
        renames: weight name in the source manifest -> its name in ``document``.
        signs: why the source is a Keras 3 export (for messages).
        rewritten: what was changed beyond spelling, one line each (activations made layers,
            ops made layers), for ``repair``'s report.
    """

    document: dict[str, Any]
    renames: dict[str, str]
    signs: list[str]
    rewritten: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# detection


def _walk(config: Any) -> Iterator[dict[str, Any]]:
    """Every layer entry of a model config, nested models' layers too (and their own entries)."""
    layers = config if isinstance(config, list) else config.get("layers") if isinstance(config, dict) else None
    for lc in layers if isinstance(layers, list) else []:
        if isinstance(lc, dict):
            yield lc
            if lc.get("class_name") in MODEL_CLASSES:
                yield from _walk(lc.get("config"))


def _model_config(document: Any) -> tuple[dict[str, Any] | None, Any]:
    topo = document.get("modelTopology") if isinstance(document, dict) else None
    if not isinstance(topo, dict):
        return None, None
    keras_version = topo.get("keras_version")
    if "model_config" in topo:
        topo = topo["model_config"]
    return (topo if isinstance(topo, dict) and "class_name" in topo else None), keras_version


def keras3_signs(document: Any, weight_names: Sequence[str] = ()) -> list[str]:
    """Why ``document`` is a Keras 3 export, one phrase each; empty for a Keras 2 / tfjs-layers file."""
    topo, keras_version = _model_config(document)
    if topo is None:
        return []
    signs: list[str] = []
    if isinstance(keras_version, str) and keras_version.startswith("3."):
        signs.append(f"keras_version {keras_version!r}")
    layers = list(_walk(topo.get("config")))
    input_layer = next(
        (
            lc
            for lc in layers
            if lc.get("class_name") == "InputLayer"
            and isinstance(lc.get("config"), dict)
            and "batch_shape" in lc["config"]
            and "batch_input_shape" not in lc["config"]
        ),
        None,
    )
    if input_layer is not None:
        signs.append(f"InputLayer {input_layer['config'].get('name')!r} has batch_shape where Keras 2 writes batch_input_shape")
    if any(isinstance(n, dict) for lc in layers for n in (lc.get("inbound_nodes") or [])):
        signs.append("inbound nodes are {args, kwargs} objects")
    if any("module" in lc and "registered_name" in lc for lc in layers):
        signs.append("layer entries carry module and registered_name")
    if any(isinstance((lc.get("config") or {}).get("dtype"), dict) for lc in layers):
        signs.append("dtypes are DTypePolicy objects")
    if not signs:
        return []
    name = (topo.get("config") or {}).get("name") if isinstance(topo.get("config"), dict) else None
    prefixed = [w for w in weight_names if name and w.startswith(f"{name}/")]
    if prefixed:
        signs.append(f"weights are named with the model's name first, like {prefixed[0]!r}")
    saving_tree = [w for w in weight_names if w.startswith("layers/") and "/vars/" in w]
    if saving_tree:
        signs.append(f"weights are named by Keras 3's saving tree, like {saving_tree[0]!r}")
    return signs


# ---------------------------------------------------------------------------------------------
# weight names


def snake_case(name: str) -> str:
    """Keras 3's ``naming.to_snake_case`` (how its saving tree names a layer of a class)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _cell_scope(cls: str) -> str:
    return {"LSTM": "lstm_cell", "GRU": "gru_cell", "SimpleRNN": "simple_rnn_cell"}.get(cls, "")


def _own_vars(cls: str, config: dict[str, Any]) -> list[str]:
    """A leaf layer's variables in Keras 3's creation order (the ``vars/<j>`` of its saving tree)."""
    bias = ["bias"] if config.get("use_bias", True) else []
    if cls in ("Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
               "DepthwiseConv1D", "DepthwiseConv2D"):
        return ["kernel", *bias]
    if cls in ("SeparableConv1D", "SeparableConv2D"):
        return ["depthwise_kernel", "pointwise_kernel", *bias]
    if cls == "BatchNormalization":
        return [*(["gamma"] if config.get("scale", True) else []), *(["beta"] if config.get("center", True) else []),
                "moving_mean", "moving_variance"]
    if cls == "LayerNormalization":
        return [*(["gamma"] if config.get("scale", True) else []), *(["beta"] if config.get("center", True) else [])]
    if cls == "Embedding":
        return ["embeddings"]
    if cls == "PReLU":
        return ["alpha"]
    if cls in ("LSTMCell", "GRUCell", "SimpleRNNCell"):
        return ["kernel", "recurrent_kernel", *bias]
    return []


def _leaf_entries(config: Any, cls: str) -> list[dict[str, Any]]:
    layers = config if isinstance(config, list) else (config or {}).get("layers") if isinstance(config, dict) else None
    return [lc for lc in layers or [] if isinstance(lc, dict)]


def _saving_tree(cls: str, config: Any, path: str, out: dict[str, tuple[str, str]], seen: set[str]) -> None:
    """Keras 3's ``.keras`` saving tree of a model: ``path/vars/j`` -> (tfjs layer path, var)."""
    used: dict[str, int] = {}
    for lc in _leaf_entries(config, cls):
        lcls = str(lc.get("class_name"))
        lconf = _conf(lc)
        lname = str(lc.get("name") or lconf.get("name") or "")
        if lcls == "InputLayer" and cls == "Sequential":
            continue  # Sequential.layers leaves its InputLayer out
        if _is_op(lc):
            continue  # a Keras 3 op, not a layer: not in model.layers
        key = snake_case(lcls)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        if lname in seen:  # a shared layer is saved once, at its first place
            continue
        seen.add(lname)
        _layer_tree(lcls, lconf, lname, f"{path}/{key}", out, seen)


def _layer_tree(cls: str, conf: dict[str, Any], name: str, path: str, out: dict[str, tuple[str, str]], seen: set[str]) -> None:
    if cls in MODEL_CLASSES:
        _saving_tree(cls, conf, f"{path}/layers", out, seen)
        return
    for j, var in enumerate(_own_vars(cls, conf)):
        out[f"{path}/vars/{j}"] = (name, var)
    if cls in ("LSTM", "GRU", "SimpleRNN"):
        for j, var in enumerate(_own_vars(f"{cls}Cell", conf)):
            out[f"{path}/cell/vars/{j}"] = (name, f"{_cell_scope(cls)}/{var}")
    elif cls == "Bidirectional":
        inner: dict[str, Any] = conf["layer"] if isinstance(conf.get("layer"), dict) else {}
        icls = str(inner.get("class_name"))
        iconf = _conf(inner)
        base = _unprefixed(str(iconf.get("name") or ""), "forward_")
        for attr, direction in (("backward_layer", "backward"), ("forward_layer", "forward")):
            sub: dict[str, tuple[str, str]] = {}
            _layer_tree(icls, iconf, "", f"{path}/{attr}", sub, seen)
            for k, (_, var) in sub.items():
                out[k] = (name, f"{direction}_{base}/{var}")
    elif cls == "TimeDistributed":
        inner = conf["layer"] if isinstance(conf.get("layer"), dict) else {}
        iconf = _conf(inner)
        sub = {}
        _layer_tree(str(inner.get("class_name")), iconf, "", f"{path}/layer", sub, seen)
        for k, (_, var) in sub.items():
            out[k] = (name, var)


def _is_op(entry: dict[str, Any]) -> bool:
    """A Keras 3 op (``keras.ops``) applied to Keras tensors, saved among the layers: its config has
    no ``trainable`` (every layer's has), and it is no layer of ``model.layers``."""
    return entry.get("class_name") not in MODEL_CLASSES and "trainable" not in _conf(entry) and bool(
        entry.get("inbound_nodes")
    )


def _conf(entry: Any) -> dict[str, Any]:
    """A layer entry's config, or {} when it has none."""
    conf = entry.get("config") if isinstance(entry, dict) else None
    return conf if isinstance(conf, dict) else {}


def _unprefixed(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


def _leaf_classes(config: Any) -> dict[str, str]:
    """Every non-model layer's name -> class, nested models' too."""
    return {
        str(lc.get("name") or (lc.get("config") or {}).get("name")): str(lc.get("class_name"))
        for lc in _walk(config)
        if lc.get("class_name") not in MODEL_CLASSES
    }


def _rename_var(cls: str, var: str) -> str:
    """A Keras 3 variable name as Keras 2 / tfjs name it."""
    if cls in ("DepthwiseConv1D", "DepthwiseConv2D") and var == "kernel":
        return "depthwise_kernel"
    return var


def _renames(topo: dict[str, Any], weight_names: Sequence[str], file: str) -> dict[str, str]:
    """Each manifest weight's Keras 2 / tfjs name (``layer/var``, ``lstm/lstm_cell/kernel``...)."""
    classes = _leaf_classes(topo.get("config"))
    tree: dict[str, tuple[str, str]] = {}
    if any(w.startswith("layers/") and "/vars/" in w for w in weight_names):
        _saving_tree(str(topo.get("class_name")), topo.get("config"), "layers", tree, set())
    renames: dict[str, str] = {}
    for w in weight_names:
        if w in tree:
            layer, var = tree[w]
            renames[w] = f"{layer}/{_rename_var(classes.get(layer, ''), var)}"
            continue
        parts = w.split("/")
        start = next((i for i in range(len(parts) - 1) if parts[i] in classes), None)
        if start is None:
            raise TfjsFormatError(
                "names no layer of the topology (a Keras 3 export's weights are named after their layers)",
                file=file, weight=w,
            )
        layer = parts[start]
        rest = parts[start + 1:]
        rest[-1] = _rename_var(classes[layer], rest[-1])
        renames[w] = "/".join([layer, *rest])
    taken: dict[str, str] = {}
    for old, new in renames.items():
        if new in taken:
            raise TfjsFormatError(
                f"and {taken[new]!r} would both be named {new!r} in the Keras 2 form (layer names clash across "
                "nested models)", file=file, weight=old,
            )
        taken[new] = old
    return renames


# ---------------------------------------------------------------------------------------------
# topology


class _Translator:
    def __init__(self, file: str) -> None:
        self.file = file
        self.rewritten: list[str] = []
        self.classes: dict[str, str] = {}

    # values -----------------------------------------------------------------------------------

    def value(self, v: Any) -> Any:
        """A config value in the Keras 2 spelling: objects {class_name, config} without Keras 3's extras."""
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict):
            return v
        if v.get("class_name") == "DTypePolicy" or (v.get("module") == "keras" and "DTypePolicy" in str(v.get("class_name"))):
            name = (v.get("config") or {}).get("name")
            return name if isinstance(name, str) else "float32"
        if "class_name" in v and "config" in v:
            conf = v.get("config")
            out: dict[str, Any] = {"class_name": v["class_name"], "config": self.value(conf)}
            if isinstance(out["config"], dict):
                out["config"] = {k: x for k, x in out["config"].items()
                                 if not (k in ("input_axes", "output_axes") and x is None)}
            return out
        return {k: self.value(x) for k, x in v.items() if k not in _ENTRY_KEYS}

    def config(self, cls: str, conf: dict[str, Any], where: str) -> dict[str, Any]:
        out = {k: self.value(v) for k, v in conf.items()
               if not (k in _NEUTRAL_CONFIG and v == _NEUTRAL_CONFIG[k] or k in _INFERENCE_ONLY)}
        for key in _UNSUPPORTED_CONFIG:
            if key in out:
                raise TfjsFormatError(
                    f"{key}={out[key]!r} (a Keras 3 option) is not supported: neither tfjs-layers 4.22 nor "
                    "tfjs_codec.torch has it", file=self.file, field=where,
                )
        if cls == "InputLayer":
            if "batch_shape" in out:
                out["batch_input_shape"] = out.pop("batch_shape")
            if "shape" in out and "batch_input_shape" not in out:
                out["batch_input_shape"] = [None, *out.pop("shape")]
        if cls == "LeakyReLU" and "negative_slope" in out:
            out["alpha"] = out.pop("negative_slope")
        if cls == "Bidirectional":
            for key in ("layer", "backward_layer"):
                inner = out.get(key)
                if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
                    iconf = dict(inner["config"])
                    prefix = "forward_" if key == "layer" else "backward_"
                    iconf["name"] = _unprefixed(str(iconf.get("name") or ""), prefix)
                    out[key] = {"class_name": inner["class_name"],
                                "config": self.config(str(inner["class_name"]), iconf, where)}
            out.pop("backward_layer", None)  # tfjs derives it from `layer` (go_backwards flipped)
        if cls == "TimeDistributed":
            inner = out.get("layer")
            if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
                out["layer"] = {"class_name": inner["class_name"],
                                "config": self.config(str(inner["class_name"]), inner["config"], where)}
        act = out.get("activation")
        if isinstance(act, str) and act in _RENAMED_ACTIVATIONS:
            out["activation"] = _RENAMED_ACTIVATIONS[act]
            self.rewritten.append(f"{where}: activation {act!r} is {out['activation']!r} in tfjs")
        return out

    # graphs -----------------------------------------------------------------------------------

    def model(self, cls: str, conf: Any, where: str) -> Any:
        if not isinstance(conf, dict):
            raise TfjsFormatError(f"{cls} config is not an object", file=self.file, field=where)
        out = {k: self.value(v) for k, v in conf.items() if k not in ("layers", "input_layers", "output_layers")}
        entries = [lc for lc in conf.get("layers") or [] if isinstance(lc, dict)]
        for lc in entries:
            lconf = _conf(lc)
            self.classes[str(lc.get("name") or lconf.get("name"))] = str(lc.get("class_name"))
        if cls == "Sequential":
            out["layers"] = self.sequential(entries, where)
        else:
            redirect: dict[str, str] = {}
            out["layers"] = self.functional(entries, where, redirect)
            for key in ("input_layers", "output_layers"):
                refs = conf.get(key)
                if isinstance(refs, list) and len(refs) == 3 and isinstance(refs[0], str):
                    refs = [refs]  # Keras 3 writes a single input/output as a bare triple
                out[key] = [[redirect.get(str(r[0]), r[0]), self.node_index(str(r[0]), int(r[1])), int(r[2])]
                            for r in refs or []]
        return out

    def layer(self, lc: dict[str, Any], where: str) -> dict[str, Any]:
        cls = str(lc.get("class_name"))
        conf = _conf(lc)
        name = str(lc.get("name") or conf.get("name"))
        at = f"layer {name!r} ({cls})"
        if cls in MODEL_CLASSES:
            return {"class_name": cls, "config": self.model(cls, conf, at), "name": name}
        return {"class_name": cls, "config": self.config(cls, conf, at), "name": name}

    def sequential(self, entries: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for lc in entries:
            new = self.layer(lc, where)
            new.pop("name", None)
            out.append(new)
            extra = self.post_layers(new, 1, _input_shape(lc))
            out += [{k: v for k, v in x.items() if k not in ("inbound_nodes", "name")} for x in extra]
        return out

    def node_index(self, layer: str, node: int) -> int:
        """Keras 3 counts a nested model's calls from 0; Keras 2 and tfjs from 1 (node 0 is its creation)."""
        return node + 1 if self.classes.get(layer) in MODEL_CLASSES else node

    def tensor(self, t: Any, where: str) -> list[Any] | None:
        if isinstance(t, dict) and t.get("class_name") == "__keras_tensor__":
            hist = (t.get("config") or {}).get("keras_history")
            if isinstance(hist, list) and len(hist) == 3:
                return [str(hist[0]), self.node_index(str(hist[0]), int(hist[1])), int(hist[2]), {}]
            raise TfjsFormatError(f"keras tensor {t!r} has no keras_history", file=self.file, field=where)
        return None

    def functional(self, entries: list[dict[str, Any]], where: str, redirect: dict[str, str]) -> list[dict[str, Any]]:
        """A functional model's layers; ``redirect`` gets layer -> the layer added after it that now
        gives its output (an activation made layers)."""
        out: list[dict[str, Any]] = []
        masks = _mask_only(entries)
        for lc in entries:
            cls = str(lc.get("class_name"))
            conf = _conf(lc)
            name = str(lc.get("name") or conf.get("name"))
            if name in masks:
                self.rewritten.append(f"layer {name!r} ({cls}): computes a mask Keras 2 and tfjs propagate themselves; left out")
                continue
            at = f"layer {name!r} ({cls})"
            nodes = lc.get("inbound_nodes") or []
            op = _is_op(lc)
            if op and cls not in _OPS:
                raise TfjsFormatError(f"is the Keras 3 op {cls}, which no tfjs layer computes", file=self.file, field=at)
            new_nodes: list[list[list[Any]]] = []
            scalar: list[tuple[float, bool] | None] = []
            for n, node in enumerate(nodes):
                node_at = f"{at} inbound node {n}"
                if isinstance(node, list):  # already the Keras 2 form
                    new_nodes.append(node)
                    scalar.append(None)
                    continue
                if not isinstance(node, dict):
                    raise TfjsFormatError(f"inbound node {node!r} is neither Keras 2 nor Keras 3", file=self.file,
                                          field=node_at)
                kwargs = {k: v for k, v in (node.get("kwargs") or {}).items() if v is not None}
                kwargs.pop("training", None)
                if _history(kwargs.get("mask")) in masks:
                    del kwargs["mask"]  # the mask Masking / Embedding(mask_zero) give in Keras 2 and tfjs too
                if kwargs:
                    raise TfjsFormatError(
                        f"call arguments {kwargs!r} are not supported (tfjs-layers' inbound nodes carry none)",
                        file=self.file, field=node_at,
                    )
                refs: list[list[Any]] = []
                number: float | None = None
                number_first = False
                for i, arg in enumerate(node.get("args") or []):
                    items = arg if isinstance(arg, list) else [arg]
                    for item in items:
                        ref = self.tensor(item, node_at)
                        if ref is not None:
                            refs.append(ref)
                        elif op and isinstance(item, (int, float)) and not isinstance(item, bool):
                            number, number_first = float(item), i == 0
                        else:
                            raise TfjsFormatError(f"argument {item!r} is not a Keras tensor", file=self.file,
                                                  field=node_at)
                if op and number is not None:
                    scalar.append((number, number_first))
                    if number_first and cls not in ("Add", "Multiply", "Subtract"):
                        raise TfjsFormatError(
                            f"is the Keras 3 op `{number:g} / x`, which no tfjs layer computes", file=self.file,
                            field=at,
                        )
                else:
                    scalar.append(None)
                new_nodes.append([[redirect.get(r[0], r[0]), *r[1:]] for r in refs])
            if op:
                entry = self.op_layer(cls, name, new_nodes, scalar, at)
            else:
                entry = self.layer(lc, where)
                entry["inbound_nodes"] = new_nodes
            if entry["class_name"] == "Subtract":
                out.append(self.negated_second(entry, at))
            out.append(entry)
            extra = self.post_layers(entry, len(new_nodes), _input_shape(lc))
            if extra:
                redirect[name] = extra[-1]["name"]
            out += extra
        return out

    def negated_second(self, entry: dict[str, Any], at: str) -> dict[str, Any]:
        """``a - b`` as tfjs 4.22 can load it (it has no Subtract layer): ``entry`` becomes ``Add`` of ``a``
        and the returned ``Rescaling(-1)`` of ``b`` (exact: IEEE subtraction is the addition of the negation)."""
        name = entry["name"]
        nodes = entry["inbound_nodes"]
        if any(len(node) != 2 for node in nodes):
            raise TfjsFormatError("Subtract takes exactly two inputs", file=self.file, field=at)
        neg_name = f"{name}_negated"
        neg = {"class_name": "Rescaling",
               "config": {"name": neg_name, "trainable": True, "dtype": "float32", "scale": -1.0, "offset": 0.0},
               "name": neg_name, "inbound_nodes": [[node[1]] for node in nodes]}
        entry["class_name"] = "Add"
        entry["config"] = {k: v for k, v in entry["config"].items() if k in ("name", "trainable", "dtype")}
        entry["inbound_nodes"] = [[node[0], [neg_name, n, 0, {}]] for n, node in enumerate(nodes)]
        self.rewritten.append(f"{at}: a - b is Add(a, {neg_name}), {neg_name} a Rescaling(-1) of b (tfjs 4.22 has no "
                              "Subtract layer)")
        return neg

    def op_layer(self, cls: str, name: str, nodes: list[list[list[Any]]], scalar: list[tuple[float, bool] | None],
                 at: str) -> dict[str, Any]:
        """A Keras 3 op saved as a layer, as the tfjs layer that computes it."""
        merge, rule = _OPS[cls]
        if all(c is None for c in scalar):
            if merge is None:
                raise TfjsFormatError(f"is the Keras 3 op `{rule.replace('c', 'y')}` of two tensors, which no tfjs "
                                      "layer computes", file=self.file, field=at)
            self.rewritten.append(f"{at}: the Keras 3 op of two tensors is tfjs' {merge} layer")
            return {"class_name": merge, "config": {"name": name, "trainable": True, "dtype": "float32"},
                    "name": name, "inbound_nodes": nodes}
        if len({c for c in scalar}) != 1:
            raise TfjsFormatError("is a Keras 3 op called with different numbers at different places",
                                  file=self.file, field=at)
        if scalar[0] is None:
            raise TfjsFormatError("is a Keras 3 op called on a number at one place and on tensors at another",
                                  file=self.file, field=at)
        c, first = scalar[0]
        if cls == "Add":
            scale, offset = 1.0, c
        elif cls == "Subtract":
            scale, offset = (-1.0, c) if first else (1.0, -c)
        elif cls == "Multiply":
            scale, offset = c, 0.0
        else:
            scale, offset = 1.0 / c, 0.0
        shown = f"{c:g} - x" if cls == "Subtract" and first else rule.replace("c", f"{c:g}")
        self.rewritten.append(f"{at}: the Keras 3 op `{shown}` is a Rescaling layer (scale {scale:g}, offset {offset:g})")
        return {"class_name": "Rescaling",
                "config": {"name": name, "trainable": True, "dtype": "float32", "scale": scale, "offset": offset},
                "name": name, "inbound_nodes": nodes}

    def post_layers(self, entry: dict[str, Any], calls: int, in_shape: list[Any] | None) -> list[dict[str, Any]]:
        """Layers after ``entry`` that compute what tfjs' layer of that class does not (see below);
        ``entry`` is changed to leave that part out. The last one gives ``entry``'s output."""
        conf = entry["config"]
        cls = entry["class_name"]
        name = entry["name"] if "name" in entry else conf.get("name")
        at = f"layer {name!r} ({cls})"
        layers: list[dict[str, Any]] = []
        last = name

        def node_refs(src: str) -> list[list[list[Any]]]:
            return [[[src, n, 0, {}]] for n in range(calls)]

        def add(lcls: str, suffix: str, config: dict[str, Any], inbound: list[list[list[Any]]]) -> str:
            lname = f"{name}_{suffix}"
            layers.append({"class_name": lcls, "config": {"name": lname, "trainable": True, "dtype": "float32", **config},
                           "name": lname, "inbound_nodes": inbound})
            return lname

        if isinstance(conf, dict) and conf.get("keepdims") and cls.startswith("Global"):
            # Keras 3's keepdims=True (MobileNetV3's squeeze-excite blocks): tfjs' global pooling has
            # no such option; its output reshaped to keep the pooled axes as 1.
            if not in_shape or in_shape[-1 if conf.get("data_format", "channels_last") == "channels_last" else 1] is None:
                raise TfjsFormatError("keepdims=True with an unknown number of channels", file=self.file, field=at)
            first = conf.get("data_format", "channels_last") != "channels_last"
            channels = int(in_shape[1] if first else in_shape[-1])
            ones = [1] * (len(in_shape) - 2)
            del conf["keepdims"]
            last = add("Reshape", "keepdims", {"target_shape": [channels, *ones] if first else [*ones, channels]},
                       node_refs(last))
            self.rewritten.append(f"{at}: keepdims=True is a Reshape after it ({last})")
        act = conf.get("activation") if isinstance(conf, dict) else None
        if act in _LAYER_ACTIVATIONS:
            self.activation_layers(conf, act, last, calls, add, node_refs)
            self.rewritten.append(
                f"{at}: activation {act!r} (Keras 3's, which tfjs lacks) is computed by the layers "
                + ", ".join(f"{x['name']} ({x['class_name']})" for x in layers if x["name"] != f"{name}_keepdims")
            )
        return layers

    @staticmethod
    def activation_layers(conf: dict[str, Any], act: str, src: str, calls: int, add: Any, node_refs: Any) -> None:
        """The layers that compute a Keras 3 activation tfjs lacks; ``conf``'s own made linear.

        ``hard_sigmoid`` (x/6 + 1/2 clipped to [0, 1]) becomes Rescaling(1/6, 1/2) + ReLU(max_value=1);
        ``hard_silu`` (x times that) those two and a Multiply with x; ``leaky_relu`` a LeakyReLU(0.2).
        """
        conf["activation"] = "linear"
        if act == "leaky_relu":
            add("LeakyReLU", "leaky_relu", {"alpha": 0.2}, node_refs(src))
        else:
            r = add("Rescaling", "hard_sigmoid_affine", {"scale": 1.0 / 6.0, "offset": 0.5}, node_refs(src))
            s = add("ReLU", "hard_sigmoid", {"max_value": 1.0}, node_refs(r))
            if act in ("hard_silu", "hard_swish"):
                add("Multiply", "hard_silu", {}, [[[src, n, 0, {}], [s, n, 0, {}]] for n in range(calls)])


def _history(t: Any) -> str | None:
    """The layer a Keras 3 keras tensor comes from, or None."""
    if isinstance(t, dict) and t.get("class_name") == "__keras_tensor__":
        hist = (t.get("config") or {}).get("keras_history")
        if isinstance(hist, list) and hist:
            return str(hist[0])
    return None


def _tensors(value: Any) -> Iterator[str]:
    """The layers every keras tensor in an argument structure comes from."""
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        name = _history(value)
        if name is not None:
            yield name
        elif value.get("class_name") != "__keras_tensor__":
            for v in value.values():
                yield from _tensors(v)


#: Keras 3 ops its functional models save to compute a layer's mask (``Masking``: ``any(x != v, -1)``,
#: ``Embedding(mask_zero=True)``: ``x != 0``), passed on as the ``mask`` call argument.
_MASK_OPS = ("NotEqual", "Equal", "Any", "All", "LogicalAnd", "LogicalOr", "LogicalNot", "ExpandDims", "Squeeze", "Cast")


def _mask_only(entries: list[dict[str, Any]]) -> set[str]:
    """The Keras 3 op layers of a functional config that only compute ``mask`` call arguments.

    Keras 2 and tfjs propagate the masks of ``Masking`` and ``Embedding(mask_zero=True)`` along the
    layers themselves, so these ops (and the ``mask`` arguments they feed) are left out."""
    consumers: dict[str, set[tuple[str, bool]]] = {}
    for lc in entries:
        name = str(lc.get("name") or _conf(lc).get("name"))
        for node in lc.get("inbound_nodes") or []:
            if not isinstance(node, dict):
                continue
            for src in _tensors(node.get("args")):
                consumers.setdefault(src, set()).add((name, False))
            for key, value in (node.get("kwargs") or {}).items():
                for src in _tensors(value):
                    consumers.setdefault(src, set()).add((name, key == "mask"))
    candidates = {str(lc.get("name") or _conf(lc).get("name")) for lc in entries
                  if lc.get("class_name") in _MASK_OPS and _conf(lc).keys() <= {"name", "axis", "keepdims", "dtype"}}
    masks = set(candidates)
    changed = True
    while changed:
        changed = False
        for name in sorted(masks):
            users = consumers.get(name, set())
            if not users or not all(as_mask or user in masks for user, as_mask in users):
                masks.discard(name)
                changed = True
    return masks


def _input_shape(lc: dict[str, Any]) -> list[Any] | None:
    """A Keras 3 layer entry's input shape: from its first inbound tensor, or its build_config."""
    for node in lc.get("inbound_nodes") or []:
        if isinstance(node, dict):
            for arg in node.get("args") or []:
                if isinstance(arg, dict) and isinstance((arg.get("config") or {}).get("shape"), list):
                    return list(arg["config"]["shape"])
    shape = (lc.get("build_config") or {}).get("input_shape") if isinstance(lc.get("build_config"), dict) else None
    return list(shape) if isinstance(shape, list) else None


def translate(document: dict[str, Any], weight_names: Sequence[str], *, file: str = "model.json") -> Translation:
    """The Keras 2 form of a Keras 3 export (see the module docstring).

    Args:
        document: the parsed model.json of a Keras 3 export (:func:`keras3_signs` non-empty).
        weight_names: the manifest's weight names (optimizer slots excluded).
        file: the manifest's name, for messages.

    Returns:
        The translated document (its manifest renamed) and the renames.

    Raises:
        TfjsFormatError: something the Keras 2 form cannot say (a Keras 3 op of two tensors
            no tfjs layer computes, call arguments, weights naming no layer); the message
            names the layer.
    """
    signs = keras3_signs(document, weight_names)
    topo, keras_version = _model_config(document)
    if topo is None:
        raise TfjsFormatError("no Keras topology", file=file, field="modelTopology")
    tr = _Translator(file)
    cls = str(topo["class_name"])
    conf = topo.get("config")
    if cls == "Sequential" and isinstance(conf, list):
        conf = {"name": "sequential", "layers": conf}
    tr.classes = {}
    model_config = {"class_name": cls, "config": tr.model(cls, copy.deepcopy(conf), "modelTopology")}
    renames = _renames(topo, list(weight_names), file)
    old_topo = document["modelTopology"]
    new_topo: dict[str, Any] = {"keras_version": KERAS_VERSION, "backend": old_topo.get("backend", "tensor_flow.js"),
                                "model_config": model_config}
    for key, value in old_topo.items():
        if key not in ("keras_version", "backend", "model_config", "class_name", "config"):
            new_topo[key] = value
    new_doc: dict[str, Any] = {}
    for key, value in document.items():
        if key == "modelTopology":
            new_doc[key] = new_topo
        elif key == "weightsManifest":
            new_doc[key] = [
                {**group, "weights": [{**w, "name": renames.get(w.get("name"), w.get("name"))} for w in group.get("weights", [])]}
                for group in value
            ]
        else:
            new_doc[key] = value
    if keras_version is not None and "generatedBy" not in new_doc:
        new_doc["generatedBy"] = f"keras v{keras_version}"
    return Translation(new_doc, renames, signs, tr.rewritten)


# ---------------------------------------------------------------------------------------------
# what tfjs 4.22 cannot load

#: Layer classes tfjs-layers 4.22 does not have (Keras 3 layers a translated file may hold).
_NOT_IN_TFJS = {
    "MultiHeadAttention": "tfjs-layers 4.22 has no MultiHeadAttention layer",
    "Lambda": "a Lambda layer holds Python code, which no tfjs model can",
    "EinsumDense": "tfjs-layers 4.22 has no EinsumDense layer",
    "GroupNormalization": "tfjs-layers 4.22 has no GroupNormalization layer",
    "UnitNormalization": "tfjs-layers 4.22 has no UnitNormalization layer",
    "Identity": "tfjs-layers 4.22 has no Identity layer",
    "RandomFlip": "tfjs-layers 4.22 has no RandomFlip layer",
    "RandomRotation": "tfjs-layers 4.22 has no RandomRotation layer",
}

GRAPH_ADVICE = (
    "or build it with tfjs_codec.torch.to_module and export that with tfjs_codec.torch.export(..., format=\"graph\")"
)


def blockers(document: dict[str, Any]) -> list[str]:
    """What tfjs-layers 4.22 cannot load in a (translated) Keras 2 form document, one line each
    naming the layer, its class and the option, and what would work instead."""
    topo, _ = _model_config(document)
    if topo is None:
        return []
    out: list[str] = []

    def check(lc: dict[str, Any], outer: str | None = None) -> None:
        cls = str(lc.get("class_name"))
        conf = _conf(lc)
        name = str(lc.get("name") or conf.get("name"))
        at = f"layer {name!r} ({cls})" if outer is None else f"layer {outer} wrapping {name!r} ({cls})"
        if cls in _NOT_IN_TFJS:
            out.append(f"{at}: {_NOT_IN_TFJS[cls]}; {GRAPH_ADVICE.removeprefix('or ')}")
        if cls == "GRU" and conf.get("reset_after"):
            out.append(
                f"{at}: reset_after=True (Keras 3's default): tfjs 4.22's GRUCell does not support it; re-save the "
                f"model with GRU(..., reset_after=False) (retrained: the weights differ), {GRAPH_ADVICE}"
            )
        if isinstance(conf.get("activation"), str) and conf["activation"] in ("exponential", "hard_silu", "hard_swish"):
            out.append(f"{at}: activation {conf['activation']!r}: tfjs 4.22 has no such activation")
        if isinstance(conf.get("recurrent_activation"), str) and conf["recurrent_activation"] in _LAYER_ACTIVATIONS:
            out.append(
                f"{at}: recurrent_activation {conf['recurrent_activation']!r}: tfjs 4.22 has none that computes "
                f"Keras 3's, {GRAPH_ADVICE}"
            )
        for key in ("layer",):
            inner = conf.get(key)
            if isinstance(inner, dict) and "class_name" in inner:
                check(inner, repr(name))

    for lc in _walk(topo.get("config")):
        if lc.get("class_name") not in MODEL_CLASSES:
            check(lc)
    return out
