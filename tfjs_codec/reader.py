"""Load models and decode weights, as tfjs-core ``decodeWeights`` does.

Reading never needs the writer. Unquantized numeric weights are zero-copy views
of the mapped shards (copies only when they straddle a shard boundary and the
shards cannot be mapped back to back, see :mod:`tfjs_codec.shards`); quantized
and string weights are decoded on first access and cached.
"""

from __future__ import annotations

import math
import os
import stat
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .arena import Arena
from .dtypes import DTYPES, STRING_LENGTH_DTYPE
from .errors import TfjsFormatError, TfjsFormatWarning
from .format import BARE_MANIFEST_SUFFIX, MODEL_JSON, SIDECAR_FILES
from .gzipped import MAX_GUNZIP_BYTES, choose, gunzip, gzip_candidates, read_manifest_bytes
from .manifest import ManifestGroup, WeightSpec, layout_group, normalize_paths, parse_manifest, parse_model_json
from .quantization import affine_decode, float16_to_float32
from .shards import FileGroup, GroupBuffer, MemoryGroup

__all__ = ["Model", "load", "decode_weights", "decode_weight"]

PathLike = str | os.PathLike[str]


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
        out: for a quantized float32 weight, a contiguous float32 array of
            ``spec.shape`` to decode into (ignored otherwise).

    Returns:
        float32, int32, bool or complex64 arrays (little-endian), or an object
        array of ``bytes`` for strings, of shape ``spec.shape``.
    """
    q = spec.quantization
    if q is not None:
        codes = np.frombuffer(data, dtype=DTYPES[q["dtype"]].numpy, count=spec.size)
        if out is not None:
            out = out.reshape(-1) if spec.dtype == "float32" else None
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


class _Weights(Mapping[str, np.ndarray]):
    """The lazy name -> array mapping of a model, in manifest order."""

    def __init__(self, model: Model) -> None:
        self._model = model

    def __getitem__(self, name: str) -> np.ndarray:
        return self._model._get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._model.specs)

    def __len__(self) -> int:
        return len(self._model.specs)

    def __contains__(self, name: object) -> bool:
        return name in self._model.specs

    def __repr__(self) -> str:
        return f"<weights of {self._model!r}: {len(self)} arrays>"


class Model:
    """A loaded TensorFlow.js model: its JSON, weight specs and lazily decoded weights.

    Get one with :func:`load`. Arrays it returns stay valid after :meth:`close`
    (each keeps its shard mapping alive); closing releases everything else.
    Decoded quantized float32 weights are carved from shared blocks of up to
    64 MiB (:mod:`tfjs_codec.arena`), each freed with the last array in it.

    Attributes:
        path: the manifest file (model.json or a bare weights manifest), or None.
        json: the whole parsed document (for a bare manifest, the list).
        specs: name -> :class:`WeightSpec`, in manifest order.
        weights: name -> ``np.ndarray``, decoded on first access.
        sidecars: files that travel with the model (``model_meta.json`` of ml5,
            ``metadata.json`` of Teachable Machine), name -> raw bytes.
        source: where the model came from when not a local directory (a URL,
            or ``ARCHIVE!MEMBER``), else None.
        manifest_bytes: the manifest file's bytes as read, when kept (sources
            keep them, since there is no file to re-read), else None.
    """

    source: str | None = None
    manifest_bytes: bytes | None = None

    def __init__(
        self,
        document: Any,
        groups: Sequence[ManifestGroup],
        buffers: Sequence[GroupBuffer],
        *,
        path: Path | None = None,
        sidecars: Mapping[str, bytes] | None = None,
        warn_trailing: bool = True,
    ) -> None:
        self.path = path
        self.json = document
        self.groups = list(groups)
        self.buffers = list(buffers)
        self.sidecars = dict(sidecars or {})
        file = self.file_name
        specs: dict[str, WeightSpec] = {}
        self.trailing: dict[int, int] = {}
        for group, buf in zip(self.groups, self.buffers, strict=False):
            laid = layout_group(group, buf.total, buf.read, file=file)
            used = laid[-1].offset + laid[-1].nbytes if laid else 0
            if used < buf.total:
                self.trailing[group.index] = buf.total - used
                if warn_trailing:
                    warnings.warn(
                        f"{file}: group {group.index} has {buf.total - used} trailing bytes after its last weight",
                        TfjsFormatWarning,
                        stacklevel=3,
                    )
            for spec in laid:
                specs[spec.name] = spec
        self.specs: Mapping[str, WeightSpec] = specs
        self.weights: Mapping[str, np.ndarray] = _Weights(self)
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._arena = Arena(4 * s.size for s in specs.values() if s.quantization is not None and s.dtype == "float32")

    @property
    def file_name(self) -> str:
        """The manifest's file name, as errors name it."""
        return self.path.name if self.path is not None else "manifest"

    @property
    def directory(self) -> Path | None:
        """The directory holding the manifest and shards (None for archives and URLs)."""
        return self.path.parent if self.path is not None and self.source is None else None

    @property
    def format(self) -> str | None:
        """``"layers-model"``, ``"graph-model"`` or None (not stated)."""
        return self.json.get("format") if isinstance(self.json, dict) else None

    @property
    def is_bare_manifest(self) -> bool:
        """True when the file is a bare weights manifest (a JSON list)."""
        return isinstance(self.json, list)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def __iter__(self) -> Iterator[str]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def _get(self, name: str) -> np.ndarray:
        array = self._cache.get(name)
        if array is not None:
            return array
        spec = self.specs.get(name)
        if spec is None:
            raise KeyError(name)
        out = None
        if spec.quantization is not None and spec.dtype == "float32":
            out = self._arena.empty(spec.shape, DTYPES["float32"].numpy)
        array = decode_weight(spec, self.raw(name), file=self.file_name, out=out)
        with self._lock:
            return self._cache.setdefault(name, array)

    def raw(self, name: str) -> memoryview:
        """The stored bytes of a weight (quantized codes when quantized), as a view.

        Args:
            name: the weight's name.

        Returns:
            A memoryview of ``specs[name].nbytes`` bytes: of the mapping when the
            weight lies in one shard (or the group is mapped contiguously), else a copy.

        Raises:
            KeyError: no weight of that name.
            TfjsFormatError: a shard became unreadable (missing, truncated) since ``load``.
        """
        spec = self.specs[name]
        return self.buffers[spec.group_index].view(spec.offset, spec.nbytes)

    def shards_of(self, name: str) -> list[str]:
        """The shard paths (as the manifest spells them) holding a weight's bytes.

        Args:
            name: the weight's name.

        Returns:
            The paths in order; empty for a weight of zero bytes.

        Raises:
            KeyError: no weight of that name.
        """
        spec = self.specs[name]
        group = self.groups[spec.group_index]
        return [group.paths[i] for i in self.buffers[spec.group_index].shard_span(spec.offset, spec.nbytes)]

    def close(self) -> None:
        """Release the shard mappings not in use by arrays already returned."""
        self._cache.clear()
        for buf in self.buffers:
            buf.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.source or (str(self.path) if self.path is not None else "memory")
        return f"<tfjs_codec.Model {where}: {len(self.specs)} weights in {len(self.groups)} group(s)>"


