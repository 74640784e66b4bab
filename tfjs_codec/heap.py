"""The C heap's thresholds for a process that runs models: freed activations are reused, not refaulted.

A torch module run eagerly on the CPU allocates every activation with ``malloc`` and frees it
when the next layers no longer need it. glibc hands requests above its *mmap threshold* to the
kernel as fresh mappings and gives the top of its heap back (``brk``) once more than its *trim
threshold* lies free there; both thresholds move at run time (the mmap threshold rises to the
size of the largest mapped block freed so far, up to 32 MiB; the trim threshold follows at twice
that). For a network whose activations are a few MiB each, the heap then shrinks and grows again
on every call, and each regrowth is a page fault per 4 KiB page: measured on blazeface (256x256
input, 1 thread), 6,470 page faults and 25 ms a call, against 0 faults and 12 ms with the
thresholds below. tfjs' wasm backend never has that cost: its heap grows and is never returned.

:func:`keep_freed_memory` fixes both thresholds (``mallopt``): blocks up to 32 MiB come from the
heap, and the heap keeps up to 64 MiB free at its top instead of returning it, so a model's
activations reuse the pages of the previous call's. The price is that freed memory up to that
much stays with the process (what a program that runs models again and again wants). It changes
the whole process's heap, so :func:`tfjs_codec.torch.to_module` calls it once, and
``TFJS_CODEC_MALLOPT=0`` in the environment (read at the call) leaves the heap as it is. Elsewhere
than glibc (musl, macOS, Windows) it does nothing. Computed values never depend on it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

#: Blocks up to this size come from the heap (glibc's dynamic mmap threshold's ceiling on 64-bit systems).
MMAP_THRESHOLD = 32 << 20
#: Free memory at the top of the heap up to this size is kept (what glibc's dynamic rule reaches: twice the above).
TRIM_THRESHOLD = 64 << 20

_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_done: bool | None = None


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None  # not glibc: musl's malloc has no such thresholds
    return libc


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds to :data:`MMAP_THRESHOLD` and :data:`TRIM_THRESHOLD`,
    once per process.

    Returns:
        Whether the thresholds are set (False on other C libraries, with ``TFJS_CODEC_MALLOPT=0``,
        or when glibc refused them).
    """
    global _done
    if _done is not None:
        return _done
    if os.environ.get("TFJS_CODEC_MALLOPT", "1") == "0":
        return False
    libc = _glibc()
    if libc is None:
        _done = False
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
