"""Parse and validate model.json and weights manifests into weight specs.

Nothing here opens a shard: the manifest is checked on its own (names, shapes,
dtypes, quantization, paths), then :func:`layout_group` places each weight in its
group's byte stream once the stream's size (and, for strings, its length
prefixes) can be read.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .dtypes import DTYPES, QUANTIZATION_DTYPES, STRING_LENGTH_DTYPE, WEIGHT_DTYPES
from .errors import TfjsFormatError
from .quantization import affine_scale_min

__all__ = [
    "ManifestGroup",
    "WeightSpec",
    "check_path",
    "group_nbytes",
    "layout_group",
    "looks_like_model_json",
    "normalize_paths",
    "parse_manifest",
    "parse_model_json",
    "stored_nbytes",
]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

#: Most dimensions a weight may have: numpy's limit (64 since numpy 2, 32 before).
MAX_RANK = 64 if int(np.__version__.split(".")[0]) >= 2 else 32

#: Most elements a shape may describe, zero dimensions aside (2**53: JavaScript's
#: largest exact integer, and far below numpy's 2**63-byte limit for any dtype).
MAX_ELEMENTS = 2**53


class WeightSpec(NamedTuple):
    """Where and how one weight is stored.

    Attributes:
        name: the weight's name, unique in the model.
        shape: its shape (``()`` for a scalar).
        dtype: the decoded dtype: float32, int32, bool, string or complex64.
        quantization: the manifest ``quantization`` object, or None.
        group: the entry's ``group`` field (``"model"``, ``"optimizer"``) or None.
        group_index: index of its manifest group (0-based).
        offset: byte offset of its data in the group's concatenated shards.
        nbytes: byte length of its stored data.
        entry: the weight's manifest entry as read (extra keys included).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Mapping[str, Any] | None
    group: str | None
    group_index: int
    offset: int
    nbytes: int
    entry: Mapping[str, Any]

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def stored_dtype(self) -> str:
        """The dtype of the bytes on disk: the quantization dtype, or ``dtype``."""
        return self.quantization["dtype"] if self.quantization else self.dtype

    def __repr__(self) -> str:  # the manifest entry repeats the fields: leave it out
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields if k != "entry")
        return f"WeightSpec({fields})"


class ManifestGroup:
    """One ``weightsManifest`` group, validated but not yet laid out.

    Attributes:
        index: its position in ``weightsManifest`` (0-based).
        paths: its shard paths as the manifest spells them.
        entries: its weight entries as read.
        raw: the group object as read (extra keys included).
    """

    __slots__ = ("index", "paths", "entries", "raw")

    def __init__(
        self, index: int, paths: tuple[str, ...], entries: tuple[Mapping[str, Any], ...], raw: Mapping[str, Any]
    ) -> None:
        self.index = index
        self.paths = paths
        self.entries = entries
        self.raw = raw

    def __repr__(self) -> str:
        return f"ManifestGroup(index={self.index}, paths={self.paths!r}, {len(self.entries)} weights)"