def find_manifest(path: PathLike) -> Path:
    """The manifest file named by ``path``: the file itself, or in a directory,
    ``model.json``, else the single ``*weights_manifest.json``."""
    p = Path(path)
    if p.is_dir():
        candidate = p / MODEL_JSON
        if candidate.is_file():
            return candidate
        bare = sorted(x for x in p.iterdir() if x.name.endswith(BARE_MANIFEST_SUFFIX) and x.is_file())
        if len(bare) == 1:
            return bare[0]
        if bare:
            raise TfjsFormatError(
                f"no {MODEL_JSON} and several manifests ({', '.join(b.name for b in bare)}); name one", file=str(p)
            )
        raise TfjsFormatError(f"no {MODEL_JSON} in the directory", file=str(p))
    if not p.exists():
        raise TfjsFormatError("no such file", file=str(p))
    return p


def load(
    path: PathLike, *, mmap: bool = True, warn_trailing: bool = True, member: str | None = None, **options: Any
) -> Model:
    """Open a TensorFlow.js model.

    Reads and validates the manifest and checks every shard's size against it;
    weight data are read only when a weight is first accessed.

    Args:
        path: a ``model.json`` file, a bare weights manifest (a JSON list of
            groups), or a directory holding one of them; an archive (``.zip``,
            ``.tar``, ``.tar.gz``, ...) holding one; or an ``http(s)://`` URL
            of one (see :mod:`tfjs_codec.sources`).
        mmap: map shards copy-on-write (the default) and serve views of them;
            False reads each shard into memory on first use instead, which is
            safe when another process may truncate the files.
        warn_trailing: warn (``TfjsFormatWarning``) about bytes after a group's
            last weight.
        member: for an archive holding several models, the manifest's member name.
        **options: for URLs, the options of :func:`tfjs_codec.sources.http.load_url`
            (``cache_dir``, ``timeout``, ``retries``, ``weight_path_prefix``, ...).

    Returns:
        A :class:`Model`; use it as a context manager or call ``close()``.

    Raises:
        TfjsFormatError: a malformed manifest, a path leaving the model's
            directory, a missing shard, or shards shorter than the manifest needs.
        TypeError: ``member`` or options the kind of path does not take.
    """
    from .sources import load_source

    sourced = load_source(path, mmap=mmap, warn_trailing=warn_trailing, member=member, options=options)
    if sourced is not None:
        return sourced
    manifest_path = find_manifest(path)
    file = manifest_path.name
    text = read_manifest_bytes(manifest_path, file=file)
    document, manifest = parse_model_json(text, file=file)
    groups = parse_manifest(manifest, file=file)
    root = manifest_path.parent
    buffers = [_open_group(root, g, mmap=mmap, file=file) for g in groups]
    sidecars = {}
    for name in SIDECAR_FILES:
        side = root / name
        if side.is_file():
            sidecars[name] = side.read_bytes()
    return Model(document, groups, buffers, path=manifest_path, sidecars=sidecars, warn_trailing=warn_trailing)


