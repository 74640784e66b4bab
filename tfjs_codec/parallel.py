"""Split large numpy loops over a small shared thread pool.

numpy's gathers (``np.take``), casts and ufuncs with ``out=`` release the GIL
on large non-object arrays, so the decode of a big quantized weight, and the
arithmetic of quantizing one, can use more than one core without a compiled
extension: the work is cut into contiguous ranges, each written by one thread
into its own slice of the output. Every element is computed by the same numpy
call with the same operands as in one thread, so the result is the same, bit
for bit, whatever the number of threads.

The number of threads is ``min(number of usable CPUs, 4)``, or the value of the
environment variable ``TFJS_CODEC_THREADS`` (read at each split, so it can be
changed at any time; ``1`` turns the pool off). The calling thread does the
first range itself and waits for the others; the pool (``threads - 1`` workers)
is created on first use, shared by every caller, and made anew in a forked
child. Work running in a pool worker never waits on the pool (it runs its
ranges itself), so concurrent callers cannot deadlock it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

__all__ = ["THREADS_ENV", "MAX_THREADS", "threads", "run_split"]

#: The environment variable that sets the number of threads (a positive integer).
THREADS_ENV = "TFJS_CODEC_THREADS"

#: Threads used by default at most (the loops split here are bound by memory bandwidth).
MAX_THREADS = 4

_POOL: tuple[int, int, Executor] | None = None  # (pid, workers, pool)
_POOL_LOCK = threading.Lock()
_LOCAL = threading.local()


def _default_threads() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_THREADS))


def threads() -> int:
    """The number of threads a split uses: ``TFJS_CODEC_THREADS`` when set, else the default.

    Returns:
        A positive integer; 1 when called from a pool worker (no nested splits).

    Raises:
        ValueError: ``TFJS_CODEC_THREADS`` is set but not a positive integer.
    """
    if getattr(_LOCAL, "worker", False):
        return 1
    value = os.environ.get(THREADS_ENV)
    if value is None or value.strip() == "":
        return _default_threads()
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
    return count


def _mark_worker() -> None:
    _LOCAL.worker = True


def _reset_after_fork() -> None:
    """In a forked child: the parent's workers do not exist there, and its lock may be held."""
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _pool(workers: int) -> Executor:
    """The shared pool, with at least ``workers`` threads (made on first use, anew after a fork)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < workers:
            from concurrent.futures import ThreadPoolExecutor

            old = _POOL
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tfjs_codec", initializer=_mark_worker)
            _POOL = (os.getpid(), workers, pool)
            if old is not None and old[0] == os.getpid():
                old[2].shutdown(wait=False)  # its queued ranges still run; its threads then exit
        return _POOL[2]


def run_split(work: Callable[[int, int], None], total: int, *, grain: int, min_part: int, phase: int = 0) -> int:
    """Call ``work(start, stop)`` over contiguous ranges that cover ``range(total)``, concurrently.

    The ranges are disjoint; each but the first starts at ``phase`` plus a
    multiple of ``grain``; there are at most :func:`threads` of them, cut as
    evenly as the grain allows, and a total under twice ``min_part`` (or with
    no cut point inside) runs in one call in the calling thread. ``work`` must
    only write what its range owns.

    Args:
        work: called once per range, from the calling thread and pool workers.
        total: the number of elements to cover.
        grain: ranges start at ``phase`` plus multiples of this.
        min_part: the fewest elements worth a range of their own.
        phase: the offset of the cut points (``0 <= phase < grain``).

    Returns:
        The number of ranges used.

    Raises:
        BaseException: the first exception a range raised, once every range has
            finished (nothing writes after this returns or raises).
    """
    parts = min(threads(), total // max(min_part, 1)) if total > 0 else 1
    bounds = [0]
    for i in range(1, parts):  # the cut point nearest an even share
        cut = phase + (total * i // parts - phase + grain // 2) // grain * grain
        if bounds[-1] < cut < total:
            bounds.append(cut)
    bounds.append(total)
    parts = len(bounds) - 1
    if parts <= 1:
        work(0, total)
        return 1
    pool = _pool(parts - 1)
    futures: list[Future[None]] = []
    inline: list[tuple[int, int]] = []
    for i in range(1, parts):
        try:
            futures.append(pool.submit(work, bounds[i], bounds[i + 1]))
        except RuntimeError:  # the interpreter is shutting down: no new threads
            inline.append((bounds[i], bounds[i + 1]))
    error: BaseException | None = None
    for start, stop in [(bounds[0], bounds[1]), *inline]:
        try:
            work(start, stop)
        except BaseException as exc:
            error = error or exc
    for future in futures:
        try:
            future.result()
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error
    return parts
