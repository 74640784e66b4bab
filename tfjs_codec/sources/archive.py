"""Models inside ``.zip``, ``.tar``, ``.tar.gz`` (``.tgz``, ``.tar.bz2``, ``.tar.xz``) archives.

Nothing is extracted to disk. The archive file is mapped once, and:

- a *stored* (uncompressed) zip member, and any member of an uncompressed tar,
  is a slice of that map: weights are zero-copy views, as for loose files. The
  zip member's data offset comes from its local header (signature
  ``PK\\x03\\x04``; the data follow the 30-byte header, the name and the extra
  field). Stored members are not CRC-checked (that would read every byte).
- a *compressed* zip member (deflate, bzip2, lzma) is decompressed on demand,
  per weight: one seekable member stream per shard is kept open, so reading the
  weights in manifest order decompresses each shard once, and only up to the
  last weight read; a backward jump restarts that member's stream.
- a member of a compressed tar is decompressed as a whole shard on first use
  (gzip/bz2/xz streams cannot be entered in the middle) and kept in memory.

Member names that are absolute or contain a ``..`` component (zip-slip) make
the whole archive rejected, as do encrypted zip members used by the model.
``__MACOSX/`` entries are ignored when looking for the manifest.
"""

from __future__ import annotations

import mmap
import os
import posixpath
import re
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, BinaryIO

from ..atomic import TEMP_PREFIX, atomic_file
from ..errors import TfjsFormatError
from ..gzipped import check_manifest_size, manifest_limit, manifest_text, read_bounded
from ..manifest import looks_like_model_json, normalize_paths, parse_manifest, parse_model_json
from ..model import Model
from ..shards import GroupBuffer
from ..tfjs_format import SIDECAR_FILES
from . import ARCHIVE_SUFFIXES, is_archive_name, pick_manifest

__all__ = ["ARCHIVE_SUFFIXES", "ArchiveGroup", "is_archive_name", "load_archive", "save_archive"]

_WRITE_MODES = {
    ".zip": None,
    ".tar": "w",
    ".tar.gz": "w:gz",
    ".tgz": "w:gz",
    ".tar.bz2": "w:bz2",
    ".tbz2": "w:bz2",
    ".tar.xz": "w:xz",
    ".txz": "w:xz",
}
_ZIP_LOCAL_HEADER = b"PK\x03\x04"
_ZIP_LOCAL_HEADER_SIZE = 30
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def _suffix(path: str) -> str:
    name = path.lower()
    return max((s for s in ARCHIVE_SUFFIXES if name.endswith(s)), key=len)


def _check_member_name(name: str, archive: str) -> str:
    unified = name.replace("\\", "/")
    parts = unified.split("/")
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified) or ".." in parts or "\x00" in unified:
        raise TfjsFormatError(f"member {name!r} leaves the archive (absolute path or '..'); refusing the archive", file=archive)
    return posixpath.normpath(unified)


class _Member:
    """One regular member: its size and where its bytes are."""

    __slots__ = ("name", "size", "mapped_at", "handle", "compressed")

    def __init__(self, name: str, size: int, *, mapped_at: int | None, handle: Any, compressed: bool) -> None:
        self.name = name
        self.size = size
        self.mapped_at = mapped_at  # data offset in the archive file when stored uncompressed
        self.handle = handle  # ZipInfo or TarInfo
        self.compressed = compressed


