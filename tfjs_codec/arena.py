"""Blocks of memory that decoded weights are carved from.

Memory fresh from the kernel costs a page fault per 4 KiB page on first write,
which for a decoded model costs more than decoding it. numpy asks for
transparent huge pages (one fault per 2 MiB) only for allocations of 4 MiB or
more, and a 1024x1000 float32 kernel is just under that. Carving a model's
decoded weights out of blocks of up to :data:`BLOCK_BYTES` lets the kernel fault
them in huge pages where it can. A block lives as long as any array carved from
it; pages never written are never made resident.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np

__all__ = ["Arena", "BLOCK_BYTES"]

#: Largest block; the last block of a model is only as large as what is left.
BLOCK_BYTES = 64 << 20

#: Every array starts at a multiple of this many bytes into its block.
ALIGN = 64


class Arena:
    """Hands out new arrays carved from shared blocks."""

    def __init__(self, sizes: Iterable[int]) -> None:
        """``sizes``: the byte sizes of the arrays expected (bounds block sizes)."""
        self._left = sum(-(-n // ALIGN) * ALIGN for n in sizes)
        self._block: np.ndarray | None = None
        self._pos = 0
        self._lock = threading.Lock()

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised, writable, aligned array of ``shape`` and ``dtype``."""
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        need = -(-nbytes // ALIGN) * ALIGN
        with self._lock:
            if self._block is None or self._pos + need > self._block.size:
                self._block = np.empty(max(need, min(BLOCK_BYTES, self._left)) + ALIGN, dtype=np.uint8)
                self._pos = -self._block.ctypes.data % ALIGN
            start = self._pos
            self._pos += need
            self._left -= need
            block = self._block
        return block[start : start + nbytes].view(dtype).reshape(shape)
