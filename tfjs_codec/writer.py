"""Encode weights, cut them into shards, and save models.

Writing streams: each weight's bytes go to the current shard file as they are
produced (quantized in bounded chunks), and no whole-model buffer is built.
:func:`save` hands the shards and the manifest to the commit protocol of
:mod:`tfjs_codec.commit` (atomic: the old model or the new, never a mix).
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Union

import numpy as np

from ._version import __version__
from .arguments import check_arg, check_path
from .commit import OpenShard, commit
from .dirlock import DEFAULT_LOCK_TIMEOUT
from .dtypes import DTYPES, QUANTIZATION_DTYPES, STRING_LENGTH_DTYPE, weight_dtype_of
from .errors import TfjsFormatError, TfjsFormatWarning
from .manifest import parse_model_json, stored_nbytes
from .model import Model
from .quantization import _warn_float16_overflow, iter_quantized, quantization_metadata
from .tfjs_format import DEFAULT_SHARD_SIZE, MODEL_JSON, SHARD_NAME

__all__ = ["save", "save_document", "encode_weights", "QuantizeSpec"]

QuantizeSpec = Union[None, str, Mapping[str, Union[bool, str, Sequence[str]]]]  # noqa: UP007 (a runtime alias: 3.10 has no `None | str`)

#: Bytes written per call when streaming a large buffer.
WRITE_CHUNK = 1 << 22


#: Lossless widenings applied without like (the rest is refused, never cast silently).
_WIDEN = {"f": "float32", "i": "int32", "u": "int32", "b": "bool", "c": "complex64"}


class _Item(NamedTuple):
    """One weight to write: its manifest entry and a producer of its bytes."""

    entry: dict[str, Any]
    nbytes: int
    chunks: Callable[[], Iterable[Any]]


class _Group:
    """One manifest group to write: its items and the planned shard sizes and paths."""

    def __init__(self, items: list[_Item], sizes: list[int], paths: list[str], raw: dict[str, Any] | None = None) -> None:
        self.items = items
        self.sizes = sizes
        self.paths = paths
        self.raw = raw or {}

    @property
    def total(self) -> int:
        return sum(i.nbytes for i in self.items)


def quantization_map(names: Sequence[str], quantize: QuantizeSpec) -> dict[str, str]:
    """Which quantization dtype each name gets, as tensorflowjs' ``quantization_dtype_map``.

    Args:
        names: candidate weight names (the float32 ones).
        quantize: None; a dtype name for every name; or ``{dtype: patterns}``
            where patterns is an fnmatch pattern, a list of them, or True (the
            single fall-through dtype for names no pattern matched).

    Raises:
        ValueError: unknown dtype, two fall-throughs, or two dtypes matching one name.
    """
    if quantize is None:
        return {}
    if isinstance(quantize, str):
        quantize = {quantize: True}
    result: dict[str, str] = {}
    fallthrough = None
    for qdtype, patterns in quantize.items():
        if qdtype not in QUANTIZATION_DTYPES:
            raise ValueError(f"unknown quantization dtype {qdtype!r}; expected one of {', '.join(QUANTIZATION_DTYPES)}")
        if patterns is True:
            if fallthrough is not None:
                raise ValueError(f"more than one fall-through quantization dtype ({fallthrough!r}, {qdtype!r})")
            fallthrough = qdtype
            continue
        if patterns is False or patterns is None:
            continue
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            for name in fnmatch.filter(names, pattern):
                if result.get(name, qdtype) != qdtype:
                    raise ValueError(f"two quantization dtypes, {result[name]!r} and {qdtype!r}, match weight {name!r}")
                result[name] = qdtype
    if fallthrough is not None:
        for name in names:
            result.setdefault(name, fallthrough)
    return result


def _as_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except Exception as exc:  # e.g. a torch tensor that requires grad
        raise TfjsFormatError(f"cannot be converted to an array: {exc}", weight=name) from None


def _target_dtype(name: str, array: np.ndarray, expected: str | None) -> str:
    actual = weight_dtype_of(array)
    if expected is None:
        if actual is not None:
            return actual
        widened = _WIDEN.get(array.dtype.kind)
        if widened and np.can_cast(array.dtype, DTYPES[widened].numpy, "safe"):
            return widened
        raise TfjsFormatError(
            f"dtype {array.dtype} has no lossless TensorFlow.js dtype; convert it explicitly "
            f"(for example .astype('float32') or .astype('int32'))",
            weight=name,
            field="dtype",
        )
    if actual == expected:
        return expected
    if expected != "string" and actual != "string" and np.can_cast(array.dtype, DTYPES[expected].numpy, "safe"):
        return expected
    raise TfjsFormatError(
        f"dtype {array.dtype} does not match the model's {expected}; convert it explicitly", weight=name, field="dtype"
    )


def _string_bytes(name: str, array: np.ndarray) -> bytes:
    parts = []
    for i, value in enumerate(array.reshape(-1).tolist()):
        if isinstance(value, str):
            value = value.encode("utf-8")
        elif not isinstance(value, (bytes, bytearray, memoryview)):
            raise TfjsFormatError(f"element {i} is {type(value).__name__}, expected bytes or str", weight=name, field="dtype")
        value = bytes(value)
        parts.append(len(value).to_bytes(STRING_LENGTH_DTYPE.itemsize, "little"))
        parts.append(value)
    return b"".join(parts)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind or a.dtype.itemsize != b.dtype.itemsize:
        return False
    if a.dtype.kind == "O":
        return bool(np.array_equal(a, b))
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    b = np.ascontiguousarray(b, dtype=b.dtype.newbyteorder("<"))
    return bool(np.array_equal(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8)))


def _item(
    name: str,
    value: Any,
    *,
    entry: dict[str, Any],
    expected_dtype: str | None,
    expected_shape: tuple[int, ...] | None,
    qdtype: str | None,
    like: Model | None,
) -> _Item:
    array = _as_array(name, value)
    if expected_shape is not None and tuple(array.shape) != expected_shape:
        raise TfjsFormatError(
            f"shape {tuple(array.shape)} does not match the model's {expected_shape}", weight=name, field="shape"
        )
    dtype = _target_dtype(name, array, expected_dtype)
    entry = dict(entry)
    entry["shape"] = list(array.shape)
    entry["dtype"] = dtype
    entry.pop("quantization", None)
    if like is not None and name in like.specs and qdtype is not None:
        spec = like.specs[name]
        if spec.quantization is not None and spec.quantization["dtype"] == qdtype:
            if value is like.weights[name] or _same_bits(array, like.weights[name]):
                entry["quantization"] = spec.entry["quantization"]
                return _Item(entry, spec.nbytes, lambda: [like.raw(name)])
    if dtype == "string":
        data = _string_bytes(name, array)
        return _Item(entry, len(data), lambda: [data])
    contiguous = np.ascontiguousarray(array, dtype=DTYPES[dtype].numpy)
    if qdtype is not None and dtype in ("float32", "int32"):
        try:
            meta = quantization_metadata(contiguous, qdtype)
        except ValueError as problem:
            warnings.warn(f"weight {name!r} is left unquantized: {problem}", TfjsFormatWarning, stacklevel=4)
        else:
            if qdtype == "float16":
                _warn_float16_overflow(contiguous, name)
            entry["quantization"] = meta
            nbytes = stored_nbytes(entry)
            assert nbytes is not None  # a numeric dtype
            return _Item(entry, nbytes, lambda: iter_quantized(contiguous, meta))
    return _Item(entry, contiguous.nbytes, lambda: [contiguous] if contiguous.size else [])


def _cut(total: int, shard_size: int, group_index: int) -> tuple[list[int], list[str]]:
    if shard_size <= 0:
        raise ValueError(f"shard_size must be a positive number of bytes, got {shard_size}")
    count = math.ceil(total / shard_size)
    sizes = [min(shard_size, total - i * shard_size) for i in range(count)]
    paths = [SHARD_NAME.format(group=group_index + 1, index=i + 1, count=count) for i in range(count)]
    return sizes, paths


def _plan(
    weights: Mapping[str, Any],
    *,
    like: Model | None,
    quantize: QuantizeSpec,
    shard_size: int | None,
) -> list[_Group]:
    if like is None:
        names = list(weights)
        arrays = {n: _as_array(n, weights[n]) for n in names}
        floats = [
            n
            for n in names
            if weight_dtype_of(arrays[n]) == "float32" or (arrays[n].dtype.kind == "f" and arrays[n].dtype.itemsize < 4)
        ]
        qmap = quantization_map(floats, quantize)
        items = [
            _item(n, arrays[n], entry={"name": n}, expected_dtype=None, expected_shape=None, qdtype=qmap.get(n), like=None)
            for n in names
        ]
        group = _Group(items, [], [])
        group.sizes, group.paths = _cut(group.total, DEFAULT_SHARD_SIZE if shard_size is None else shard_size, 0)
        return [group]

    missing = [n for n in like.specs if n not in weights]
    if missing:
        raise TfjsFormatError(
            f"missing from the weights to save (the model has it; {len(missing)} missing in all)", weight=missing[0]
        )
    extra = [n for n in weights if n not in like.specs]
    if extra:
        raise TfjsFormatError(f"is not in the model given as like= ({len(extra)} unknown name(s) in all)", weight=extra[0])
    if quantize is not None:
        qmap = quantization_map([n for n, s in like.specs.items() if s.dtype == "float32"], quantize)
    else:
        qmap = {n: s.quantization["dtype"] for n, s in like.specs.items() if s.quantization}
    groups = []
    for g, buf in zip(like.groups, like.buffers, strict=False):
        items = []
        for entry in g.entries:
            spec = like.specs[entry["name"]]
            items.append(
                _item(
                    spec.name,
                    weights[spec.name],
                    entry=dict(entry),
                    expected_dtype=spec.dtype,
                    expected_shape=spec.shape,
                    qdtype=qmap.get(spec.name),
                    like=like,
                )
            )
        group = _Group(items, [], [], raw=dict(g.raw))
        if shard_size is not None:
            group.sizes, group.paths = _cut(group.total, shard_size, g.index)
        elif group.total == buf.total or len(g.paths) == 1:
            group.sizes, group.paths = ([group.total] if len(g.paths) == 1 else list(buf.sizes)), list(g.paths)
        else:
            first = buf.sizes[0] if buf.sizes and buf.sizes[0] > 0 else DEFAULT_SHARD_SIZE
            group.sizes, group.paths = _cut(group.total, first, g.index)
        groups.append(group)
    return groups


def _as_bytes(chunk: Any) -> memoryview:
    """The bytes of a chunk (an array, bytes or a memoryview) as a flat byte view."""
    if isinstance(chunk, np.ndarray):
        return np.ascontiguousarray(chunk).reshape(-1).view(np.uint8).data
    return memoryview(chunk).cast("B")


def _stream(
    groups: Sequence[_Group], open_shard: Callable[[int, int, int], Any], progress: Callable[[int, int], None] | None
) -> None:
    """Write every group's bytes, cut at its planned shard sizes."""
    grand_total = sum(g.total for g in groups)
    done = 0
    for gi, group in enumerate(groups):
        shard = 0
        left = group.sizes[0] if group.sizes else 0
        sink: Any = open_shard(gi, 0, group.sizes[0]) if group.sizes else None  # None: no bytes to write
        for item in group.items:
            for chunk in item.chunks():
                view = _as_bytes(chunk)
                while view.nbytes:
                    while left == 0:
                        sink.close()
                        shard += 1
                        left = group.sizes[shard]
                        sink = open_shard(gi, shard, left)
                    n = min(left, view.nbytes, WRITE_CHUNK)
                    sink.write(view[:n])
                    view = view[n:]
                    left -= n
                    done += n
                    if progress is not None:
                        progress(done, grand_total)
        if sink is not None:
            sink.close()
        for extra in range(shard + 1, len(group.sizes)):  # zero-byte trailing shards
            open_shard(gi, extra, 0).close()


