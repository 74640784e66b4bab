"""Decode one weight's stored bytes into an array, as tfjs-core ``decodeWeights`` does."""

from __future__ import annotations

import numpy as np

from .dtypes import DTYPES, STRING_LENGTH_DTYPE
from .errors import TfjsFormatError
from .manifest import WeightSpec
from .quantization import affine_decode, float16_to_float32

__all__ = ["decode_weight"]


def decode_weight(
    spec: WeightSpec, data: memoryview | bytes, *, file: str | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """Decode one weight's stored bytes into an array, as tfjs-core does.

    Unquantized numeric data give a zero-copy view of ``data`` (writable when
    ``data`` is); quantized and string data give new arrays.

    Args:
        spec: the weight's spec (its ``nbytes`` must equal ``len(data)``).
        data: the stored bytes.
        file: the file name for errors.
        out: for a quantized weight, a contiguous array of ``spec.shape`` and
            the weight's dtype to decode into (ignored otherwise).

    Returns:
        float32, int32, bool or complex64 arrays (little-endian), or an object
        array of ``bytes`` for strings, of shape ``spec.shape``.
    """
    q = spec.quantization
    if q is not None:
        codes = np.frombuffer(data, dtype=DTYPES[q["dtype"]].numpy, count=spec.size)
        if out is not None:
            out = out.reshape(-1)
        if q["dtype"] == "float16":
            decoded = float16_to_float32(codes, out=out)
        else:
            try:
                decoded = affine_decode(codes, q, spec.dtype, out=out)
            except TfjsFormatError as exc:
                raise TfjsFormatError(exc.reason, file=file, weight=spec.name, field=exc.field) from None
        return decoded.reshape(spec.shape)
    if spec.dtype == "string":
        return _decode_strings(spec, data)
    info = DTYPES[spec.dtype]
    if spec.size == 0:
        return np.empty(spec.shape, dtype=info.numpy)
    return np.frombuffer(data, dtype=info.numpy, count=spec.size).reshape(spec.shape)


def _decode_strings(spec: WeightSpec, data: memoryview | bytes) -> np.ndarray:
    out = np.empty(spec.size, dtype=object)
    raw = memoryview(data)
    prefix = STRING_LENGTH_DTYPE.itemsize
    pos = 0
    for i in range(spec.size):
        length = int.from_bytes(raw[pos : pos + prefix], "little")
        pos += prefix
        out[i] = bytes(raw[pos : pos + length])
        pos += length
    return out.reshape(spec.shape)
