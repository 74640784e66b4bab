"""The one layer registry of tfjs_codec.torch: each Keras / tfjs-layers class, both directions.

How the adapter is organised
----------------------------
A reader looks for a layer class in the file of its family; each file holds the torch
modules of its classes and, beside each module, the builder that makes it from a Keras
config and tfjs weights:

====================  ===========================================================
``registry.py``       this file: :data:`REGISTRY` (Keras class name ->
                      :class:`LayerKind`), :func:`register`, :func:`attach_export`,
                      the build context :class:`BuildContext`, the
                      :class:`TfjsLayer` base class and helpers shared by the families
``activation_fns.py`` the activation-function table (imports nothing of the
                      adapter; :meth:`BuildContext.activation` reads it)
``activations.py``    the activation layers (``Activation``, ``ReLU``,
                      ``LeakyReLU``, ...)
``core.py``           ``InputLayer``, ``Dense``, ``Embedding``, the dropout and
                      noise family (identity at inference)
``conv.py``           convolutions (``Conv1D``, ``Conv2D``, depthwise, separable,
                      transposed)
``pooling.py``        pooling, reshaping (``Flatten``, ``Reshape``, ``Permute``,
                      ``RepeatVector``) and padding / cropping / upsampling
``normalization.py``  ``BatchNormalization``, ``LayerNormalization``
``recurrent.py``      ``LSTM``, ``GRU``, ``SimpleRNN`` and their wrappers
``merge.py``          ``Add``, ``Concatenate``, ... (layers with several inputs)
``preprocessing.py``  ``Rescaling``, ``CenterCrop``, ``Resizing``, ...
``module.py``         model classes (``Sequential``, ``Model`` / ``Functional``,
                      nested ones): :func:`~tfjs_codec.torch.to_module`,
                      :func:`~tfjs_codec.torch.save_module`
====================  ===========================================================

Adding a layer class (Keras config + tfjs weights -> torch)
-----------------------------------------------------------
1. In its family file, write the module: a :class:`TfjsLayer` subclass whose
   ``forward`` takes and returns channels-last tensors as tfjs does, whose
   ``__init__`` converts the tfjs weights to torch layouts (parameters, buffers)
   and sets ``tfjs_vars`` (the tfjs variable names it holds, in manifest order),
   and whose :meth:`TfjsLayer.export_tfjs` converts them back (exactly: an
   unchanged module must give byte-identical weight files).
2. Beside it, the builder, registered under the Keras class name(s) it serves::

       @register("ZeroPadding2D")
       def _zero_padding2d(c: BuildContext) -> TfjsLayer:
           c.channels_last()                      # refuse what cannot be expressed
           return ZeroPadding(c.name, c.cls, pads=...)

   A builder factory registers as ``register("Conv2D")(_conv(2, "conv"))``.
   Refuse options with :meth:`BuildContext.fail` / :meth:`BuildContext.only` (the
   message names the layer, its class and the option); read weights with
   :meth:`BuildContext.weight` / :meth:`BuildContext.maybe`.
3. Add a fixture recorded by tfjs in Node, and a row in docs/torch.md's table.

The export half (torch -> Keras config + tfjs weights)
------------------------------------------------------
A :class:`LayerKind` also carries ``torch_types`` (the torch module classes it
exports) and ``export`` (what :func:`tfjs_codec.torch.export` calls for each call
of such a module, see :data:`ExportFn`). Attach them in the same family file,
beside the builder::

    @attach_export("Dense", nn.Linear)
    def _export_linear(ex: Exporter, call: Call) -> Value:
        x = call.graph.last_axis(call.tensor(), ...)      # the layout the layer needs
        ref = call.emit(ExportedLayer("Dense", config, {"kernel": ..., "bias": ...}), [x])
        return Value(ref, call.out_shape, x.perm)

or pass ``torch_types=`` / ``export=`` to :func:`register`. :func:`kind_for_torch`
finds the entry for a torch module. A torch type belongs to one entry only.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import TfjsFormatError
from .activation_fns import ACTIVATIONS, ActivationFn

__all__ = [
    "FAMILIES",
    "REGISTRY",
    "ActivationFn",
    "BuildContext",
    "Builder",
    "ExportedLayer",
    "LayerKind",
    "Lambda",
    "TfjsLayer",
    "attach_export",
    "build_layer",
    "kind_for_torch",
    "kinds",
    "register",
]

#: The family files, imported (in this order) before the registry is first used.
FAMILIES = ("activations", "core", "conv", "pooling", "normalization", "recurrent", "merge", "preprocessing")

# ---------------------------------------------------------------------------
# Build context


class BuildContext:
    """What a builder needs: the layer's identity, its config and its weights.

    Attributes:
        name: the layer's name.
        cls: its Keras class name.
        config: its config dict.
        file: the manifest file name, for errors.
    """

    def __init__(self, name: str, cls: str, config: dict[str, Any], get: Callable[[str], np.ndarray | None], file: str):
        self.name = name
        self.cls = cls
        self.config = config
        self._get = get
        self.file = file

    @property
    def where(self) -> str:
        """The error field naming this layer: ``layer 'name' (Class)``."""
        return f"layer {self.name!r} ({self.cls})"

    def fail(self, option: str, reason: str) -> TfjsFormatError:
        """An error about one option (``option 'key' <reason>``); the caller raises it."""
        return TfjsFormatError(f"option {option!r} {reason}", file=self.file, field=self.where)

    def opt(self, key: str, default: Any = None) -> Any:
        """The config's value for ``key`` (``default`` when absent)."""
        return self.config.get(key, default)

    def only(self, key: str, allowed: Sequence[Any], default: Any = None) -> Any:
        """The option's value, or an error when it is not one of ``allowed``.

        Raises:
            TfjsFormatError: the value is not in ``allowed``.
        """
        value = self.config.get(key, default)
        if value not in allowed:
            shown = ", ".join(repr(a) for a in allowed)
            raise self.fail(key, f"= {value!r} is not supported by tfjs_codec.torch (supported: {shown})")
        return value

    def activation(self, key: str = "activation", default: str = "linear") -> ActivationFn:
        """The activation function an option names (``None`` is linear).

        Raises:
            TfjsFormatError: an activation tfjs_codec.torch does not know.
        """
        value = self.config.get(key, default)
        if value is None:
            value = "linear"
        if isinstance(value, dict):  # {"class_name": ..., "config": ...} forms
            value = value.get("class_name") or value.get("config", {}).get("name")
        fn = ACTIVATIONS.get(value) if isinstance(value, str) else None
        if fn is None:
            raise self.fail(key, f"= {value!r} is not a supported activation")
        return fn

    def ints(self, key: str, rank: int, default: Any = 1) -> tuple[int, ...]:
        """An int-or-tuple option (``strides``, ``pool_size``) as ``rank`` ints.

        Raises:
            TfjsFormatError: a tuple of the wrong length.
        """
        value = self.config.get(key, default)
        if value is None:
            value = default
        if isinstance(value, (int, float)):
            return (int(value),) * rank
        value = tuple(int(v) for v in value)
        if len(value) != rank:
            raise self.fail(key, f"= {list(value)!r} should have {rank} entries")
        return value

    def weight(self, var: str) -> np.ndarray:
        """The layer's weight ``var`` (``kernel``, ``bias``...) as float32.

        Raises:
            TfjsFormatError: the manifest has no such weight for this layer.
        """
        array = self._get(var)
        if array is None:
            raise TfjsFormatError(f"has no weight {var!r} in the manifest", file=self.file, field=self.where)
        return np.asarray(array, dtype=np.float32)

    def maybe(self, var: str, present: bool) -> np.ndarray | None:
        """:meth:`weight` when ``present`` (``use_bias``, ``scale``...), else None."""
        return self.weight(var) if present else None

    def channels_last(self) -> None:
        """Refuse ``data_format: channels_first``."""
        self.only("data_format", ("channels_last", None))


