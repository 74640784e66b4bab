"""Quantize and dequantize weights exactly as the reference implementations do.

Dequantization follows tfjs-core 4.22 ``decodeWeights`` (the browser), bit for bit:

- uint8/uint16 to float32: ``q * scale + min`` in double precision, rounded once
  to float32.
- uint8/uint16 to int32: JavaScript ``Math.round`` of the same double (ties
  toward +infinity), converted like an Int32Array store (modulo 2**32).
- float16 to float32: exact widening.

Decoding is one gather per output element from a table holding the decoded
value of every code, each entry computed with the double expression above, so
the table is exact by construction: 256 entries for small uint8 weights, else
65536 entries of code *pairs* (the uint8 codes read two at a time as one
uint16, each entry the two decoded 4-byte values: one 8-byte gather per two
elements); 65536 entries for uint16 (small weights evaluate the expression per
element instead of building the table); one shared 65536-entry table for
float16 (about twice as fast as numpy's float16 cast). Gathers run in
cache-sized pieces straight into the output array; an output of
:data:`PARALLEL_MIN_BYTES` or more is cut at huge-page boundaries into ranges
gathered by several threads (:mod:`tfjs_codec.parallel`), each the same numpy
call as in one thread, so the result does not depend on the thread count.

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
Two shortcuts give the same bytes with less work, decided by the value range
that the parameters need anyway: a constant tensor is all zero codes (no
arithmetic), and the clip is skipped when it provably changes no code (the
code expression is monotonic, so it suffices that the smallest and largest
values get the codes of the clip bounds). Data are processed in bounded chunks
(the float64 scratch is cache-sized): no temporary holds the whole tensor.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .dtypes import DTYPES
from .errors import TfjsFormatError, TfjsFormatWarning
from .parallel import run_split

__all__ = ["quantize", "dequantize", "affine_parameters", "iter_quantized", "affine_decode", "float16_to_float32", "FLOAT16_MAX"]

#: Elements per chunk yielded by :func:`iter_quantized`.
CHUNK_ELEMENTS = 1 << 20

#: Elements per step of the quantization arithmetic: a cache-sized float64 scratch (512 KiB).
ARITH_CHUNK = 1 << 16

#: Elements per step when scanning for the value range (min and max of a piece read once from memory).
RANGE_CHUNK = 1 << 17

#: Decoded outputs of at least this many bytes are gathered in ranges split over
#: threads (:mod:`tfjs_codec.parallel`), each range at least half of it; so are the
#: range scan of data this large and the quantization of each chunk.
PARALLEL_MIN_BYTES = 1 << 20

#: Transparent huge page size (x86-64, arm64 with 4 KiB pages): where a split decode cuts its output.
HUGE_PAGE = 2 << 20

#: Fewest elements per range when the quantization arithmetic of a chunk is split.
ARITH_MIN_PART = 1 << 18

#: Largest finite float16.
FLOAT16_MAX = 65504.0

#: Smallest magnitude that a float32 to float16 cast turns into infinity (65504 + half a step).
_FLOAT16_OVERFLOW = 65520.0

_AFFINE = {"uint8": 255, "uint16": 65535}

_F64 = np.dtype(np.float64)


class QuantizationMeta(dict[str, Any]):
    """The manifest ``quantization`` object, remembering the value range it was made from.

    A plain ``dict`` to everything that reads it (JSON, comparisons); the extra
    :attr:`value_range` spares :func:`iter_quantized` a second scan of the data.

    Attributes:
        value_range: ``(min, max)`` of the data as floats, or None (float16).
    """

    value_range: tuple[float, float] | None = None


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
    """``(min, max)`` of ``data`` as floats; NaN when it holds a NaN.

    NaN propagates through min/max and an infinity shows in one of them: finite
    min and max mean finite data, without a pass of its own. Contiguous data are
    scanned in pieces so that ``max`` reads what ``min`` just brought into cache.
    """
    if not data.flags.c_contiguous or data.size <= RANGE_CHUNK:
        return float(np.float64(data.min())), float(np.float64(data.max()))
    flat = data.reshape(-1)
    count = -(-flat.size // RANGE_CHUNK)
    lows = np.empty(count, dtype=data.dtype)
    highs = np.empty(count, dtype=data.dtype)

    def pieces(first: int, stop: int) -> None:  # pieces [first, stop), each in one thread
        for i in range(first, stop):
            piece = flat[i * RANGE_CHUNK : (i + 1) * RANGE_CHUNK]
            lows[i] = piece.min()
            highs[i] = piece.max()

    # the same pieces in any number of threads, combined in the same order: the same result
    run_split(pieces, count, grain=1, min_part=max(1, PARALLEL_MIN_BYTES // (2 * RANGE_CHUNK * data.itemsize)))
    return float(np.float64(lows.min())), float(np.float64(highs.max()))


def _affine_from_range(lo: float, hi: float, qdtype: str) -> dict[str, float]:
    qmax = _AFFINE[qdtype]
    if lo == hi:
        return {"min": lo, "scale": 1.0}
    scale = (hi - lo) / qmax
    if lo <= 0 <= hi:
        zero_point = float(np.round((0 - lo) / scale))
        lo = -zero_point * scale
    return {"min": lo, "scale": scale}


def _code(value: float, lo: float, scale: float) -> float:
    """The unclipped code of one value: the reference's float64 expression."""
    return float(np.rint((np.float64(value) - np.float64(lo)) / np.float64(scale)))


