"""tfjs_codec: read and write the TensorFlow.js weights format with numpy alone.

``model.json`` + ``*.bin`` shards, bit-exact with what tfjs-core's
``decodeWeights`` does in the browser, and quantization parameters bit-exact with
the ``tensorflowjs`` converter. The on-disk format is described in
:mod:`tfjs_codec.tfjs_format`.

    >>> import tfjs_codec as tc
    >>> with tc.load("fixtures/browser_dense") as model:        # doctest: +SKIP
    ...     kernel = model["bd_dense_1/kernel"]
    ...     tc.save("out", {**model.weights, "bd_dense_1/kernel": kernel * 0.5}, like=model)

PyTorch support lives in :mod:`tfjs_codec.torch`, imported only on request.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import TfjsFormatError, TfjsFormatWarning

if TYPE_CHECKING:
    from .manifest import WeightSpec
    from .model import Model
    from .quantization import dequantize, quantize
    from .reader import decode_weights, load
    from .repair import repair
    from .writer import encode_weights, save

__all__ = [
    "Model",
    "TfjsFormatError",
    "TfjsFormatWarning",
    "WeightSpec",
    "decode_weights",
    "dequantize",
    "encode_weights",
    "load",
    "quantize",
    "repair",
    "save",
    "__version__",
]

#: Public names imported on first use, so that ``import tfjs_codec`` costs next to nothing:
#: reading imports the reader, writing the writer, and URLs, archives, hashing and the
#: safetensors/npz files only what a call needs.
_LAZY = {
    "Model": ".model",
    "WeightSpec": ".manifest",
    "decode_weights": ".reader",
    "load": ".reader",
    "dequantize": ".quantization",
    "quantize": ".quantization",
    "encode_weights": ".writer",
    "repair": ".repair",
    "save": ".writer",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
