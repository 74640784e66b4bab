"""A group's shard files as one byte stream, served as views.

Two ways to map a group's files (both copy-on-write, so arrays are writable
without touching the files):

- Contiguous (POSIX, when every shard but the last is a multiple of the page
  size, as the converter's 4 MiB shards are): one address range is reserved for
  the whole group and each shard is mapped, on first use, into its slot with
  ``MAP_FIXED``. The group is then one run of bytes and every range, straddling
  a shard boundary or not, is a zero-copy view.
- Per shard (elsewhere, odd shard sizes, or :data:`MAP_CONTIGUOUS` False): each
  shard gets its own ``mmap``; a range inside one shard is a view, a range
  across a boundary is copied, and only those bytes.

With mapping off, shards are read into memory instead. Files must not be
modified or truncated while mapped: a shorter file makes access to the lost
pages fail with SIGBUS, which is why each shard's size is checked against the
manifest before it is mapped.
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
import os
import threading
from collections.abc import Iterator, Sequence

from .errors import TfjsFormatError

__all__ = ["GroupBuffer", "MemoryGroup", "FileGroup", "MAP_CONTIGUOUS"]

#: Map a group's shards back to back into one address range when possible.
#: Set to False to force per-shard mapping (to measure or debug the fallback).
MAP_CONTIGUOUS = True

_MAP_FIXED = 0x10  # the same value on Linux, macOS and the BSDs
_PROT_NONE = 0


def _load_libc_mmap() -> tuple[object, object] | None:
    if os.name != "posix" or not hasattr(mmap, "MAP_ANONYMOUS"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        map_, unmap = libc.mmap, libc.munmap
    except (OSError, AttributeError):
        return None
    map_.restype = ctypes.c_void_p
    map_.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_ssize_t]
    unmap.restype = ctypes.c_int
    unmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return map_, unmap


_LIBC = _load_libc_mmap()
_MAP_FAILED = ctypes.c_void_p(-1).value


class _Reservation:
    """An address range from ``mmap``; unmapped (with all it holds) when collected.

    The ctypes array exposing the range keeps this object alive, and every
    memoryview and numpy array made from it keeps the ctypes array alive.
    """

    def __init__(self, length: int) -> None:
        self.length = length
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        address = _LIBC[0](None, length, _PROT_NONE, flags, -1, 0)  # type: ignore[index,operator]
        if address is None or address == _MAP_FAILED:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot reserve {length} bytes of address space: {os.strerror(err)}")
        self.address: int = address

    def map_file(self, fd: int, start: int, nbytes: int) -> None:
        """Map ``nbytes`` of file ``fd`` copy-on-write at ``start`` in the range."""
        prot = mmap.PROT_READ | mmap.PROT_WRITE
        flags = mmap.MAP_PRIVATE | _MAP_FIXED
        got = _LIBC[0](self.address + start, nbytes, prot, flags, fd, 0)  # type: ignore[index,operator]
        if got != self.address + start:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def __del__(self) -> None:
        if _LIBC is not None and getattr(self, "address", None) is not None:
            _LIBC[1](self.address, self.length)  # type: ignore[operator]
            self.address = None  # type: ignore[assignment]


class GroupBuffer:
    """The concatenated shards of one manifest group.

    Subclasses provide ``_shard(i)``, a buffer of shard ``i``'s bytes.
    """

    def __init__(self, sizes: Sequence[int], names: Sequence[str]) -> None:
        self.sizes = list(sizes)
        self.names = list(names)
        self.starts = [0]
        for s in self.sizes:
            self.starts.append(self.starts[-1] + s)
        self.total = self.starts[-1]

    def _shard(self, index: int) -> memoryview:
        raise NotImplementedError

    def _whole(self, span: range) -> memoryview | None:
        """The whole group as one buffer, with the shards in ``span`` readable,
        or None when the shards are not laid out back to back in memory."""
        return None

    def shard_span(self, offset: int, nbytes: int) -> range:
        """Indices of the shards that hold bytes ``[offset, offset + nbytes)``."""
        if nbytes == 0:
            return range(0)
        first = bisect.bisect_right(self.starts, offset) - 1
        last = bisect.bisect_right(self.starts, offset + nbytes - 1) - 1
        return range(first, last + 1)

    def pieces(self, offset: int, nbytes: int) -> Iterator[tuple[int, int, int]]:
        """``(shard index, start, end)`` within each shard, for bytes ``[offset, offset + nbytes)`` of the group."""
        for i in self.shard_span(offset, nbytes):
            lo = max(offset, self.starts[i]) - self.starts[i]
            hi = min(offset + nbytes, self.starts[i + 1]) - self.starts[i]
            yield i, lo, hi

    def _zero_copy(self, index: int) -> bool:
        """True when slices of ``_shard(index)`` are views of bytes already at hand."""
        return True

    def _range(self, index: int, lo: int, hi: int) -> memoryview | bytes:
        """Bytes ``[lo, hi)`` of shard ``index``."""
        return self._shard(index)[lo:hi]

    def view(self, offset: int, nbytes: int) -> memoryview:
        """Bytes ``[offset, offset + nbytes)`` of the group.

        A zero-copy view when the group is mapped contiguously or the range
        lies inside one mapped shard (writable when the shard is), otherwise a
        new writable copy, assembled from the shards' pieces (fetched or
        decompressed by subclasses as needed).

        Raises:
            TfjsFormatError: the range is not inside the group.
        """
        if offset < 0 or nbytes < 0 or offset + nbytes > self.total:
            raise TfjsFormatError(f"range [{offset}, {offset + nbytes}) is outside the group's {self.total} bytes")
        span = self.shard_span(offset, nbytes)
        if len(span) == 0:
            return memoryview(bytearray())
        whole = self._whole(span)
        if whole is not None:
            return whole[offset : offset + nbytes]
        if len(span) == 1 and self._zero_copy(span[0]):
            i = span[0]
            start = offset - self.starts[i]
            return self._shard(i)[start : start + nbytes]
        out = bytearray(nbytes)
        pos = 0
        for i, lo, hi in self.pieces(offset, nbytes):
            out[pos : pos + hi - lo] = self._range(i, lo, hi)
            pos += hi - lo
        return memoryview(out)

    def read(self, offset: int, nbytes: int) -> bytes:
        """A copy of bytes ``[offset, offset + nbytes)``."""
        return bytes(self.view(offset, nbytes))

    def close(self) -> None:
        """Release what can be released; views handed out stay valid."""


class MemoryGroup(GroupBuffer):
    """A group held in memory: a list of bytes-like shards."""

    def __init__(self, buffers: Sequence[object], names: Sequence[str] | None = None) -> None:
        self._buffers = [memoryview(b).cast("B") for b in buffers]  # type: ignore[arg-type]
        super().__init__([b.nbytes for b in self._buffers], names or [f"buffer {i}" for i in range(len(buffers))])

    def _shard(self, index: int) -> memoryview:
        return self._buffers[index]


class FileGroup(GroupBuffer):
    """A group whose shards are files, mapped (or read) lazily, one by one."""

    def __init__(self, paths: Sequence[str], names: Sequence[str], *, use_mmap: bool = True) -> None:
        sizes = []
        for path, name in zip(paths, names, strict=True):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                raise TfjsFormatError("missing shard file", file=name) from None
            except OSError as exc:
                raise TfjsFormatError(f"cannot open shard file: {exc.strerror}", file=name) from None
            sizes.append(st.st_size)
        super().__init__(sizes, names)
        self.paths = list(paths)
        self.use_mmap = use_mmap
        self._maps: dict[int, memoryview] = {}
        self._raw: dict[int, object] = {}
        self._lock = threading.Lock()
        page = mmap.PAGESIZE
        #: True when the shards are mapped back to back into one address range.
        self.contiguous = bool(
            use_mmap
            and MAP_CONTIGUOUS
            and _LIBC is not None
            and self.total > 0
            and all(size % page == 0 for size in self.sizes[:-1])
        )
        self._reservation: _Reservation | None = None
        self._region: memoryview | None = None
        self._mapped: set[int] = set()

    def _whole(self, span: range) -> memoryview | None:
        if not self.contiguous:
            return None
        region, mapped = self._region, self._mapped
        if region is not None and all(i in mapped for i in span):
            return region
        with self._lock:
            if self._region is None:
                page = mmap.PAGESIZE
                length = -(-self.total // page) * page
                reservation = _Reservation(length)
                array = (ctypes.c_char * length).from_address(reservation.address)
                array._reservation = reservation  # type: ignore[attr-defined]  # unmapped when the last view dies
                self._reservation = reservation
                self._region = memoryview(array).cast("B")[: self.total]
            for i in span:
                if i not in self._mapped:
                    self._map_into(i)
                    self._mapped.add(i)
            return self._region

    def _map_into(self, index: int) -> None:
        path, name, expected = self.paths[index], self.names[index], self.sizes[index]
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise TfjsFormatError("missing shard file", file=name) from None
        try:
            size = os.fstat(fd).st_size
            if size != expected:
                raise TfjsFormatError(f"file changed size since the model was opened ({expected} -> {size} bytes)", file=name)
            if expected:
                self._reservation.map_file(fd, self.starts[index], expected)  # type: ignore[union-attr]
        finally:
            os.close(fd)

    def _shard(self, index: int) -> memoryview:
        view = self._maps.get(index)
        if view is not None:
            return view
        with self._lock:
            view = self._maps.get(index)
            if view is None:
                view = self._open(index)
                self._maps[index] = view
        return view

    def _open(self, index: int) -> memoryview:
        path, name, expected = self.paths[index], self.names[index], self.sizes[index]
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size != expected:
                    raise TfjsFormatError(f"file changed size since the model was opened ({expected} -> {size} bytes)", file=name)
                if expected == 0:
                    return memoryview(bytearray())
                if not self.use_mmap:
                    data = bytearray(expected)
                    got = f.readinto(data)
                    if got != expected:
                        raise TfjsFormatError(f"short read: expected {expected} bytes, got {got}", file=name)
                    return memoryview(data)
                m = mmap.mmap(f.fileno(), expected, access=mmap.ACCESS_COPY)
        except FileNotFoundError:
            raise TfjsFormatError("missing shard file", file=name) from None
        self._raw[index] = m
        return memoryview(m)

    def close(self) -> None:
        with self._lock:
            maps, self._maps = self._maps, {}
            raws, self._raw = self._raw, {}
            # Views handed out keep the reservation alive; it is unmapped with the last.
            self._region, self._reservation, self._mapped = None, None, set()
        for view in maps.values():
            try:
                view.release()
            except BufferError:
                pass  # an array still uses it; the map lives on until it is freed
        for m in raws.values():
            try:
                m.close()  # type: ignore[attr-defined]
            except BufferError:
                pass
