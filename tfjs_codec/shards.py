"""A group's shard files as one byte stream, served as views.

Each shard is mapped with ``mmap`` on first use (copy-on-write, so arrays are
writable without touching the file) or read into memory when mapping is off.
A range inside one shard is a zero-copy view; a range across a shard boundary
is copied, and only those bytes. Files must not be modified or truncated while
mapped: a shorter file makes access to the lost pages fail with SIGBUS, which is
why sizes are checked against the manifest before any view is created.
"""

from __future__ import annotations

import bisect
import mmap
import os
import threading
from collections.abc import Sequence

from .errors import TfjsFormatError

__all__ = ["GroupBuffer", "MemoryGroup", "FileGroup"]


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

    def shard_span(self, offset: int, nbytes: int) -> range:
        """Indices of the shards that hold bytes ``[offset, offset + nbytes)``."""
        if nbytes == 0:
            return range(0)
        first = bisect.bisect_right(self.starts, offset) - 1
        last = bisect.bisect_right(self.starts, offset + nbytes - 1) - 1
        return range(first, last + 1)

    def view(self, offset: int, nbytes: int) -> memoryview:
        """Bytes ``[offset, offset + nbytes)`` of the group.

        A zero-copy view of the shard when the range lies inside one shard
        (writable when the shard is), otherwise a new writable copy.
        """
        if offset < 0 or offset + nbytes > self.total:
            raise TfjsFormatError(f"range [{offset}, {offset + nbytes}) is outside the group's {self.total} bytes")
        span = self.shard_span(offset, nbytes)
        if len(span) == 0:
            return memoryview(bytearray())
        if len(span) == 1:
            i = span[0]
            start = offset - self.starts[i]
            return self._shard(i)[start : start + nbytes]
        out = bytearray(nbytes)
        pos = 0
        for i in span:
            lo = max(offset, self.starts[i]) - self.starts[i]
            hi = min(offset + nbytes, self.starts[i + 1]) - self.starts[i]
            out[pos : pos + hi - lo] = self._shard(i)[lo:hi]
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

    def __init__(self, paths: Sequence[str], names: Sequence[str], *, use_mmap: bool = True, manifest: str = "model.json") -> None:
        sizes = []
        for path, name in zip(paths, names):
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
