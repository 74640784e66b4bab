"""The one dtype table: every name the format uses, its numpy dtype and byte size.

Weight dtypes are what ``decodeWeights`` produces (the ``dtype`` of a manifest
entry); quantization dtypes are how a quantized weight is stored (the
``quantization.dtype`` field). All numpy dtypes are explicit little-endian, so
the codec works unchanged on big-endian hosts.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

__all__ = ["DType", "DTYPES", "WEIGHT_DTYPES", "QUANTIZATION_DTYPES", "dtype_info", "weight_dtype_of", "STRING_LENGTH_DTYPE"]

#: Each string element is preceded by its byte length as this type.
STRING_LENGTH_DTYPE = np.dtype("<u4")


class DType(NamedTuple):
    """One row of the dtype table.

    Attributes:
        name: the name in model.json (``"float32"``, ``"uint8"``, ...).
        numpy: the little-endian numpy dtype of one stored element
            (``object`` for strings, whose elements are ``bytes``).
        itemsize: bytes per element on disk, or None for strings (variable).
        kind: ``"weight"`` for a manifest ``dtype``, ``"quantization"`` for a
            ``quantization.dtype``.
    """

    name: str
    numpy: np.dtype
    itemsize: int | None
    kind: Literal["weight", "quantization"]


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("float32", np.dtype("<f4"), 4, "weight"),
        DType("int32", np.dtype("<i4"), 4, "weight"),
        DType("bool", np.dtype("?"), 1, "weight"),
        DType("complex64", np.dtype("<c8"), 8, "weight"),
        DType("string", np.dtype(object), None, "weight"),
        DType("uint8", np.dtype("u1"), 1, "quantization"),
        DType("uint16", np.dtype("<u2"), 2, "quantization"),
        DType("float16", np.dtype("<f2"), 2, "quantization"),
    )
}

WEIGHT_DTYPES = tuple(n for n, d in DTYPES.items() if d.kind == "weight")
QUANTIZATION_DTYPES = tuple(n for n, d in DTYPES.items() if d.kind == "quantization")


def dtype_info(name: str) -> DType:
    """Return the table row for a dtype name; KeyError when unknown."""
    return DTYPES[name]


def weight_dtype_of(array: np.ndarray) -> str | None:
    """The weight dtype name an array is stored as without any conversion, or None.

    ``str``/``bytes`` and object arrays map to ``"string"``.
    """
    kind = array.dtype.kind
    if kind in "OSU":
        return "string"
    for d in DTYPES.values():
        if (
            d.kind == "weight"
            and d.itemsize is not None
            and array.dtype.kind == d.numpy.kind
            and array.dtype.itemsize == d.numpy.itemsize
        ):
            return d.name
    return None