def _open_group(root: Path, group: ManifestGroup, *, mmap: bool, file: str) -> GroupBuffer:
    real_root = os.path.realpath(root)
    files = []
    for i, rel in enumerate(normalize_paths(group.paths)):
        full = os.path.join(root, rel)
        if "/" not in rel and rel not in (".", ".."):
            try:
                if stat.S_ISREG(os.lstat(full).st_mode):
                    files.append(full)  # a plain file in the directory itself: no link to follow
                    continue
            except OSError:
                pass
        real = os.path.realpath(full)
        if os.path.commonpath([real_root, real]) != real_root:
            raise TfjsFormatError(
                f"path {group.paths[i]!r} resolves outside the model's directory (through a symbolic link)",
                file=file,
                field=f"weightsManifest[{group.index}].paths[{i}]",
            )
        try:
            mode = os.stat(full).st_mode
        except OSError:
            mode = None  # FileGroup reports it
        if mode is not None and not stat.S_ISREG(mode):
            raise TfjsFormatError(
                f"path {group.paths[i]!r} is not a regular file",
                file=file,
                field=f"weightsManifest[{group.index}].paths[{i}]",
            )
        files.append(full)
    return _maybe_gunzip(FileGroup(files, list(group.paths), use_mmap=mmap, manifest=file), group, file)


def _maybe_gunzip(buf: FileGroup, group: ManifestGroup, file: str) -> GroupBuffer:
    """``buf``, or its shards in memory with the gzip-compressed ones gunzipped
    (the rule is in :mod:`tfjs_codec.gzipped`)."""
    needed: int | None = 0
    for entry in group.entries:
        q = entry.get("quantization")
        itemsize = DTYPES[q["dtype"] if q else entry["dtype"]].itemsize
        if itemsize is None:
            needed = None
            break
        needed += math.prod(entry["shape"]) * itemsize  # type: ignore[operator]
    if needed == buf.total and not any(name.lower().endswith(".gz") for name in buf.names):
        return buf  # raw sizes match: nothing is gunzipped, and no shard need be opened now
    candidates = gzip_candidates(buf.paths, buf.names, buf.sizes)
    if not candidates:
        return buf

    def raw_fits() -> bool:
        try:
            laid = layout_group(group, buf.total, buf.read, file=file)
        except TfjsFormatError:
            return False
        return (laid[-1].offset + laid[-1].nbytes if laid else 0) == buf.total

    chosen = choose(buf.names, buf.sizes, candidates, needed, raw_fits)
    if not chosen:
        return buf
    parts = []
    for i, (path, name) in enumerate(zip(buf.paths, buf.names, strict=False)):
        with open(path, "rb") as f:
            data = f.read()
        if i in chosen:
            if candidates[i] > MAX_GUNZIP_BYTES:
                raise TfjsFormatError(
                    f"gzip trailer claims {candidates[i]} bytes, over the {MAX_GUNZIP_BYTES}-byte limit", file=name
                )
            data = gunzip(data, limit=candidates[i], file=name, expect=candidates[i])
        parts.append(data)
    buf.close()
    return MemoryGroup(parts, buf.names)


def decode_weights(manifest: Any, buffers: Sequence[Any]) -> dict[str, np.ndarray]:
    """Decode in-memory weights, as ``tf.io.decodeWeights`` does; no files involved.

    Args:
        manifest: a ``weightsManifest`` list of groups, or a whole model.json
            object holding one.
        buffers: one entry per group: a list of that group's shard buffers in
            ``paths`` order, or a single bytes-like holding the whole group.

    Returns:
        name -> array, in manifest order. Unquantized numeric arrays are views
        of the given buffers (read-only for ``bytes``).

    Raises:
        TfjsFormatError: for any malformed manifest or data too short for it.
    """
    if isinstance(manifest, dict):
        manifest = manifest.get("weightsManifest")
    groups = parse_manifest(manifest, file="manifest")
    if len(buffers) != len(groups):
        raise TfjsFormatError(f"{len(groups)} groups in the manifest but {len(buffers)} buffers given", file="manifest")
    mem = []
    for g, b in zip(groups, buffers, strict=False):
        parts = list(b) if isinstance(b, (list, tuple)) else [b]
        mem.append(MemoryGroup(parts, [f"group {g.index} buffer {i}" for i in range(len(parts))]))
    model = Model(manifest, groups, mem, warn_trailing=True)
    return {name: model[name] for name in model.specs}

