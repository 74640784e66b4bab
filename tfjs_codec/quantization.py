"""Quantize and dequantize weights exactly as the reference implementations do.

Dequantization follows tfjs-core 4.22 ``decodeWeights`` (the browser), bit for bit:

- uint8/uint16 to float32: ``q * scale + min`` in double precision, rounded once
  to float32. Done here through a lookup table of 256 or 65536 entries built once
  per weight, which is exact (the same double expression per code) and fast.
- uint8/uint16 to int32: JavaScript ``Math.round`` of the same double (ties
  toward +infinity), converted like an Int32Array store (modulo 2**32).
- float16 to float32: exact widening.

Quantization follows ``tensorflowjs.quantization.quantize_weights`` 4.22 as it
runs under numpy 2, where the float32 data promote to float64 (NEP 50):

- ``min``/``max`` over the tensor, as float64. If they are equal, every code is 0,
  ``scale`` is 1.0 and ``min`` that value.
- Otherwise ``scale = (max - min) / qmax``; when ``min <= 0 <= max`` the range is
  nudged so that 0 is exactly representable (TF-Lite): ``zero_point =
  round(-min / scale)``, ``min = -zero_point * scale``, ``max = qmax * scale + min``.
- ``q = round((clip(x, min, max) - min) / scale)`` in float64, rounding half to even.
- float16: a round-to-nearest-even cast.

The float64 arithmetic is spelled out, so the bytes are the same under numpy 1.x
(where the reference itself computed in float32 and gave different uint16 codes).
Data are processed in bounded chunks: no temporary holds the whole tensor.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .dtypes import DTYPES
from .errors import TfjsFormatError, TfjsFormatWarning

__all__ = ["quantize", "dequantize", "affine_parameters", "iter_quantized", "affine_decode", "float16_to_float32", "FLOAT16_MAX"]

#: Elements per chunk when quantizing; bounds the float64 temporaries to 8 MiB.
CHUNK_ELEMENTS = 1 << 20

#: Largest finite float16.
FLOAT16_MAX = 65504.0

_AFFINE = {"uint8": 255, "uint16": 65535}


def affine_parameters(data: np.ndarray, qdtype: str) -> dict[str, float]:
    """The ``min`` and ``scale`` tensorflowjs computes for ``data``.

    Args:
        data: float32 or int32 values, finite, at least one element.
        qdtype: ``"uint8"`` or ``"uint16"``.

    Returns:
        ``{"min": nudged_min, "scale": scale}`` as Python floats.
    """
    return _affine_from_range(*_value_range(data), qdtype)


def _value_range(data: np.ndarray) -> tuple[float, float]:
    # NaN propagates through min/max and an infinity shows in one of them:
    # finite min and max mean finite data, without a pass of its own
    return float(np.float64(data.min())), float(np.float64(data.max()))


def _affine_from_range(lo: float, hi: float, qdtype: str) -> dict[str, float]:
    qmax = _AFFINE[qdtype]
    if lo == hi:
        return {"min": lo, "scale": 1.0}
    scale = (hi - lo) / qmax
    if lo <= 0 <= hi:
        zero_point = float(np.round((0 - lo) / scale))
        lo = -zero_point * scale
    return {"min": lo, "scale": scale}


def _affine_codes(chunk: np.ndarray, params: Mapping[str, float], qdtype: str) -> np.ndarray:
    # a constant tensor (scale 1.0, min = its value) comes out all zeros, as in the reference
    lo, scale = params["min"], params["scale"]
    hi = _AFFINE[qdtype] * scale + lo
    x = chunk.astype(np.float64)
    np.clip(x, lo, hi, out=x)
    x -= lo
    x /= scale
    np.round(x, out=x)
    return x.astype(DTYPES[qdtype].numpy)


def _check_quantizable(data: np.ndarray, qdtype: str) -> tuple[float, float] | None:
    """Raise ValueError unless ``data`` can be quantized to ``qdtype``; the (min, max) for affine kinds."""
    if qdtype not in _AFFINE and qdtype != "float16":
        raise ValueError(f"unknown quantization dtype {qdtype!r}; expected 'uint8', 'uint16' or 'float16'")
    if qdtype == "float16":
        if data.dtype.kind != "f" or data.dtype.itemsize != 4:
            raise ValueError(f"float16 quantization takes float32 data, not {data.dtype}")
        return None
    if not (data.dtype.kind == "f" and data.dtype.itemsize == 4) and not (
        data.dtype.kind == "i" and data.dtype.itemsize == 4
    ):
        raise ValueError(f"{qdtype} quantization takes float32 or int32 data, not {data.dtype}")
    if data.size == 0:
        raise ValueError(f"{qdtype} quantization needs at least one value")
    lo, hi = _value_range(data)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{qdtype} quantization cannot represent NaN or infinite values")
    return lo, hi


def quantization_metadata(data: np.ndarray, qdtype: str) -> dict[str, Any]:
    """The manifest ``quantization`` object tensorflowjs writes for ``data``.

    Key order is the writer's: dtype, min, scale, original_dtype.
    """
    value_range = _check_quantizable(data, qdtype)
    meta: dict[str, Any] = {"dtype": qdtype}
    if value_range is not None:
        meta.update(_affine_from_range(*value_range, qdtype))
    meta["original_dtype"] = "float32" if data.dtype.kind == "f" else "int32"
    return meta


def iter_quantized(data: np.ndarray, meta: Mapping[str, Any]) -> Iterator[np.ndarray]:
    """Yield the quantized codes of ``data`` in row-major chunks, little-endian.

    Args:
        data: the values; ``meta`` must come from :func:`quantization_metadata` on them.
        meta: the quantization object.
    """
    qdtype = meta["dtype"]
    flat = np.ascontiguousarray(data).reshape(-1)
    for start in range(0, flat.size, CHUNK_ELEMENTS):
        chunk = flat[start : start + CHUNK_ELEMENTS]
        if qdtype == "float16":
            with np.errstate(over="ignore"):
                yield chunk.astype(DTYPES["float16"].numpy)
        else:
            yield _affine_codes(chunk, meta, qdtype)


def quantize(array: Any, dtype: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Quantize an array as ``tensorflowjs.quantization.quantize_weights`` 4.22.

    Args:
        array: float32 values (int32 too for uint8/uint16); array-likes are
            converted with ``np.asarray`` and must already have such a dtype.
        dtype: ``"uint8"``, ``"uint16"`` or ``"float16"``.

    Returns:
        ``(q, quantization)``: the codes, of the array's shape, and the manifest
        ``quantization`` object (``dtype``, ``min`` and ``scale`` for the affine
        kinds, ``original_dtype``).

    Raises:
        ValueError: unknown dtype, unsupported input dtype, an empty array or
            NaN/Inf values under uint8/uint16 (affine quantization cannot
            represent them; the reference writes garbage). float16 keeps NaN and
            Inf, and turns values beyond +-65504 into +-Inf with a warning.
    """
    data = np.asarray(array)
    meta = quantization_metadata(data, dtype)
    if dtype == "float16":
        _warn_float16_overflow(data, None)
    out = np.empty(data.shape, dtype=DTYPES[dtype].numpy)
    flat = out.reshape(-1)
    pos = 0
    for codes in iter_quantized(data, meta):
        flat[pos : pos + codes.size] = codes
        pos += codes.size
    return out, meta