class _MemorySink:
    def __init__(self, out: list[bytes]) -> None:
        self._out = out
        self._buf = bytearray()

    def write(self, data: memoryview) -> None:
        self._buf += data

    def close(self) -> None:
        self._out.append(bytes(self._buf))


def _manifest_of(groups: Sequence[_Group]) -> list[dict[str, Any]]:
    manifest = []
    for g in groups:
        raw = dict(g.raw)
        raw["paths"] = list(g.paths)
        raw["weights"] = [i.entry for i in g.items]
        manifest.append(raw)
    return manifest


def encode_weights(
    weights: Mapping[str, Any], *, quantize: QuantizeSpec = None, shard_size: int | None = None
) -> tuple[list[dict[str, Any]], list[list[bytes]]]:
    """Encode weights in memory, as ``tensorflowjs.write_weights`` lays them out.

    Args:
        weights: name -> array-like (float32, int32, bool, complex64, or
            bytes/str for strings; narrower ints and floats are widened
            losslessly; anything else is refused).
        quantize: see :func:`save`.
        shard_size: bytes per shard (default 4 MiB).

    Returns:
        ``(manifest, buffers)``: one group, whose shard bytes are ``buffers[0]``.

    Raises:
        TfjsFormatError: a weight that cannot be converted to an array, or whose
            dtype has no lossless TensorFlow.js dtype (float64, int64, ...).
        ValueError: an unknown quantization dtype, a map matching a weight
            twice, or a shard_size that is not positive.
        TypeError: an argument of the wrong type.
    """
    _check_save_args("encode_weights", weights, quantize, shard_size)
    groups = _plan(weights, like=None, quantize=quantize, shard_size=shard_size)
    buffers: list[list[bytes]] = [[] for _ in groups]
    _stream(groups, lambda gi, si, n: _MemorySink(buffers[gi]), None)
    return _manifest_of(groups), buffers


