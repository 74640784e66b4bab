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

from ._version import __version__
from .errors import TfjsFormatError, TfjsFormatWarning
from .manifest import WeightSpec
from .model import Model
from .quantization import dequantize, quantize
from .reader import decode_weights, load
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
    "save",
    "__version__",
]