def _warn_float16_overflow(data: np.ndarray, name: str | None) -> None:
    flat = data.reshape(-1)
    count = 0
    for start in range(0, flat.size, CHUNK_ELEMENTS):
        chunk = flat[start : start + CHUNK_ELEMENTS]
        with np.errstate(over="ignore", invalid="ignore"):
            overflow = np.isinf(chunk.astype(np.float16)) & np.isfinite(chunk)
        count += int(np.count_nonzero(overflow))
    if count:
        who = f"weight {name!r}: " if name else ""
        warnings.warn(
            f"{who}{count} value(s) beyond the float16 range (+-65504) become +-Inf",
            TfjsFormatWarning,
            stacklevel=3,
        )


def dequantize(q: Any, quantization: Mapping[str, Any], dtype: str = "float32") -> np.ndarray:
    """Decode quantized codes exactly as tfjs-core 4.22 ``decodeWeights``.

    Args:
        q: the stored codes (uint8, uint16 or float16 array; array-likes accepted).
        quantization: the manifest ``quantization`` object (``dtype``, and
            ``scale`` and ``min`` for uint8/uint16).
        dtype: the weight's ``dtype``: ``"float32"``, or ``"int32"`` for uint8/uint16.

    Returns:
        A new float32 or int32 array of q's shape.

    Raises:
        TfjsFormatError: unknown quantization dtype, missing or non-finite
            scale/min, or a dtype the quantization kind does not support.
    """
    qdtype = quantization.get("dtype")
    codes = np.asarray(q)
    if qdtype == "float16":
        if dtype != "float32":
            raise TfjsFormatError(f"float16 quantization only supports weights of type float32, not {dtype}", field="dtype")
        return float16_to_float32(codes.astype(DTYPES["float16"].numpy, copy=False))
    if qdtype not in _AFFINE:
        raise TfjsFormatError(
            f"unknown quantization dtype {qdtype!r}; supported: 'uint8', 'uint16', 'float16'",
            field="quantization.dtype",
        )
    return affine_decode(codes.astype(DTYPES[qdtype].numpy, copy=False), quantization, dtype)


#: Elements per step when decoding uint8/uint16 to float32: a cache-sized float64 scratch.
DECODE_CHUNK = 1 << 15