def _clip_bounds(value_range: tuple[float, float], lo: float, scale: float, qdtype: str) -> tuple[float, float]:
    """The reference's clip range: the nudged ``[min, qmax * scale + min]``, or the data's own range."""
    vmin, vmax = value_range
    if vmin <= 0 <= vmax:
        return lo, _AFFINE[qdtype] * scale + lo
    return vmin, vmax


def _clip_needed(value_range: tuple[float, float], bounds: tuple[float, float], scale: float) -> bool:
    """Whether clipping to ``bounds`` before the arithmetic can change a code.

    ``x -> rint((x - min) / scale)`` is monotonic in float64, so a value below
    the lower bound gets a code between that of the data's minimum and that of
    the bound itself (which the clip gives it), and likewise above the upper
    bound: when those codes are equal the clip changes nothing.
    """
    (vmin, vmax), (lo, hi) = value_range, bounds
    if vmin < lo and _code(vmin, lo, scale) != _code(lo, lo, scale):
        return True
    if vmax > hi and _code(vmax, lo, scale) != _code(hi, lo, scale):
        return True
    return False


def _affine_codes(chunk: np.ndarray, bounds: tuple[float, float], scale: float, clip: bool, out: np.ndarray) -> None:
    """Write the codes of ``chunk`` (1-D) into ``out``; a large chunk in ranges split over threads."""
    if chunk.nbytes < PARALLEL_MIN_BYTES:
        _affine_steps(chunk, bounds, scale, clip, out)
        return

    def part(start: int, stop: int) -> None:
        _affine_steps(chunk[start:stop], bounds, scale, clip, out[start:stop])

    run_split(part, chunk.size, grain=ARITH_CHUNK, min_part=ARITH_MIN_PART)


def _affine_steps(chunk: np.ndarray, bounds: tuple[float, float], scale: float, clip: bool, out: np.ndarray) -> None:
    """Write the codes of ``chunk`` (1-D) into ``out``, in cache-sized steps."""
    lo, hi = bounds
    scratch = np.empty(min(ARITH_CHUNK, chunk.size), dtype=_F64)
    for start in range(0, chunk.size, ARITH_CHUNK):
        x = chunk[start : start + ARITH_CHUNK]
        t = scratch[: x.size]
        if clip:
            np.copyto(t, x)
            np.clip(t, lo, hi, out=t)
            np.subtract(t, lo, out=t)
        else:
            np.subtract(x, lo, out=t, dtype=_F64)  # the float64 cast rides on the subtraction
        np.divide(t, scale, out=t)
        # rint, then the unsafe store of small non-negative integers: the reference's round().astype()
        np.rint(t, out=out[start : start + x.size], casting="unsafe")


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