class _Archive:
    """An open archive: its members, its file map, and per-member readers."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.label = os.path.basename(path)
        self._lock = threading.RLock()
        self._users = 0
        self._streams: dict[str, Any] = {}
        self._whole: dict[str, memoryview] = {}
        self._map: mmap.mmap | None = None
        self._view: memoryview | None = None
        try:
            self._file = open(path, "rb")
        except FileNotFoundError:
            raise TfjsFormatError("no such file", file=path) from None
        except OSError as exc:
            raise TfjsFormatError(f"cannot open: {exc.strerror}", file=path) from None
        try:
            size = os.fstat(self._file.fileno()).st_size
            if size:
                self._map = mmap.mmap(self._file.fileno(), size, access=mmap.ACCESS_COPY)
                self._view = memoryview(self._map)
            self.members: dict[str, _Member] = {}
            # by name: zipfile.is_zipfile also says yes to a tar ending with a zip member (an .npz)
            self.kind = "zip" if _suffix(path) == ".zip" else "tar"
            if self.kind == "zip":
                self._open_zip()
            else:
                self._open_tar()
        except BaseException:
            self._file.close()
            raise

    def _open_zip(self) -> None:
        try:
            self._zip: zipfile.ZipFile | None = zipfile.ZipFile(self._file)
        except (zipfile.BadZipFile, OSError) as exc:
            raise TfjsFormatError(f"not a readable zip archive: {exc}", file=self.label) from None
        for info in self._zip.infolist():
            name = _check_member_name(info.filename, self.label)
            if info.is_dir():
                continue
            stored = info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1
            at = self._zip_data_offset(info) if stored else None
            self.members[name] = _Member(name, info.file_size, mapped_at=at, handle=info, compressed=not stored)

    def _zip_data_offset(self, info: zipfile.ZipInfo) -> int:
        assert self._view is not None
        start = info.header_offset
        header = bytes(self._view[start : start + _ZIP_LOCAL_HEADER_SIZE])
        if len(header) < _ZIP_LOCAL_HEADER_SIZE or header[:4] != _ZIP_LOCAL_HEADER:
            raise TfjsFormatError(f"member {info.filename!r}: bad local header at offset {start}", file=self.label)
        name_len = int.from_bytes(header[26:28], "little")
        extra_len = int.from_bytes(header[28:30], "little")
        data = start + _ZIP_LOCAL_HEADER_SIZE + name_len + extra_len
        if data + info.file_size > len(self._view):
            raise TfjsFormatError(
                f"member {info.filename!r}: {info.file_size} bytes at offset {data} run past the end of the archive",
                file=self.label,
            )
        return data

    def _open_tar(self) -> None:
        self._zip = None
        head = self._file.read(6)
        self._file.seek(0)
        compressed = head.startswith(_COMPRESSED_MAGIC)
        try:
            self._tar: tarfile.TarFile = tarfile.open(fileobj=self._file, mode="r:*")
            infos = self._tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise TfjsFormatError(f"not a readable tar archive: {exc}", file=self.label) from None
        for info in infos:
            name = _check_member_name(info.name, self.label)
            if info.isdir():
                continue
            if not info.isreg():
                # links and devices are kept out: they could point anywhere
                continue
            plain = not compressed and not info.issparse()
            self.members[name] = _Member(
                name, info.size, mapped_at=info.offset_data if plain else None, handle=info, compressed=not plain
            )

    def member(self, name: str, *, what: str = "member") -> _Member:
        m = self.members.get(name)
        if m is None:
            raise TfjsFormatError(f"missing {what} (not in {self.label})", file=name)
        if self.kind == "zip" and m.handle.flag_bits & 0x1:
            raise TfjsFormatError(f"encrypted zip members are not supported (in {self.label})", file=name)
        return m

    def whole(self, m: _Member) -> memoryview:
        """All of a member's bytes: a view of the map, or decompressed once and kept."""
        if m.mapped_at is not None:
            if m.size == 0:
                return memoryview(bytearray())
            assert self._view is not None
            return self._view[m.mapped_at : m.mapped_at + m.size]
        with self._lock:
            view = self._whole.get(m.name)
            if view is None:
                view = memoryview(bytearray(self._read_all(m)))
                self._whole[m.name] = view
            return view

    def _read_all(self, m: _Member) -> bytes:
        try:
            if self._zip is not None:
                data = self._zip.read(m.handle)
            else:
                f = self._tar.extractfile(m.handle)
                data = f.read() if f is not None else b""
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, RuntimeError) as exc:
            raise TfjsFormatError(f"cannot decompress (in {self.label}): {exc}", file=m.name) from None
        if len(data) != m.size:
            raise TfjsFormatError(f"decompressed to {len(data)} bytes, the archive says {m.size} (in {self.label})", file=m.name)
        return data

    def read_bytes(self, m: _Member) -> bytes:
        """A copy of a member's bytes (decompressed, not kept)."""
        return bytes(self.whole(m)) if m.mapped_at is not None else self._read_all(m)

    def read_manifest(self, m: _Member, limit: int) -> bytes:
        """A manifest member's bytes, gunzipped when compressed, never reading more than ``limit + 1`` bytes.

        Raises:
            TfjsFormatError: the size the archive states, or the bytes read, over ``limit``.
        """
        file = posixpath.basename(m.name)
        check_manifest_size(m.size, limit, file=file)
        if m.mapped_at is not None:
            data = bytes(self.whole(m))
        else:
            try:
                with self._open_member(m) as f:
                    data = read_bounded(f, limit, size_hint=m.size)
            except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, RuntimeError) as exc:
                raise TfjsFormatError(f"cannot decompress (in {self.label}): {exc}", file=m.name) from None
        return manifest_text(data, limit, file=file)

    def _open_member(self, m: _Member) -> BinaryIO:
        if self._zip is not None:
            return self._zip.open(m.handle)  # type: ignore[return-value]
        f = self._tar.extractfile(m.handle)
        if f is None:
            raise TfjsFormatError(f"not a regular file (in {self.label})", file=m.name)
        return f  # type: ignore[return-value]

    def read_range(self, m: _Member, lo: int, hi: int) -> bytes:
        """Bytes ``[lo, hi)`` of a member, decompressing only what is needed."""
        if m.mapped_at is not None or self._zip is None or m.name in self._whole:
            return bytes(self.whole(m)[lo:hi])
        with self._lock:
            stream = self._streams.get(m.name)
            try:
                if stream is None:
                    stream = self._zip.open(m.handle)
                    self._streams[m.name] = stream
                stream.seek(lo)
                data = stream.read(hi - lo)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                self._streams.pop(m.name, None)
                raise TfjsFormatError(f"cannot decompress (in {self.label}): {exc}", file=m.name) from None
        if len(data) != hi - lo:
            raise TfjsFormatError(f"short member: expected bytes [{lo}, {hi}), got {len(data)} (in {self.label})", file=m.name)
        return data

    def acquire(self) -> None:
        with self._lock:
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            streams, self._streams = self._streams, {}
            self._whole = {}
        for s in streams.values():
            s.close()
        if self._zip is not None:
            self._zip.close()
        else:
            self._tar.close()
        if self._view is not None:
            try:
                self._view.release()
                assert self._map is not None
                self._map.close()
            except BufferError:
                pass  # arrays handed out still use the map; it lives until they are freed
        self._file.close()


