"""Blocks of memory that decoded weights are carved from.

Memory fresh from the kernel costs a page fault per 4 KiB page on first write,
which for a decoded model costs more than decoding it. Decoded weights are
carved out of blocks of up to :data:`BLOCK_BYTES`, each its own anonymous
memory mapping (not the allocator's heap), and each array's pages are made
present before it is written (:func:`tfjs_codec.memadvice.populate`); huge
pages are asked for while they come without stalling the load (the rules are
in :mod:`tfjs_codec.memadvice`). A block lives as long as
any array carved from it and goes back to the kernel with the last one, so what
a load costs does not depend on what the process allocated and freed before (a
heap that earlier allocations left fragmented hands out 4 KiB pages). Where
anonymous mappings are not available the blocks are ordinary numpy arrays.
"""

from __future__ import annotations

import mmap
import threading
from collections.abc import Iterable

import numpy as np

from . import memadvice

__all__ = ["Arena", "BLOCK_BYTES", "new_block"]

#: Largest block; the last block of a model is only as large as what is left.
BLOCK_BYTES = 64 << 20

#: Every array starts at a multiple of this many bytes into its block.
ALIGN = 64

#: Blocks at least this large are anonymous mappings (smaller ones come from numpy).
MAP_MIN_BYTES = 1 << 20

#: Arrays at least this large get their pages in one call (smaller ones fault: a call costs more).
POPULATE_MIN_BYTES = 64 << 10

_ANONYMOUS = getattr(mmap, "MAP_ANONYMOUS", None)
_HUGEPAGE = getattr(mmap, "MADV_HUGEPAGE", None)


def new_block(nbytes: int) -> np.ndarray:
    """A writable uint8 array of ``nbytes`` bytes in memory of its own (see :func:`_new_block`)."""
    return _new_block(nbytes)[0]


def _new_block(nbytes: int) -> tuple[np.ndarray, bool]:
    """A writable uint8 array of ``nbytes`` bytes in memory of its own.

    Args:
        nbytes: the size in bytes.

    Returns:
        The block: an anonymous mapping when the platform has them and the
        block is large, else ``np.empty``; and whether transparent huge pages
        were asked for (:func:`tfjs_codec.memadvice.huge_pages_worth_asking`).
    """
    if nbytes >= MAP_MIN_BYTES and _ANONYMOUS is not None:
        try:
            region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | _ANONYMOUS)
        except (OSError, ValueError):
            pass
        else:
            huge = False
            if _HUGEPAGE is not None and memadvice.huge_pages_worth_asking():
                try:
                    region.madvise(_HUGEPAGE)
                    huge = True
                except OSError:
                    pass  # no transparent huge pages here: 4 KiB pages
            return np.frombuffer(region, dtype=np.uint8), huge
    return np.empty(nbytes, dtype=np.uint8), False


class Arena:
    """Hands out new arrays carved from shared blocks."""

    def __init__(self, sizes: Iterable[int]) -> None:
        """``sizes``: the byte sizes of the arrays expected (bounds block sizes)."""
        self._left = sum(-(-n // ALIGN) * ALIGN for n in sizes)
        self._block: np.ndarray | None = None
        self._huge = False  # the current block was advised MADV_HUGEPAGE
        self._pos = 0
        self._lock = threading.Lock()

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised, writable, aligned array of ``shape`` and ``dtype``."""
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        need = -(-nbytes // ALIGN) * ALIGN
        with self._lock:
            if self._block is None or self._pos + need > self._block.size:
                self._block, self._huge = _new_block(max(need, min(BLOCK_BYTES, self._left)) + ALIGN)
                self._pos = -self._block.ctypes.data % ALIGN
            start = self._pos
            self._pos += need
            self._left -= need
            block, huge = self._block, self._huge
        out = block[start : start + nbytes]
        if nbytes >= POPULATE_MIN_BYTES and memadvice.ENABLED:  # outside the lock: threads populate in parallel
            if not huge:
                memadvice.populate(out.ctypes.data, nbytes, write=True)
            elif memadvice.populate_huge(out.ctypes.data, nbytes) is False:
                # huge pages stall here now: the rest of the block in 4 KiB pages
                with self._lock:
                    if self._block is block:
                        self._huge = False
                memadvice.no_huge_pages(out.ctypes.data, block.size - start)
                memadvice.populate(out.ctypes.data, nbytes, write=True)
        return out.view(dtype).reshape(shape)