def parse_model_json(text: bytes | str, file: str = "model.json") -> tuple[Any, list[Any]]:
    """Parse model.json (an object with ``weightsManifest``) or a bare manifest (a list).

    Returns:
        ``(document, manifest)``: the parsed JSON and its list of groups.

    Raises:
        TfjsFormatError: not UTF-8, not JSON, or no manifest in it.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TfjsFormatError(f"not UTF-8 text (byte {exc.start})", file=file) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TfjsFormatError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", file=file) from None
    except RecursionError:
        raise TfjsFormatError("malformed JSON: nested too deeply", file=file) from None
    except ValueError:  # an integer literal past Python's digit limit (sys.get_int_max_str_digits)
        raise TfjsFormatError("malformed JSON: an integer with more digits than Python converts", file=file) from None
    if isinstance(doc, list):
        return doc, doc
    if not isinstance(doc, dict):
        raise TfjsFormatError(f"expected a JSON object or a list of weight groups, got {type(doc).__name__}", file=file)
    manifest = doc.get("weightsManifest")
    if manifest is None:
        raise TfjsFormatError("no 'weightsManifest' in the model", file=file, field="weightsManifest")
    return doc, manifest


def looks_like_model_json(text: bytes) -> bool:
    """True when ``text`` is a JSON object with a ``weightsManifest`` (nothing else is checked)."""
    try:
        doc = json.loads(text.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and "weightsManifest" in doc


def parse_manifest(manifest: Any, file: str = "model.json") -> list[ManifestGroup]:
    """Validate a ``weightsManifest`` list.

    Checks every group's ``paths`` (see :func:`check_path`) and every weight's
    name (a string, unique across groups), shape (non-negative integers), dtype
    and quantization.

    Raises:
        TfjsFormatError: naming the file, weight and field at fault.
    """
    if not isinstance(manifest, list):
        raise TfjsFormatError(f"must be a list of groups, got {type(manifest).__name__}", file=file, field="weightsManifest")
    groups = []
    seen: dict[str, int] = {}
    for gi, group in enumerate(manifest):
        where = f"weightsManifest[{gi}]"
        if not isinstance(group, dict):
            raise TfjsFormatError(f"must be an object, got {type(group).__name__}", file=file, field=where)
        paths = group.get("paths")
        if not isinstance(paths, list):
            raise TfjsFormatError("must be a list of file names", file=file, field=f"{where}.paths")
        for pi, p in enumerate(paths):
            check_path(p, file=file, field=f"{where}.paths[{pi}]")
        weights = group.get("weights")
        if not isinstance(weights, list):
            raise TfjsFormatError("must be a list of weight entries", file=file, field=f"{where}.weights")
        for wi, entry in enumerate(weights):
            _check_entry(entry, file=file, where=f"{where}.weights[{wi}]")
            name = entry["name"]
            if name in seen:
                raise TfjsFormatError(
                    f"duplicate name (first in weightsManifest[{seen[name]}])", file=file, weight=name, field="name"
                )
            seen[name] = gi
        groups.append(ManifestGroup(gi, tuple(paths), tuple(weights), group))
    return groups


def check_path(path: Any, *, file: str = "model.json", field: str = "paths") -> str:
    """Check that a shard path stays inside the model's directory.

    A path must be a non-empty relative name: not absolute, not a URL, no NUL,
    and not leaving the directory through ``..``. ``./x.bin`` and ``sub/x.bin``
    are fine.

    Returns:
        The normalized relative path (``x.bin`` for ``./x.bin``).

    Raises:
        TfjsFormatError: otherwise; the path is never opened.
    """
    if not isinstance(path, str) or not path:
        raise TfjsFormatError(f"must be a non-empty file name, got {path!r}", file=file, field=field)
    if "\x00" in path:
        raise TfjsFormatError(f"contains a NUL character: {path!r}", file=file, field=field)
    unified = path.replace("\\", "/")
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified):
        raise TfjsFormatError(
            f"absolute path {path!r} is not allowed; shard paths are relative to the model", file=file, field=field
        )
    if _URL.match(unified) or unified.startswith("//"):
        raise TfjsFormatError(
            f"URL {path!r} is not allowed in a local model; shard paths are relative to the model", file=file, field=field
        )
    normal = posixpath.normpath(unified)
    if normal == ".." or normal.startswith("../") or normal == ".":
        raise TfjsFormatError(f"path {path!r} leaves the model's directory", file=file, field=field)
    return normal


def _check_entry(entry: Any, *, file: str, where: str) -> None:
    if not isinstance(entry, dict):
        raise TfjsFormatError(f"must be an object, got {type(entry).__name__}", file=file, field=where)
    name = entry.get("name")
    if not isinstance(name, str):
        raise TfjsFormatError(f"must be a string, got {name!r}", file=file, field=f"{where}.name")
    shape = entry.get("shape")
    if not isinstance(shape, list):
        raise TfjsFormatError(f"must be a list of integers, got {shape!r}", file=file, weight=name, field="shape")
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TfjsFormatError(f"dimension {dim!r} is not an integer", file=file, weight=name, field="shape")
        if dim < 0:
            raise TfjsFormatError(f"dimension {dim} is negative", file=file, weight=name, field="shape")
    if len(shape) > MAX_RANK:
        raise TfjsFormatError(f"{len(shape)} dimensions; numpy holds at most {MAX_RANK}", file=file, weight=name, field="shape")
    if math.prod(d for d in shape if d) > MAX_ELEMENTS:
        raise TfjsFormatError(
            f"{math.prod(d for d in shape if d)} elements (zero dimensions aside) is more than {MAX_ELEMENTS}, "
            "the most any array can hold",
            file=file,
            weight=name,
            field="shape",
        )
    dtype = entry.get("dtype")
    if dtype not in WEIGHT_DTYPES:
        raise TfjsFormatError(
            f"unknown dtype {dtype!r}; expected one of {', '.join(WEIGHT_DTYPES)}", file=file, weight=name, field="dtype"
        )
    group = entry.get("group")
    if group is not None and not isinstance(group, str):
        raise TfjsFormatError(f"must be a string, got {group!r}", file=file, weight=name, field="group")
    if "quantization" in entry:
        _check_quantization(entry["quantization"], dtype, file=file, name=name)


def _check_quantization(q: Any, dtype: str, *, file: str, name: str) -> None:
    if not isinstance(q, dict):
        raise TfjsFormatError(f"must be an object, got {q!r}", file=file, weight=name, field="quantization")
    qdtype = q.get("dtype")
    if qdtype not in QUANTIZATION_DTYPES:
        raise TfjsFormatError(
            f"unknown quantization dtype {qdtype!r}; expected one of {', '.join(QUANTIZATION_DTYPES)}",
            file=file,
            weight=name,
            field="quantization.dtype",
        )
    if qdtype == "float16":
        if dtype != "float32":
            raise TfjsFormatError(
                f"float16 quantization only supports weights of type float32, not {dtype}", file=file, weight=name, field="dtype"
            )
        return
    if dtype not in ("float32", "int32"):
        raise TfjsFormatError(
            f"{qdtype} quantization supports weights of type float32 or int32, not {dtype}", file=file, weight=name, field="dtype"
        )
    try:
        affine_scale_min(q)
    except TfjsFormatError as exc:
        raise TfjsFormatError(exc.reason, file=file, weight=name, field=exc.field) from None


def stored_nbytes(entry: Mapping[str, Any]) -> int | None:
    """The bytes a (validated) weight entry takes in its group's stream: its
    element count times the size of its stored dtype (the quantization dtype
    when quantized); 0 without elements; None for strings, whose size is in
    their data (their length prefixes).
    """
    q = entry.get("quantization")
    itemsize = DTYPES[q["dtype"] if q else entry["dtype"]].itemsize
    size = math.prod(entry["shape"])
    if size == 0:
        return 0
    return None if itemsize is None else size * itemsize


def group_nbytes(entries: Sequence[Mapping[str, Any]]) -> int | None:
    """The bytes a group's entries take together, or None when a string weight's size is unknown."""
    total = 0
    for entry in entries:
        n = stored_nbytes(entry)
        if n is None:
            return None
        total += n
    return total


def layout_group(
    group: ManifestGroup,
    total: int,
    read: Callable[[int, int], bytes],
    *,
    file: str = "model.json",
) -> list[WeightSpec]:
    """Place each weight of ``group`` in the group's byte stream.

    Args:
        group: the validated group.
        total: the byte length of the group's concatenated shards.
        read: ``read(offset, n)`` returns ``n`` bytes of the stream; used only
            for the length prefixes of string weights.
        file: the manifest's name, for errors.

    Returns:
        The specs, in manifest order. The sum of their sizes may be less than
        ``total`` (trailing bytes); the caller decides what to do about it.

    Raises:
        TfjsFormatError: a weight (or a string's length prefix) would run past
            ``total``. No allocation depends on the manifest's claims.
    """
    specs = []
    offset = 0
    for entry in group.entries:
        name, dtype = entry["name"], entry["dtype"]
        shape = tuple(entry["shape"])
        q = entry.get("quantization")
        fixed = stored_nbytes(entry)
        if fixed is None:
            nbytes = _string_nbytes(name, math.prod(shape), offset, total, read, file, _shard_list(group.paths))
        else:
            nbytes = fixed
            if offset + nbytes > total:
                raise TfjsFormatError(
                    f"needs {nbytes} bytes at offset {offset} of group {group.index}, "
                    f"but its shards{_shard_names(group.paths)} hold {total} bytes in all",
                    file=file,
                    weight=name,
                    field="shape",
                )
        specs.append(WeightSpec(name, shape, dtype, q, entry.get("group"), group.index, offset, nbytes, entry))
        offset += nbytes
    return specs


def _shard_names(paths: Sequence[str]) -> str:
    """`` (a.bin, b.bin)`` or `` (first .. last, N files)``: which files a short group is made of."""
    return f" ({_shard_list(paths)})" if paths else ""


def _shard_list(paths: Sequence[str]) -> str:
    if not paths:
        return "no shard file"
    if len(paths) <= 3:
        return ", ".join(paths)
    return f"{paths[0]} .. {paths[-1]}, {len(paths)} files"


def _string_nbytes(
    name: str, size: int, offset: int, total: int, read: Callable[[int, int], bytes], file: str, shards: str
) -> int:
    prefix = STRING_LENGTH_DTYPE.itemsize
    if size * prefix > total - offset:
        raise TfjsFormatError(
            f"{size} strings need at least {size * prefix} bytes at offset {offset}, but only {total - offset} remain "
            f"in {shards}",
            file=file,
            weight=name,
            field="shape",
        )
    pos = offset
    for i in range(size):
        if pos + prefix > total:
            raise TfjsFormatError(
                f"length of string {i} at offset {pos} runs past the end of the data ({total} bytes in {shards})",
                file=file,
                weight=name,
                field="data",
            )
        length = int.from_bytes(read(pos, prefix), "little")
        pos += prefix
        if pos + length > total:
            raise TfjsFormatError(
                f"string {i} of {length} bytes at offset {pos} runs past the end of the data ({total} bytes in {shards})",
                file=file,
                weight=name,
                field="data",
            )
        pos += length
    return pos - offset


def normalize_paths(paths: Sequence[str]) -> list[str]:
    """The normalized form of each (already checked) path."""
    return [posixpath.normpath(p.replace("\\", "/")) for p in paths]