class ArchiveGroup(GroupBuffer):
    """A manifest group whose shards are archive members.

    Stored members are served as zero-copy views of the mapped archive;
    compressed zip members through :meth:`view` ranges decompressed on demand.
    """

    def __init__(self, archive: _Archive, members: Sequence[_Member], names: Sequence[str]) -> None:
        super().__init__([m.size for m in members], names)
        self._archive = archive
        self._members = list(members)
        archive.acquire()
        self._closed = False

    def _shard(self, index: int) -> memoryview:
        return self._archive.whole(self._members[index])

    def _zero_copy(self, index: int) -> bool:
        return self._members[index].mapped_at is not None

    def _range(self, index: int, lo: int, hi: int) -> bytes:
        return self._archive.read_range(self._members[index], lo, hi)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._archive.release()


def _find_manifest(archive: _Archive, member: str | None, limit: int) -> str:
    if member is not None:
        name = _check_member_name(member, archive.label)
        archive.member(name)
        return name

    def is_model_json(name: str) -> bool:
        m = archive.members[name]
        if m.size > limit:
            return True  # cannot rule it out; loading it says it is too big
        try:
            return looks_like_model_json(archive.read_manifest(m, limit))
        except TfjsFormatError:
            return False

    return pick_manifest(
        archive.members, is_model_json, where=archive.label, what="the archive", choose="pass member= to choose one"
    )


