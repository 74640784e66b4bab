"""One save at a time per directory: an advisory lock, and which temporary files are still in use.

Two writers saving into one directory (a training loop checkpointing while a
notebook re-saves, two workers exporting to one folder) must not remove each
other's files: a save's cleanup removes files no manifest names, and a file
another save has just renamed into place is such a file until that save's
manifest lands. So the part of a save that touches names other saves can see
(renaming shards into place, replacing the manifest and sidecars, removing
what is stale) runs under an exclusive lock on :data:`LOCK_NAME` in the
directory: ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows. Writing the
shards' bytes, the long part, runs outside it, into temporary files whose names
carry the writer's process id (:func:`tfjs_codec.atomic.temp_path`); cleanup
never removes a temporary file of a live process (:func:`temp_owner_alive`).

The lock dies with its process (a writer killed mid-commit releases it), so it
never blocks forever. The holder removes the lock file when it is done (not on
Windows, where an open file cannot be removed); one left by a killed writer is
taken over by the next save. It is not a model file and not a leftover:
:func:`tfjs_codec.verify.verify`, ``inspect`` and ``load(directory)`` ignore it.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .atomic import TEMP_PREFIX
from .errors import TfjsFormatWarning

__all__ = ["DEFAULT_LOCK_TIMEOUT", "LOCK_NAME", "directory_lock", "temp_owner_alive"]

#: The lock file of a model directory.
LOCK_NAME = ".tfjs_codec.lock"

#: Seconds a save waits for another save of the same directory to finish its commit.
DEFAULT_LOCK_TIMEOUT = 60.0

_TEMP_PID = re.compile(r"^" + re.escape(TEMP_PREFIX) + r"p(\d+)-")


@contextmanager
def directory_lock(directory: Path, *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the directory's save lock for the duration of the ``with`` block.

    The lock file exists while a save commits and is removed by its holder on
    release (on POSIX), so a directory between saves holds only the model. A
    waiter that locked a file its holder has just removed sees that the name
    now points elsewhere (or nowhere) and locks again.

    Args:
        directory: the model directory (it must exist).
        timeout: seconds to wait for another holder before giving up.

    Raises:
        TimeoutError: another writer held the lock for longer than ``timeout``;
            the message names the directory and the holder (process id, host,
            since when).
        OSError: the lock file cannot be created (a read-only directory).
    """
    path = directory / LOCK_NAME
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _wait_for_lock(fd, path, directory, deadline, timeout)
        except BaseException:
            os.close(fd)
            raise
        if _still_named(fd, path):
            break
        os.close(fd)  # the holder removed the file we locked: lock the current one
    try:
        _write_holder(fd)
        yield
    finally:
        try:
            if _REMOVE_ON_RELEASE:
                path.unlink(missing_ok=True)
        finally:
            _unlock(fd)
            os.close(fd)


def _wait_for_lock(fd: int, path: Path, directory: Path, deadline: float, timeout: float) -> None:
    pause = 0.002
    while not _try_lock(fd):
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"{directory}: another save of this directory holds {LOCK_NAME} ({_holder(path)}) "
                f"and did not finish within {timeout:g} s"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _still_named(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


def temp_owner_alive(name: str) -> bool:
    """Whether the temporary file ``name`` belongs to a process that is still running.

    Names without a process id (written by older versions) belong to nobody.
    A process id that cannot be checked counts as alive: a file is kept rather
    than taken from a writer.
    """
    m = _TEMP_PID.match(name)
    if m is None:
        return False
    return _alive(int(m.group(1)))


# --------------------------------------------------------------------------
# platform parts

_REMOVE_ON_RELEASE = sys.platform != "win32"

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

    def _alive(pid: int) -> bool:
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return bool(code.value == 259)  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_LOCKS:
                raise
            _warn_unlocked(exc)  # a file system without locks: save as before, unserialized
        return True

    def _unlock(fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as exc:
            if exc.errno not in _NO_LOCKS:
                raise

    def _alive(pid: int) -> bool:
        if pid == os.getpid():
            return True  # another thread's save in this process
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True  # exists, owned by someone else
        return True


#: flock errors that mean "this file system has no locks" (some network and FUSE file systems).
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def _warn_unlocked(exc: OSError) -> None:
    warnings.warn(
        f"cannot lock {LOCK_NAME} ({exc.strerror}): saves into this directory from several processes at once "
        "are not serialized on this file system",
        TfjsFormatWarning,
        stacklevel=6,
    )


def _write_holder(fd: int) -> None:
    """Record who holds the lock, after byte 0 (the byte Windows locks), for the timeout message."""
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = f"\npid {os.getpid()} on {socket.gethostname()} since {since}\n".encode()
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text)
    os.ftruncate(fd, len(text))


def _holder(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(1)
            text = f.read(200).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "holder unknown"