def quantization_metadata(data: np.ndarray, qdtype: str) -> QuantizationMeta:
    """The manifest ``quantization`` object tensorflowjs writes for ``data``.

    Key order is the writer's: dtype, min, scale, original_dtype.

    Args:
        data: float32 (or, for uint8/uint16, int32) values.
        qdtype: ``"uint8"``, ``"uint16"`` or ``"float16"``.

    Returns:
        The object, a dict that also remembers the data's value range.

    Raises:
        ValueError: as :func:`quantize`.
    """
    value_range = _check_quantizable(data, qdtype)
    meta = QuantizationMeta(dtype=qdtype)
    if value_range is not None:
        meta.update(_affine_from_range(*value_range, qdtype))
        meta.value_range = value_range
    meta["original_dtype"] = "float32" if data.dtype.kind == "f" else "int32"
    return meta


#: Read-only zeros: the codes of a constant tensor, a chunk at a time.
_ZEROS: dict[str, np.ndarray] = {}


def _zero_codes(qdtype: str, count: int) -> np.ndarray:
    zeros = _ZEROS.get(qdtype)
    if zeros is None:
        zeros = np.zeros(CHUNK_ELEMENTS, dtype=DTYPES[qdtype].numpy)
        zeros.flags.writeable = False
        _ZEROS[qdtype] = zeros
    return zeros[:count]


def iter_quantized(data: np.ndarray, meta: Mapping[str, Any]) -> Iterator[np.ndarray]:
    """Yield the quantized codes of ``data`` in row-major chunks, little-endian.

    A constant tensor yields read-only chunks of zeros without any arithmetic;
    otherwise each chunk is a new array.

    Args:
        data: the values; ``meta`` must come from :func:`quantization_metadata` on them
            (a plain dict with the same keys works too, at the cost of one more
            scan of ``data`` for its value range).
        meta: the quantization object.
    """
    qdtype = meta["dtype"]
    flat = np.ascontiguousarray(data).reshape(-1)
    if qdtype == "float16":
        for start in range(0, flat.size, CHUNK_ELEMENTS):
            chunk = flat[start : start + CHUNK_ELEMENTS]
            halves = np.empty(chunk.size, dtype=DTYPES["float16"].numpy)
            _to_float16(chunk, halves)
            yield halves
        return
    value_range = getattr(meta, "value_range", None) or _value_range(flat)
    lo, scale = float(meta["min"]), float(meta["scale"])
    if value_range[0] == value_range[1]:
        # the reference's shortcut: every code 0 (scale 1.0, min the value)
        for start in range(0, flat.size, CHUNK_ELEMENTS):
            yield _zero_codes(qdtype, min(CHUNK_ELEMENTS, flat.size - start))
        return
    bounds = _clip_bounds(value_range, lo, scale, qdtype)
    clip = _clip_needed(value_range, bounds, scale)
    for start in range(0, flat.size, CHUNK_ELEMENTS):
        chunk = flat[start : start + CHUNK_ELEMENTS]
        codes = np.empty(chunk.size, dtype=DTYPES[qdtype].numpy)
        _affine_codes(chunk, bounds, scale, clip, codes)
        yield codes