_FLOAT16_TABLE: np.ndarray | None = None


def float16_to_float32(codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Exact widening of float16 codes (NaN payloads kept), through a 65536-entry
    table: a gather is about twice as fast as numpy's float16 cast.

    ``out``, when given, is a float32 array of ``codes``' shape to fill.
    """
    global _FLOAT16_TABLE
    if _FLOAT16_TABLE is None:
        bits = np.arange(1 << 16, dtype=np.uint16).view(DTYPES["float16"].numpy)
        _FLOAT16_TABLE = bits.astype(DTYPES["float32"].numpy)
    index = codes.view(DTYPES["uint16"].numpy).reshape(-1)
    if out is None:
        out = np.empty(codes.shape, dtype=DTYPES["float32"].numpy)
    flat = out.reshape(-1)
    # every uint16 is a valid index: "clip" changes nothing and lets take write into out directly;
    # cache-sized pieces run ~2x faster than one take over the whole weight
    for start in range(0, index.size, DECODE_CHUNK):
        np.take(_FLOAT16_TABLE, index[start : start + DECODE_CHUNK], out=flat[start : start + DECODE_CHUNK], mode="clip")
    return out


def affine_decode(
    codes: np.ndarray, quantization: Mapping[str, Any], dtype: str, out: np.ndarray | None = None
) -> np.ndarray:
    """uint8/uint16 codes decoded as tfjs-core does (see :func:`lookup_table`).

    For float32 the same double expression ``q * scale + min`` is evaluated per
    element in cache-sized chunks, which gives the table's values bit for bit
    without a gather (the gather is the slow part of a table lookup). ``out``,
    when given, is a contiguous float32 array of ``codes``' shape to fill
    (float32 only).
    """
    if dtype != "float32":
        return lookup_table(quantization, dtype)[codes]
    scale, lo = affine_scale_min(quantization)
    flat = codes.reshape(-1)
    if out is None:
        out = np.empty(codes.shape, dtype=DTYPES["float32"].numpy)
    result, out = out, out.reshape(-1)
    scratch = np.empty(min(DECODE_CHUNK, flat.size), dtype=np.float64)
    with np.errstate(over="ignore"):  # huge scale/min: +-inf, as in JavaScript
        for start in range(0, flat.size, DECODE_CHUNK):
            chunk = flat[start : start + DECODE_CHUNK]
            t = scratch[: chunk.size]
            np.multiply(chunk, scale, out=t)
            np.add(t, lo, out=t)
            out[start : start + chunk.size] = t
    return result


def lookup_table(quantization: Mapping[str, Any], dtype: str) -> np.ndarray:
    """The decoded value of every uint8/uint16 code, as tfjs-core computes it."""
    qdtype = quantization["dtype"]
    scale, lo = affine_scale_min(quantization)
    codes = np.arange(_AFFINE[qdtype] + 1, dtype=np.float64)
    with np.errstate(over="ignore"):  # huge scale/min: +-inf, as in JavaScript
        values = codes * scale + lo
    if dtype == "float32":
        with np.errstate(over="ignore"):
            return values.astype(DTYPES["float32"].numpy)
    if dtype == "int32":
        return js_round_to_int32(values)
    raise TfjsFormatError(
        f"{qdtype} quantization supports weights of type float32 or int32, not {dtype}", field="dtype"
    )


def affine_scale_min(quantization: Mapping[str, Any]) -> tuple[float, float]:
    """Validated ``(scale, min)`` of an affine quantization object."""
    values = []
    for key in ("scale", "min"):
        if key not in quantization:
            raise TfjsFormatError(
                f"{quantization.get('dtype')} quantization needs both 'min' and 'scale'; {key!r} is missing",
                field=f"quantization.{key}",
            )
        value = quantization[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TfjsFormatError(f"must be a number, got {value!r}", field=f"quantization.{key}")
        if not math.isfinite(value):
            raise TfjsFormatError(f"must be finite, got {value!r}", field=f"quantization.{key}")
        values.append(float(value))
    return values[0], values[1]


def js_round_to_int32(values: np.ndarray) -> np.ndarray:
    """``new Int32Array([Math.round(v)])`` for each double ``v``.

    ``Math.round`` rounds half toward +infinity; the Int32Array store wraps modulo
    2**32 (ToInt32). NaN and infinities store 0.
    """
    v = np.asarray(values, dtype=np.float64)
    floor = np.floor(v)
    with np.errstate(invalid="ignore"):
        rounded = floor + (v - floor >= 0.5)
    rounded = np.where(np.isfinite(rounded), rounded, 0.0)
    wrapped = np.fmod(rounded, 4294967296.0).astype(np.int64) & 0xFFFFFFFF
    return wrapped.astype(np.uint32).view(DTYPES["int32"].numpy.newbyteorder("=")).astype(DTYPES["int32"].numpy)