def load_archive(
    path: str | os.PathLike[str], *, member: str | None = None, warn_trailing: bool = True, max_manifest_bytes: int | None = None
) -> Model:
    """Open a model inside an archive without extracting it.

    Args:
        path: a ``.zip`` / ``.tar`` / ``.tar.gz`` / ``.tgz`` / ``.tar.bz2`` /
            ``.tar.xz`` file.
        member: the manifest's member name, needed when the archive holds
            several models.
        warn_trailing: as for :func:`tfjs_codec.load`.
        max_manifest_bytes: as for :func:`tfjs_codec.load`; the size the
            archive states is checked before the member is read, and at most
            that many bytes are decompressed.

    Returns:
        A :class:`tfjs_codec.Model` whose ``source`` is ``"ARCHIVE!MEMBER"``
        and whose ``sidecars`` hold ``model_meta.json`` / ``metadata.json``
        found next to the manifest.

    Raises:
        TfjsFormatError: unreadable archive, zip-slip member names, no or
            several manifests, a missing shard member, malformed or oversized manifest.
    """
    limit = manifest_limit(max_manifest_bytes)
    archive = _Archive(os.fspath(path))
    try:
        name = _find_manifest(archive, member, limit)
        file = posixpath.basename(name)
        text = archive.read_manifest(archive.member(name), limit)
        document, manifest = parse_model_json(text, file=file)
        groups = parse_manifest(manifest, file=file)
        root = posixpath.dirname(name)
        buffers: list[ArchiveGroup] = []
        try:
            for g in groups:
                members = [
                    archive.member(posixpath.join(root, rel) if root else rel, what="shard file")
                    for rel in normalize_paths(g.paths)
                ]
                buffers.append(ArchiveGroup(archive, members, list(g.paths)))
            sidecars = {}
            for side in SIDECAR_FILES:
                full = posixpath.join(root, side) if root else side
                if full in archive.members:
                    sidecars[side] = archive.read_bytes(archive.members[full])
            model = Model(
                document,
                groups,
                buffers,
                path=Path(archive.path) / name,
                sidecars=sidecars,
                source=f"{archive.path}!{name}",
                manifest_bytes=text,
                warn_trailing=warn_trailing,
            )
        except BaseException:
            for b in buffers:
                b.close()
            raise
    finally:
        archive.acquire()
        archive.release()  # closes it when no group holds it (an error above, or no groups)
    return model


def save_archive(out: str | os.PathLike[str], save_dir: Callable[[Path], Path]) -> Path:
    """Write a model archive atomically.

    Args:
        out: the archive to write; its ending picks the kind (``.zip``: members
            stored uncompressed, so that loading maps them; ``.tar``,
            ``.tar.gz``, ...).
        save_dir: writes the model into the directory it is given (as
            :func:`tfjs_codec.save` does) and returns the manifest's path.

    Returns:
        ``out`` as a Path. Members are the manifest, the shards and the
        sidecars, at the archive's root, with fixed timestamps (for ``.zip``
        and ``.tar`` the same model gives the same archive bytes).
    """
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=target.parent) as tmp:
        work = Path(tmp) / "model"
        manifest_path = save_dir(work)
        _, manifest = parse_model_json(manifest_path.read_bytes(), file=manifest_path.name)
        names = [manifest_path.name]
        for g in parse_manifest(manifest, file=manifest_path.name):
            names += [p for p in normalize_paths(g.paths) if p not in names]
        names += [s for s in SIDECAR_FILES if (work / s).is_file()]
        mode = _WRITE_MODES[_suffix(target.name)]
        with atomic_file(target) as f:
            if mode is None:
                with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
                    for n in names:
                        zinfo = zipfile.ZipInfo(n, date_time=_FIXED_TIME)
                        zinfo.external_attr = 0o644 << 16
                        big = (work / n).stat().st_size >= 1 << 31
                        with open(work / n, "rb") as src, z.open(zinfo, "w", force_zip64=big) as dst:
                            _copy(src, dst)
            else:
                with tarfile.open(target.name, mode, fileobj=f, format=tarfile.PAX_FORMAT) as t:  # type: ignore[call-overload]
                    for n in names:
                        tinfo = tarfile.TarInfo(n)
                        tinfo.size = (work / n).stat().st_size
                        tinfo.mode = 0o644
                        with open(work / n, "rb") as src:
                            t.addfile(tinfo, src)
    return target


def _copy(src: IO[bytes], dst: IO[bytes]) -> None:
    while True:
        chunk = src.read(1 << 22)
        if not chunk:
            return
        dst.write(chunk)
