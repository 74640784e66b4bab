"""The safetensors format, read (mapped, zero-copy) and written with numpy alone.

Layout: an unsigned 64-bit little-endian header length N, N bytes of a JSON
object ``{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
"__metadata__": {str: str}}`` (padded with spaces), then the tensors' raw
little-endian bytes, offsets relative to the end of the header.
"""

from __future__ import annotations

import json
import math
import mmap
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_file
from ..errors import TfjsFormatError

__all__ = ["read_safetensors", "write_safetensors", "SAFETENSORS_DTYPES"]

#: safetensors dtype code -> little-endian numpy dtype.
SAFETENSORS_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F64": np.dtype("<f8"),
    "C64": np.dtype("<c8"),
}

#: Refuse headers larger than this (the reference implementation's own limit).
MAX_HEADER = 100_000_000


def _code_of(name: str, array: np.ndarray) -> str:
    for code, dt in SAFETENSORS_DTYPES.items():
        if dt.kind == array.dtype.kind and dt.itemsize == array.dtype.itemsize:
            return code
    raise TfjsFormatError(f"dtype {array.dtype} cannot be stored in safetensors", file=None, weight=name, field="dtype")


class SafetensorsFile(Mapping[str, np.ndarray]):
    """A mapped safetensors file: name -> zero-copy, writable (copy-on-write) array."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        file = self.path.name
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise TfjsFormatError(f"too short for a safetensors header: {size} bytes", file=file)
            n = int.from_bytes(f.read(8), "little")
            if n > MAX_HEADER or 8 + n > size:
                raise TfjsFormatError(f"header length {n} does not fit the file's {size} bytes", file=file, field="header")
            try:
                header = json.loads(f.read(n).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise TfjsFormatError(f"malformed header: {exc}", file=file, field="header") from None
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if size else None
        if not isinstance(header, dict):
            raise TfjsFormatError("header is not a JSON object", file=file, field="header")
        self.metadata = header.pop("__metadata__", None) or {}
        base = 8 + n
        self._entries: dict[str, tuple[np.dtype, tuple[int, ...], int]] = {}
        for name, info in header.items():
            try:
                dtype = SAFETENSORS_DTYPES[info["dtype"]]
                shape = tuple(int(d) for d in info["shape"])
                begin, end = (int(x) for x in info["data_offsets"])
            except (KeyError, TypeError, ValueError):
                raise TfjsFormatError(f"malformed entry {info!r}", file=file, weight=name, field="header") from None
            if any(d < 0 for d in shape) or end - begin != math.prod(shape) * dtype.itemsize or begin < 0 or base + end > size:
                raise TfjsFormatError(
                    f"data_offsets {[begin, end]} do not fit dtype {info['dtype']} shape {list(shape)} in {size - base} "
                    "data bytes",
                    file=file,
                    weight=name,
                    field="data_offsets",
                )
            self._entries[name] = (dtype, shape, base + begin)

    def __getitem__(self, name: str) -> np.ndarray:
        dtype, shape, offset = self._entries[name]
        count = math.prod(shape)
        if count == 0:
            return np.empty(shape, dtype=dtype)
        return np.frombuffer(self._map, dtype=dtype, count=count, offset=offset).reshape(shape)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def read_safetensors(path: str | os.PathLike[str]) -> SafetensorsFile:
    """Open a safetensors file; arrays are views of a copy-on-write mapping.

    Raises:
        TfjsFormatError: a malformed header or offsets outside the file.
    """
    return SafetensorsFile(path)


def write_safetensors(
    path: str | os.PathLike[str],
    weights: Mapping[str, Any],
    *,
    metadata: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Write name -> array as safetensors, streaming, atomically (temp file + rename).

    String weights cannot be stored in safetensors and raise TfjsFormatError.
    """
    path = Path(path)
    header: dict[str, Any] = {"__metadata__": dict(metadata or {"format": "tfjs_codec"})}
    offset = 0
    arrays = {}
    for name, value in weights.items():
        array = np.asarray(value)
        if array.dtype.kind in "OSU":
            raise TfjsFormatError("string weights cannot be stored in safetensors", file=path.name, weight=name, field="dtype")
        code = _code_of(name, array)
        arrays[name] = (array, SAFETENSORS_DTYPES[code])
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    done = 0
    with atomic_file(path) as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for array, dtype in arrays.values():
            data = np.ascontiguousarray(array, dtype=dtype).reshape(-1)
            f.write(data.view(np.uint8).data)
            done += data.nbytes
            if progress is not None:
                progress(done, offset)