def _to_float16(chunk: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = chunk.astype(float16)`` (round to nearest even); a large chunk split over threads."""

    def part(start: int, stop: int) -> None:
        with np.errstate(over="ignore"):  # numpy's error state is per thread: set in each
            np.copyto(out[start:stop], chunk[start:stop], casting="unsafe")

    if chunk.nbytes < PARALLEL_MIN_BYTES:
        part(0, chunk.size)
    else:
        run_split(part, chunk.size, grain=ARITH_CHUNK, min_part=ARITH_MIN_PART)


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
    """Warn when float16 quantization turns finite values into +-Inf.

    The value range answers without counting when every value is finite and
    rounds to a finite float16 (the common case); otherwise the overflowing
    values are counted.
    """
    if data.size == 0:
        return
    lo, hi = _value_range(data)
    if -_FLOAT16_OVERFLOW < lo and hi < _FLOAT16_OVERFLOW:  # False for NaN
        return
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


#: Elements per gather step: the intp index conversion numpy makes stays in cache.
DECODE_CHUNK = 1 << 15

#: Smallest weight (elements) decoded through a 65536-entry table; smaller
#: weights use the 256-entry table (uint8) or the expression per element (uint16).
BIG_TABLE_MIN = 1 << 16

_FLOAT16_TABLE: np.ndarray | None = None


def _gather(table: np.ndarray, index: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = table[index[i]]`` for 1-D arrays, every index valid; large outputs split over threads."""
    if out.nbytes < PARALLEL_MIN_BYTES:
        _gather_steps(table, index, out)
        return

    def part(start: int, stop: int) -> None:
        _gather_steps(table, index[start:stop], out[start:stop])

    # ranges start at huge-page boundaries of the output: two threads first-touching
    # the same 2 MiB page both allocate and zero one, and one of them is thrown away
    grain = HUGE_PAGE // out.itemsize
    phase = (-out.ctypes.data % HUGE_PAGE) // out.itemsize
    run_split(part, index.size, grain=grain, min_part=PARALLEL_MIN_BYTES // (2 * out.itemsize), phase=phase)


def _gather_steps(table: np.ndarray, index: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = table[index[i]]`` for 1-D arrays, every index valid, in cache-sized steps."""
    # take converts its indices to intp: done here into one cache-sized scratch, not a new
    # allocation per step; every index is valid, so "clip" changes nothing and lets take
    # write into out directly; cache-sized pieces run ~2x faster than one take over the weight
    scratch = np.empty(min(DECODE_CHUNK, index.size), dtype=np.intp)
    for start in range(0, index.size, DECODE_CHUNK):
        piece = index[start : start + DECODE_CHUNK]
        step = scratch[: piece.size]
        np.copyto(step, piece)
        np.take(table, step, out=out[start : start + DECODE_CHUNK], mode="clip")


def _output(codes: np.ndarray, dtype: np.dtype, out: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(result, flat)``: the array to return (``out`` or a new one) and its 1-D view."""
    if out is None:
        out = np.empty(codes.shape, dtype=dtype)
    if out.dtype != dtype or out.size != codes.size or not out.flags.c_contiguous:
        raise ValueError(f"out must be a contiguous {dtype} array of {codes.size} elements")
    return out, out.reshape(-1)


def float16_to_float32(codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Exact widening of float16 codes (NaN payloads kept), through a 65536-entry
    table: a gather is about twice as fast as numpy's float16 cast.

    Args:
        codes: float16 (or uint16 bit patterns) array.
        out: a contiguous float32 array of ``codes``' size to fill (a new array when None).

    Returns:
        ``out``, or a new float32 array of ``codes``' shape.
    """
    global _FLOAT16_TABLE
    if _FLOAT16_TABLE is None:
        bits = np.arange(1 << 16, dtype=np.uint16).view(DTYPES["float16"].numpy)
        _FLOAT16_TABLE = bits.astype(DTYPES["float32"].numpy)
    result, flat = _output(codes, DTYPES["float32"].numpy, out)
    _gather(_FLOAT16_TABLE, codes.reshape(-1).view(DTYPES["uint16"].numpy), flat)
    return result


def affine_decode(
    codes: np.ndarray, quantization: Mapping[str, Any], dtype: str, out: np.ndarray | None = None
) -> np.ndarray:
    """uint8/uint16 codes decoded as tfjs-core does (see :func:`lookup_table`).

    Every element is gathered from a table of decoded values (see the module
    docstring), so the result equals :func:`lookup_table` indexed by the codes,
    bit for bit.

    Args:
        codes: uint8 or little-endian uint16 codes, any shape.
        quantization: the manifest ``quantization`` object.
        dtype: the weight's dtype, ``"float32"`` or ``"int32"``.
        out: a contiguous array of that dtype and ``codes``' size to fill
            (a new array when None).

    Returns:
        ``out``, or a new array of ``codes``' shape.

    Raises:
        TfjsFormatError: missing or non-finite scale/min, or another dtype.
    """
    qdtype = quantization["dtype"]
    if dtype not in ("float32", "int32"):
        raise TfjsFormatError(
            f"{qdtype} quantization supports weights of type float32 or int32, not {dtype}", field="dtype"
        )
    scale, lo = affine_scale_min(quantization)
    result, flat = _output(codes, DTYPES[dtype].numpy, out)
    index = codes.reshape(-1)
    if index.size < BIG_TABLE_MIN:
        if qdtype == "uint8":
            _gather(_affine_values(np.arange(256, dtype=_F64), scale, lo, dtype), index, flat)
        else:
            flat[...] = _affine_values(index.astype(_F64), scale, lo, dtype)
    elif qdtype == "uint16":
        _gather(_affine_values(np.arange(1 << 16, dtype=_F64), scale, lo, dtype), index, flat)
    else:
        _gather_uint8_pairs(_affine_values(np.arange(256, dtype=_F64), scale, lo, dtype), index, flat)
    return result


def _gather_uint8_pairs(values: np.ndarray, codes: np.ndarray, out: np.ndarray) -> None:
    """``out = values[codes]`` for uint8 codes, two elements per gather.

    ``values`` holds the 256 decoded 4-byte values. Entry ``c0 + 256 * c1`` of
    the pair table holds the bytes of ``values[c0]`` then ``values[c1]``: the
    codes read as little-endian uint16 index it, and one 8-byte entry fills two
    output elements.
    """
    pairs = np.empty((256, 256, 2), dtype=values.dtype)
    pairs[:, :, 0] = values[np.newaxis, :]
    pairs[:, :, 1] = values[:, np.newaxis]
    even = codes.size & ~1
    _gather(
        pairs.reshape(-1).view(np.dtype("<u8")),
        codes[:even].view(DTYPES["uint16"].numpy),
        out[:even].view(np.dtype("<u8")),
    )
    if even < codes.size:
        out[even] = values[codes[even]]


def _affine_values(codes: np.ndarray, scale: float, lo: float, dtype: str) -> np.ndarray:
    """tfjs-core's decoded value of each code: ``q * scale + min`` in double, then stored.

    ``codes`` is a new float64 array, overwritten by the doubles.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # huge scale/min: +-inf (or NaN), as in JavaScript
        np.multiply(codes, scale, out=codes)
        np.add(codes, lo, out=codes)
        if dtype == "float32":
            return codes.astype(DTYPES["float32"].numpy)
    return js_round_to_int32(codes)


def lookup_table(quantization: Mapping[str, Any], dtype: str) -> np.ndarray:
    """The decoded value of every uint8/uint16 code, as tfjs-core computes it.

    Args:
        quantization: the manifest ``quantization`` object.
        dtype: the weight's dtype, ``"float32"`` or ``"int32"``.

    Returns:
        256 or 65536 values of that dtype, indexed by code.

    Raises:
        TfjsFormatError: missing or non-finite scale/min, or another dtype.
    """
    qdtype = quantization["dtype"]
    if dtype not in ("float32", "int32"):
        raise TfjsFormatError(
            f"{qdtype} quantization supports weights of type float32 or int32, not {dtype}", field="dtype"
        )
    scale, lo = affine_scale_min(quantization)
    return _affine_values(np.arange(_AFFINE[qdtype] + 1, dtype=_F64), scale, lo, dtype)


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
    stored: np.ndarray = wrapped.astype(np.uint32).view(DTYPES["int32"].numpy.newbyteorder("=")).astype(DTYPES["int32"].numpy)
    return stored