# ---------------------------------------------------------------------------
# Shared helpers: parameters and layouts


def param(array: np.ndarray) -> nn.Parameter:
    """A float32 parameter holding a C-contiguous copy of ``array``."""
    return nn.Parameter(torch.from_numpy(np.array(array, dtype=np.float32, order="C", copy=True)))


def maybe_param(array: np.ndarray | None) -> nn.Parameter | None:
    """:func:`param`, or None for None."""
    return None if array is None else param(array)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A tensor's value as numpy (detached, on the CPU)."""
    return t.detach().cpu().numpy()


def to_cf(x: torch.Tensor) -> torch.Tensor:
    """Channels-last (N, ..., C) -> channels-first (N, C, ...)."""
    return x.movedim(-1, 1)


def to_cl(x: torch.Tensor) -> torch.Tensor:
    """Channels-first (N, C, ...) -> channels-last (N, ..., C)."""
    return x.movedim(1, -1)


def same_pad(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding of one axis, (before, after): the odd one goes at the end.

    The one copy of this rule for layers, graph ops and the exporter.
    """
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def same_pads(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int]) -> list[int]:
    """F.pad arguments (last dim first) for TensorFlow's "same" padding (extra at the end)."""
    pads = [same_pad(n, k, s, d) for n, k, s, d in zip(sizes, kernel, strides, dilation, strict=False)]
    flat: list[int] = []
    for before, after in reversed(pads):
        flat += [before, after]
    return flat


# ---------------------------------------------------------------------------
# Base classes


class TfjsLayer(nn.Module):
    """A layer of a tfjs / Keras model; knows its tfjs weight names and layouts.

    Subclasses convert their tfjs weights to torch layouts when built and back in
    :meth:`export_tfjs`; ``forward`` takes and returns channels-last tensors.
    """

    #: tfjs variable names (``kernel``, ``bias``, ...) this layer holds, set per instance.
    tfjs_vars: tuple[str, ...] = ()
    #: The Keras config the layer was built from (set by :func:`build_layer`).
    tfjs_config: dict[str, Any] | None = None

    def __init__(self, name: str, class_name: str) -> None:
        super().__init__()
        self.tfjs_name = name
        self.tfjs_class = class_name

    def export_tfjs(self) -> dict[str, np.ndarray]:
        """var -> its current value in the tfjs layout (float32)."""
        return {}

    def extra_repr(self) -> str:
        return f"{self.tfjs_class} {self.tfjs_name!r}"


class Lambda(TfjsLayer):
    """A weightless layer computing ``fn(*inputs)``.

    ``fn`` must be a module-level function (or a ``functools.partial`` of one) so
    that ``torch.save`` of a whole module pickles it: never a lambda.
    """

    def __init__(self, name: str, cls: str, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__(name, cls)
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


# ---------------------------------------------------------------------------
# The registry


#: Builds the torch module of one layer.
Builder = Callable[[BuildContext], TfjsLayer]


@dataclass
class ExportedLayer:
    """One torch module as a Keras layer: what an export function returns.

    Attributes:
        class_name: the Keras class name (``Dense``).
        config: the layer's Keras config (without ``name``, set by the exporter).
        weights: tfjs variable name -> float32 array in the tfjs layout, in
            manifest order.
    """

    class_name: str
    config: dict[str, Any]
    weights: dict[str, np.ndarray] = field(default_factory=dict)


#: Exports one call of a torch module: ``fn(exporter, call) -> value`` (see
#: :mod:`tfjs_codec.torch.exporter`): it adds the Keras layer(s) computing the call
#: (``call.emit(ExportedLayer(...), inputs)``) and returns the output's graph value,
#: or raises ``call.fail(reason)`` for options no tfjs layer can express.
ExportFn = Callable[..., Any]


@dataclass
class LayerKind:
    """One Keras class in both directions.

    Attributes:
        class_name: the Keras / tfjs-layers class name.
        family: the family file defining it (``conv``).
        build: Keras config + tfjs weights -> torch module.
        torch_types: torch module classes exported as this Keras class.
        export: one torch call -> Keras layer(s) (see :data:`ExportFn`), or None when not exportable.
    """

    class_name: str
    family: str
    build: Builder
    torch_types: tuple[type[nn.Module], ...] = ()
    export: ExportFn | None = None


#: Keras class name -> its entry. Filled by the family files (see :func:`kinds`).
REGISTRY: dict[str, LayerKind] = {}

_loaded = False


def _family(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__module__", "?")).rsplit(".", 1)[-1]


def register(
    *class_names: str, torch_types: tuple[type[nn.Module], ...] = (), export: ExportFn | None = None
) -> Callable[[Builder], Builder]:
    """Decorator: register a builder for one or more Keras class names.

    Args:
        *class_names: the Keras class names the builder serves.
        torch_types: torch module classes exported as these classes (export half).
        export: the export function (export half).

    Returns:
        The decorator, which returns the builder unchanged.

    Raises:
        ValueError: a class name or torch type registered twice.
    """
    if not class_names:
        raise ValueError("register needs at least one Keras class name")

    def deco(build: Builder) -> Builder:
        for name in class_names:
            if name in REGISTRY:
                raise ValueError(f"Keras class {name!r} is registered twice ({REGISTRY[name].family}, {_family(build)})")
            REGISTRY[name] = LayerKind(name, _family(build), build)
            if torch_types or export is not None:
                _attach(name, torch_types, export)
        return build

    return deco


def _attach(class_name: str, torch_types: tuple[type[nn.Module], ...], export: ExportFn | None) -> None:
    kind = REGISTRY.get(class_name)
    if kind is None:
        raise ValueError(f"Keras class {class_name!r} is not registered: register its builder first")
    for t in torch_types:
        for other in REGISTRY.values():
            if other is not kind and t in other.torch_types:
                raise ValueError(f"torch type {t.__name__} is exported by both {other.class_name!r} and {class_name!r}")
    kind.torch_types = tuple(dict.fromkeys(kind.torch_types + tuple(torch_types)))
    if export is not None:
        if kind.export is not None and kind.export is not export:
            raise ValueError(f"Keras class {class_name!r} already has an export function")
        kind.export = export


def attach_export(class_name: str, *torch_types: type[nn.Module]) -> Callable[[ExportFn], ExportFn]:
    """Decorator: the export half of a registered class (torch module -> Keras layer).

    Args:
        class_name: the Keras class the function exports to (registered already).
        *torch_types: the torch module classes it exports.

    Returns:
        The decorator, which returns the export function unchanged.

    Raises:
        ValueError: the class is not registered, already has an export function,
            or a torch type is claimed by another class.
    """

    def deco(fn: ExportFn) -> ExportFn:
        _attach(class_name, tuple(torch_types), fn)
        return fn

    return deco


def kinds() -> dict[str, LayerKind]:
    """The registry, with every family file imported (Keras class name -> entry)."""
    global _loaded
    if not _loaded:
        for family in FAMILIES:
            importlib.import_module(f"{__package__}.{family}")
        _loaded = True
    return REGISTRY


def kind_for_torch(module: nn.Module | type[nn.Module]) -> LayerKind | None:
    """The entry exporting a torch module (by its class or the nearest base class), or None."""
    cls = module if isinstance(module, type) else type(module)
    by_type = {t: k for k in kinds().values() for t in k.torch_types}
    for base in cls.__mro__:
        if base in by_type:
            return by_type[base]
    return None


def iter_families() -> Iterator[tuple[str, list[str]]]:
    """(family, its Keras class names in registration order), for documentation."""
    table = kinds()
    for family in FAMILIES:
        yield family, [k.class_name for k in table.values() if k.family == family]


def build_layer(name: str, cls: str, config: dict[str, Any], get: Callable[[str], np.ndarray | None], *, file: str) -> TfjsLayer:
    """Build the torch module of one layer.

    Args:
        name: the layer's name.
        cls: its class name (``Dense``, ``Conv2D``, ...).
        config: its config.
        get: var name (``kernel``) -> the decoded array, or None when absent.
        file: the manifest file name, for errors.

    Returns:
        The layer module, weights loaded.

    Raises:
        TfjsFormatError: an unsupported class or option, or a missing weight;
            the message names the layer, its class and the option.
    """
    kind = kinds().get(cls)
    if kind is None:
        raise TfjsFormatError("layer class is not supported by tfjs_codec.torch", file=file, field=f"layer {name!r} ({cls})")
    layer = kind.build(BuildContext(name, cls, config, get, file))
    layer.tfjs_config = dict(config)  # what tfjs_codec.torch.export writes back for this layer
    return layer