def _resolve_like(like: Model | str | os.PathLike[str] | None) -> tuple[Model | None, bool]:
    if like is None or isinstance(like, Model):
        return like, False
    from .reader import load

    return load(like), True


def _check_save_args(func: str, weights: Any, quantize: Any, shard_size: Any) -> None:
    check_arg(func, "weights", weights, Mapping, "a mapping of name -> array (a dict, or a Model)")
    check_arg(func, "quantize", quantize, (str, Mapping, type(None)), "None, a dtype name or a {dtype: patterns} mapping")
    check_arg(func, "shard_size", shard_size, (int, type(None)), "an int or None")


def save(
    out: str | os.PathLike[str],
    weights: Mapping[str, Any],
    *,
    like: Model | str | os.PathLike[str] | None = None,
    quantize: QuantizeSpec = None,
    shard_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> Path:
    """Write a TensorFlow.js model atomically.

    Args:
        out: the manifest path to write (``.../model.json``) or a directory
            (created if needed; the file is ``model.json``, or ``like``'s
            manifest name).
        weights: name -> array-like. With ``like``, exactly its weight names,
            shapes and dtypes (lossless widening accepted); without, any names.
        like: a loaded model or a path to one whose structure is copied: the
            JSON (topology, format, signature, ...), the groups and their order,
            each weight's manifest entry and quantization kind, the shard paths
            and cut points (a group whose byte size changed is re-cut at the
            source's first-shard size and named as tensorflowjs names shards; a
            single-shard group stays a single shard of the same name), and the
            sidecar files (``model_meta.json``, ``metadata.json``). Unchanged
            quantized weights are passed through byte for byte.
        quantize: None (keep ``like``'s quantization, or none), a dtype
            (``"uint8"``, ``"uint16"``, ``"float16"``) for every float32
            weight, or ``{dtype: patterns}`` with fnmatch patterns or True for
            the fall-through dtype. Applies to float32 weights only. A weight
            affine quantization cannot represent (no elements, NaN or Inf) is
            left unquantized with a ``TfjsFormatWarning``.
        shard_size: bytes per shard; None keeps ``like``'s layout, or 4 MiB.
        progress: called as ``progress(bytes_done, bytes_total)`` while writing.
        lock_timeout: seconds to wait while another save commits into the same
            directory (saves into one directory commit one at a time; see
            :mod:`tfjs_codec.dirlock`).

    Returns:
        The path of the manifest written (of the archive, for an archive).

    Raises:
        TfjsFormatError: a weight missing, unknown, or of the wrong shape or dtype.
        OSError: the directory cannot be written; the previous model is intact.
        TimeoutError: (an OSError) another save of the directory did not finish
            its commit within ``lock_timeout``; the previous model is intact.
        TypeError: an argument of the wrong type (``tc.save(weights, "out")``).
        ValueError: an unknown quantization dtype or a shard_size that is not positive.

    An ``out`` ending in ``.zip``, ``.tar``, ``.tar.gz`` (...) writes the model
    (manifest, shards, sidecars) into that archive, atomically; see
    :func:`tfjs_codec.sources.archive.save_archive`.
    """
    check_path("save", "out", out)
    _check_save_args("save", weights, quantize, shard_size)
    check_arg("save", "like", like, (Model, str, os.PathLike, type(None)), "a Model, a path or None")
    if progress is not None and not callable(progress):
        raise TypeError(f"save(): progress must be callable, got {type(progress).__name__}")
    from .sources import is_archive_name

    if is_archive_name(out) and not Path(out).is_dir():
        from .sources.archive import save_archive

        return save_archive(
            out,
            lambda work: save(
                work, weights, like=like, quantize=quantize, shard_size=shard_size, progress=progress, lock_timeout=lock_timeout
            ),
        )
    like_model, opened = _resolve_like(like)
    try:
        groups = _plan(weights, like=like_model, quantize=quantize, shard_size=shard_size)
        manifest_path = _manifest_path(out, like_model.path.name if like_model is not None and like_model.path else MODEL_JSON)

        def document(manifest: list[dict[str, Any]]) -> Any:
            if like_model is not None:
                return _document_like(like_model, manifest)
            return {"weightsManifest": manifest, "convertedBy": _generator()}

        sidecars = like_model.sidecars if like_model is not None else {}
        _commit_groups(manifest_path, groups, document, like_model, sidecars, progress, lock_timeout)
        return manifest_path
    finally:
        if opened and like_model is not None:
            like_model.close()


def save_document(
    out: str | os.PathLike[str],
    weights: Mapping[str, Any],
    document: Mapping[str, Any],
    *,
    sidecars: Mapping[str, bytes] | None = None,
    quantize: QuantizeSpec = None,
    shard_size: int | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> Path:
    """Write a model whose model.json is ``document`` plus the weights manifest, as :func:`save` does.

    What the exporters use: the topology, format and signature come from them,
    the weights are written as by ``save`` without ``like`` (one group, shards of
    ``shard_size``), and the commit is the same (atomic, under the directory's
    save lock, stale shards removed).

    Args:
        out: the manifest path or a directory (the file is then ``model.json``).
        weights: name -> array.
        document: model.json's keys other than ``weightsManifest``, in order.
        sidecars: file name -> bytes written next to model.json (``model_meta.json``, ...).
        quantize: as for :func:`save`.
        shard_size: as for :func:`save`.
        lock_timeout: as for :func:`save`.

    Returns:
        The path of the manifest written.

    Raises:
        As :func:`save`.
    """
    _check_save_args("save_document", weights, quantize, shard_size)
    groups = _plan(weights, like=None, quantize=quantize, shard_size=shard_size)
    manifest_path = _manifest_path(out, MODEL_JSON)
    fixed = {k: v for k, v in document.items() if k != "weightsManifest"}
    _commit_groups(
        manifest_path, groups, lambda manifest: {**fixed, "weightsManifest": manifest}, None, sidecars or {}, None, lock_timeout
    )
    return manifest_path


def _manifest_path(out: str | os.PathLike[str], default_name: str) -> Path:
    """The manifest file ``out`` names (a ``.json`` path, or ``default_name`` in a directory); its directory made."""
    out_path = Path(out)
    manifest_path = out_path if out_path.suffix == ".json" and not out_path.is_dir() else out_path / default_name
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    return manifest_path


def _commit_groups(
    manifest_path: Path,
    groups: list[_Group],
    document: Callable[[list[dict[str, Any]]], Any],
    like: Model | None,
    sidecars: Mapping[str, bytes],
    progress: Callable[[int, int], None] | None,
    lock_timeout: float,
) -> None:
    """Stream the planned groups into shards and commit them with ``document(manifest)`` as model.json."""

    def render(paths: Sequence[Sequence[str]]) -> bytes:
        for group, final in zip(groups, paths, strict=True):
            group.paths = list(final)
        return _manifest_bytes(document(_manifest_of(groups)), like)

    def write_shards(open_shard: OpenShard) -> None:
        _stream(groups, open_shard, progress)

    commit(manifest_path, [list(g.paths) for g in groups], write_shards, render, sidecars, lock_timeout=lock_timeout)


def _generator() -> str:
    return f"tfjs_codec {__version__}"


def _document_like(like: Model, manifest: list[dict[str, Any]]) -> Any:
    if isinstance(like.json, list):
        return manifest
    document = dict(like.json)
    document["weightsManifest"] = manifest
    return document


def _manifest_bytes(document: Any, like: Model | None) -> bytes:
    """``like``'s manifest bytes when the document is unchanged (byte-identical re-saves), else compact JSON."""
    if like is not None and like.path is not None and document == like.json:
        try:
            original = like.manifest_bytes if like.manifest_bytes is not None else like.path.read_bytes()
            if parse_model_json(original, file=like.path.name)[0] == document:
                return original
        except (OSError, TfjsFormatError):
            pass
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
