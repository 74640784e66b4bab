"""Models in a local directory: a manifest file and its shard files, mapped lazily."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import TfjsFormatError
from ..gzipped import MAX_GUNZIP_BYTES, choose, gunzip, gzip_candidates, manifest_limit, read_bounded, read_manifest_bytes
from ..manifest import (
    ManifestGroup,
    group_nbytes,
    layout_group,
    looks_like_model_json,
    normalize_paths,
    parse_manifest,
    parse_model_json,
)
from ..model import Model
from ..shards import FileGroup, GroupBuffer, MemoryGroup
from ..tfjs_format import SIDECAR_FILES
from . import pick_manifest

__all__ = ["find_manifest", "load_local"]


def find_manifest(path: str | os.PathLike[str], *, limit: int | None = None) -> Path:
    """The manifest file named by ``path``: the file itself, or the one a directory holds.

    In a directory: ``model.json``, else the single bare weights manifest or
    other JSON file with a ``weightsManifest`` (see
    :func:`tfjs_codec.sources.pick_manifest`).

    Args:
        path: a file or a directory.
        limit: JSON files larger than this are not read to tell whether they
            are models (they count as candidates); default ``MAX_MANIFEST_BYTES``.

    Raises:
        TfjsFormatError: no such file, or no manifest or several in the directory.
    """
    p = Path(path)
    if p.is_dir():
        bound = manifest_limit(limit)

        def is_model_json(name: str) -> bool:
            try:
                with open(p / name, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    if size > bound:
                        return True  # cannot rule it out; loading it says it is too big
                    return looks_like_model_json(read_bounded(f, bound, size_hint=size))
            except OSError:
                return False

        files = [x.name for x in p.iterdir() if x.is_file()]
        return p / pick_manifest(files, is_model_json, where=str(p), what="the directory", choose="name one")
    if not p.exists():
        raise TfjsFormatError("no such file", file=str(p))
    return p


def load_local(
    path: str | os.PathLike[str], *, mmap: bool = True, warn_trailing: bool = True, max_manifest_bytes: int | None = None
) -> Model:
    """Open a model from a manifest file or a directory (see :func:`tfjs_codec.load`).

    Raises:
        TfjsFormatError: as for :func:`tfjs_codec.load`.
    """
    limit = manifest_limit(max_manifest_bytes)
    manifest_path = find_manifest(path, limit=limit)
    file = manifest_path.name
    text = read_manifest_bytes(manifest_path, file=file, limit=limit)
    document, manifest = parse_model_json(text, file=file)
    groups = parse_manifest(manifest, file=file)
    root = manifest_path.parent
    buffers: list[GroupBuffer] = []
    try:
        for g in groups:
            buffers.append(_open_group(root, g, mmap=mmap, file=file))
        sidecars = {}
        for name in SIDECAR_FILES:
            side = root / name
            if side.is_file():
                sidecars[name] = side.read_bytes()
        return Model(document, groups, buffers, path=manifest_path, sidecars=sidecars, warn_trailing=warn_trailing)
    except BaseException:
        for b in buffers:
            b.close()
        raise


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
            mode: int | None = os.stat(full).st_mode
        except OSError:
            mode = None  # FileGroup reports it
        if mode is not None and not stat.S_ISREG(mode):
            raise TfjsFormatError(
                f"path {group.paths[i]!r} is not a regular file",
                file=file,
                field=f"weightsManifest[{group.index}].paths[{i}]",
            )
        files.append(full)
    return _maybe_gunzip(FileGroup(files, list(group.paths), use_mmap=mmap), group, file)


def _maybe_gunzip(buf: FileGroup, group: ManifestGroup, file: str) -> GroupBuffer:
    """``buf``, or its shards in memory with the gzip-compressed ones gunzipped
    (the rule is in :mod:`tfjs_codec.gzipped`)."""
    needed = group_nbytes(group.entries)
    if needed == buf.total and not any(name.lower().endswith(".gz") for name in buf.names):
        return buf  # raw sizes match: nothing is gunzipped, and no shard need be opened now
    candidates = gzip_candidates(buf.paths, buf.sizes)
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
    for i, (path, name) in enumerate(zip(buf.paths, buf.names, strict=True)):
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
