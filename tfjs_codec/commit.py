"""The commit protocol of :func:`tfjs_codec.save`: new shards and manifest in place, atomically.

A crash at any point leaves the previous model loadable, bit-exact, or the new
one complete, never a mix:

1. every new shard is written to a temporary file in the target directory and
   fsynced (by a worker thread, while the next shard is written);
2. a shard whose target name is free is renamed to it; one whose name is taken
   by identical bytes is dropped (the existing file is kept, untouched); one
   whose name is taken by other bytes gets a fresh name
   (``group1-shard1of2-1a2b3c4d.bin``), since tfjs reads whatever ``paths`` says;
3. the manifest is written to a temporary file, fsynced, and renamed over the
   old one in one step (then the sidecars); the directory is fsynced;
4. only then are files removed, by the rule of :mod:`tfjs_codec.leftovers`:
   the old shards no manifest in the directory names any more, and leftovers of
   interrupted saves that no manifest names.

Steps 2 to 4 run under the directory's save lock (:mod:`tfjs_codec.dirlock`),
so saves into one directory commit one at a time: another save's cleanup never
sees a shard this one has renamed into place before its manifest names it, the
old shards are read from the manifest as it is when this save commits, and the
last save to commit wins whole. Step 1, the long one, runs in parallel; its
temporary files carry the process id, and no cleanup removes those of a live
process.

A failure before step 3 removes what this save created. Saving over files that
are currently mapped works: existing files are never written in place.
"""

from __future__ import annotations

import os
import posixpath
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .atomic import fsync_dir, temp_path, write_atomic
from .dirlock import DEFAULT_LOCK_TIMEOUT, directory_lock
from .errors import TfjsFormatWarning
from .leftovers import manifest_paths, stale, unfresh
from .manifest import check_path

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

__all__ = ["ShardSink", "commit"]


class ShardSink(Protocol):
    """Where one shard's bytes go."""

    def write(self, data: memoryview) -> object: ...

    def close(self) -> None: ...


#: ``open_shard(group index, shard index, byte size)`` -> a sink for that shard.
OpenShard = Callable[[int, int, int], ShardSink]

_SYNC_POOL: tuple[int, Executor] | None = None
_SYNC_POOL_LOCK = threading.Lock()


def _sync_pool() -> Executor:
    """One thread that fsyncs finished shards while the next ones are written.

    Made anew in a forked child (the parent's thread does not exist there).
    """
    global _SYNC_POOL
    with _SYNC_POOL_LOCK:
        if _SYNC_POOL is None or _SYNC_POOL[0] != os.getpid():
            from concurrent.futures import ThreadPoolExecutor

            _SYNC_POOL = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="tfjs_codec-fsync"))
        return _SYNC_POOL[1]


class _FileSink:
    """A new shard file; ``close`` hands its fsync to a worker thread, ``wait`` joins it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f = open(path, "xb")  # noqa: SIM115 (closed by the fsync thread)
        self._synced: Future[None] | None = None

    def write(self, data: memoryview) -> None:
        self._f.write(data)

    def close(self) -> None:
        if self._synced is None:
            self._f.flush()
            self._synced = _sync_pool().submit(self._sync_and_close)

    def _sync_and_close(self) -> None:
        try:
            os.fsync(self._f.fileno())
        finally:
            self._f.close()

    def wait(self) -> None:
        """Block until the file is on disk and closed; re-raise an fsync failure."""
        if self._synced is None:
            self._f.close()
        else:
            self._synced.result()


def _same_file_bytes(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x = fa.read(1 << 20)
                if x != fb.read(1 << 20):
                    return False
                if not x:
                    return True
    except OSError:
        return False


def _fresh_name(directory: Path, path: str) -> str:
    stem, ext = posixpath.splitext(unfresh(path))
    while True:
        candidate = f"{stem}-{os.urandom(4).hex()}{ext}"
        if not (directory / candidate).exists():
            return candidate


def _old_shards(manifest_path: Path) -> set[str]:
    """The shards the manifest being replaced names (none when it cannot be read)."""
    if not manifest_path.exists():
        return set()
    return manifest_paths(manifest_path) or set()


def commit(
    manifest_path: Path,
    paths: Sequence[list[str]],
    write_shards: Callable[[OpenShard], None],
    render: Callable[[Sequence[Sequence[str]]], bytes],
    sidecars: Mapping[str, bytes],
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Write a model into ``manifest_path``'s directory with the protocol above.

    Args:
        manifest_path: the manifest file to write.
        paths: per group, the planned shard paths; updated in place when a
            shard gets a fresh name.
        write_shards: writes every shard's bytes through the ``open_shard`` it is given.
        render: the manifest's bytes for the final shard paths.
        sidecars: files to write next to the manifest (when their bytes differ).
        lock_timeout: seconds to wait for another save of the directory to commit.

    Raises:
        OSError: the directory cannot be written; the previous model is intact.
        TimeoutError: (an OSError) another save held the directory's lock for
            longer than ``lock_timeout``; nothing of this save is left behind.
    """
    directory = manifest_path.parent
    token = os.urandom(4).hex()
    temps: list[Path] = []
    created: list[Path] = []
    shard_temps: dict[tuple[int, int], Path] = {}
    sinks: list[_FileSink] = []

    def open_shard(gi: int, si: int, nbytes: int) -> _FileSink:
        temp = temp_path(directory, f"{token}-{gi}-{si}")
        temps.append(temp)
        shard_temps[(gi, si)] = temp
        sinks.append(_FileSink(temp))
        return sinks[-1]

    committed = False
    try:
        try:
            write_shards(open_shard)
        except BaseException:
            for sink in sinks:
                try:
                    sink.wait()
                except OSError:
                    pass  # the first failure is the one to report
            raise
        for sink in sinks:  # every shard durable (and closed) before any rename
            sink.wait()
        with directory_lock(directory, timeout=lock_timeout):
            old = _old_shards(manifest_path)  # as it is now: another save may have committed meanwhile
            for gi, group_paths in enumerate(paths):
                for si, want in enumerate(group_paths):
                    temp = shard_temps[(gi, si)]
                    rel = check_path(want)
                    target = directory / rel
                    if target.exists():
                        if _same_file_bytes(temp, target):
                            temp.unlink()
                            continue
                        rel = _fresh_name(directory, rel)
                        group_paths[si] = rel
                        target = directory / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(temp, target)
                    created.append(target)
            write_atomic(manifest_path, render(paths), sync_dir=False)
            committed = True  # from here on the new shards are the model: never remove them
            for name, data in sidecars.items():
                target = directory / name
                if not (target.is_file() and target.read_bytes() == data):
                    write_atomic(target, data, sync_dir=False)
            fsync_dir(directory)
            keep = {check_path(p) for group_paths in paths for p in group_paths}
            for path in stale(directory, manifest_path.name, old, keep):
                _remove_quietly(path)
    except BaseException:
        for path in temps + ([] if committed else created):
            try:
                path.unlink()
            except OSError:
                pass
        raise


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        warnings.warn(f"{path.name}: could not remove the old file: {exc.strerror}", TfjsFormatWarning, stacklevel=4)
