"""Write a file so that readers see the old content or the new, never a part.

The one rule for every file this package writes (model.json, sidecars,
safetensors / npz exports, archives, the URL cache's index files): write a
temporary file next to the target, fsync it, rename it over the target, fsync
the directory. Shards, written while the next ones are produced, use the same
temporary names (:func:`temp_path`) and :func:`fsync_dir`; their commit is in
:mod:`tfjs_codec.commit`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["TEMP_PREFIX", "atomic_file", "fsync_dir", "temp_path", "write_atomic"]

#: Temporary files of this package start with this; leftovers of a killed process can be recognized.
TEMP_PREFIX = ".tfjs_codec-"

#: ... and end with this.
TEMP_SUFFIX = ".tmp"


def temp_path(directory: Path, label: str) -> Path:
    """A new temporary file name in ``directory``: ``TEMP_PREFIX`` + ``p`` + this process's id + a
    random token + ``label`` + ``TEMP_SUFFIX``. The process id tells another writer's cleanup that
    the file is still being written (:func:`tfjs_codec.dirlock.temp_owner_alive`)."""
    return directory / f"{TEMP_PREFIX}p{os.getpid()}-{os.urandom(4).hex()}-{label}{TEMP_SUFFIX}"


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make the renames done in ``directory`` durable (a no-op where directories cannot be opened)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(target: str | os.PathLike[str], *, sync_dir: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``target``; on success fsync it and rename it over ``target``.

    Args:
        target: the file to write.
        sync_dir: fsync the directory after the rename (False when the caller
            renames several files and syncs the directory once).

    Yields:
        The temporary file, open for writing bytes.

    On an exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    temp = temp_path(target.parent, target.name)
    try:
        with open(temp, "xb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(target.parent)


def write_atomic(target: str | os.PathLike[str], data: bytes, *, sync_dir: bool = True) -> None:
    """Replace ``target`` with ``data`` atomically (see :func:`atomic_file`)."""
    with atomic_file(target, sync_dir=sync_dir) as f:
        f.write(data)
