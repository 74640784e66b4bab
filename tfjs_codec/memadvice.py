"""What the kernel is told about fresh memory for decoded weights, so loads cost the same in every run.

Every 4 KiB page of a new anonymous mapping faults on first write. Asking for
transparent huge pages (``MADV_HUGEPAGE``) makes that one fault per 2 MiB, but
a 2 MiB fault can cost 20-40 times the 0.2 ms of zeroing 2 MiB, for either of
two reasons:

- when the kernel's ``transparent_hugepage/defrag`` setting is ``madvise``,
  ``defer+madvise`` or ``always`` (Linux's default is ``madvise``) and no free
  2 MiB page is left, the fault compacts memory synchronously;
- in a virtual machine that hands free memory back to its host (Linux's free
  page reporting, used by ``virtio_balloon`` when the host offers it, as
  Firecracker and QEMU can), blocks of 2 MiB and more that stayed free for ~2
  seconds are reported and the host drops them; a huge page cut from one then
  costs a host fault per 4 KiB under the guest's single fault. Measured on such
  a VM (``defrag = madvise``, ``compact_stall`` and ``thp_fault_fallback``
  unchanged throughout, so no compaction): 250 MiB of decodes (``np.take``
  into fresh 64 MiB blocks, 2 threads) took 138-221 ms in huge pages right
  after another process freed 600 MiB, and 544-720 ms when that memory had
  been reported (6 s later); in 4 KiB pages made present in one call per
  array, 215-257 ms in both cases.

So:

- where huge pages cannot stall (``defrag`` is ``defer`` or ``never``, and no
  free page reporting: :func:`huge_pages_cannot_stall`), they are asked for
  as before;
- elsewhere each decoded array's pages are made present before the decode
  writes them, 2 MiB at a time (``MADV_POPULATE_WRITE``, Linux 5.14), and the
  first 2 MiB step that takes longer than :data:`STALL_S` (a compaction or
  host faults) turns huge pages off for the rest of that memory and for the
  next :data:`STALL_BACKOFF_S` seconds: 4 KiB pages, present in one call each
  array. A load then pays at most one slow step, not one per 2 MiB.

Every call falls back silently: on kernels without these calls (``EINVAL``),
on other systems, or with ``TFJS_CODEC_MADVISE=0`` in the environment (or
:data:`ENABLED` set False), memory is advised and touched as before this
module existed (huge pages asked for, pages faulting one by one). Decoded
values never depend on any of this.

The page cache behind float32 loads (views of mapped shards) was measured too:
mapping a weight's pages in one ``MADV_POPULATE_READ`` costs what the faults
cost (31.8 ms against 30.9 ms for 250 MiB, median of 9; so does
``MADV_HUGEPAGE`` on the file mapping), so that path is left as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time

__all__ = [
    "ENABLED",
    "free_page_reporting",
    "huge_pages_cannot_stall",
    "huge_pages_worth_asking",
    "populate",
    "populate_huge",
    "thp_settings",
]

#: Set False (or TFJS_CODEC_MADVISE=0 in the environment) to advise nothing: every page faults on first use.
ENABLED = os.environ.get("TFJS_CODEC_MADVISE", "1") != "0"

MADV_NOHUGEPAGE = 15
MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_THP = "/sys/kernel/mm/transparent_hugepage/"
_PAGE_REPORTING = "/sys/module/page_reporting/parameters/"
#: log2 of a huge page in base pages (2 MiB / 4 KiB): reported blocks this small or larger hold huge pages.
_HUGE_ORDER = 9


def _libc_madvise() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return fn


_MADVISE = _libc_madvise()
#: advice -> still worth trying (False after the kernel refused it once)
_WORKS = {MADV_POPULATE_READ: True, MADV_POPULATE_WRITE: True}


def thp_settings() -> dict[str, str]:
    """The kernel's transparent huge page settings (the bracketed words of ``enabled`` and ``defrag``); empty elsewhere."""
    out = {}
    for name in ("enabled", "defrag"):
        try:
            with open(_THP + name) as f:
                text = f.read()
        except OSError:
            continue
        start, end = text.find("["), text.find("]")
        if 0 <= start < end:
            out[name] = text[start + 1 : end]
    return out


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def free_page_reporting() -> bool:
    """True when this kernel hands free blocks of huge-page size back to a hypervisor.

    Linux's free page reporting (``/sys/module/page_reporting``) reports free
    blocks of ``page_reporting_order`` and larger to the host, which drops them;
    ``reported_kib`` above zero says a driver (``virtio_balloon``) uses it.

    Returns:
        False where the files are absent (bare metal, other systems, older kernels).
    """
    order = _read_int(_PAGE_REPORTING + "page_reporting_order")
    reported = _read_int(_PAGE_REPORTING + "reported_kib")
    return order is not None and order <= _HUGE_ORDER and bool(reported)


def huge_pages_cannot_stall() -> bool:
    """True when ``MADV_HUGEPAGE`` gives huge pages without a slow fault: ``enabled`` is
    ``always`` or ``madvise``, ``defrag`` is ``defer`` or ``never`` (no compaction in the
    fault), and no free page reporting (:func:`free_page_reporting`: no host faults)."""
    s = thp_settings()
    return (
        ENABLED
        and s.get("enabled") in ("always", "madvise")
        and s.get("defrag") in ("defer", "never")
        and not free_page_reporting()
    )


def huge_pages_worth_asking() -> bool:
    """Whether to ask for huge pages now: the kernel has them, and either asking cannot stall or
    no stall was seen in the last :data:`STALL_BACKOFF_S` seconds (see :func:`populate_huge`)."""
    if not ENABLED:
        return True  # as before: ask, and let every fault take its chance
    s = thp_settings()
    if s.get("enabled") not in ("always", "madvise"):
        return False
    return huge_pages_cannot_stall() or time.monotonic() >= _huge_off_until


#: A 2 MiB step of :func:`populate_huge` slower than this compacted memory or took host faults (zeroing 2 MiB takes ~0.2 ms).
STALL_S = 0.002
#: After a stall, huge pages are not asked for during this many seconds (about one load; the next load tries again).
STALL_BACKOFF_S = 1.0
_huge_off_until = 0.0
HUGE = 2 << 20


def no_huge_pages(address: int, nbytes: int) -> None:
    """Advise ``MADV_NOHUGEPAGE`` for the whole pages inside ``[address, address + nbytes)``."""
    if _MADVISE is None or nbytes <= 0:
        return
    lo = address + (-address % _PAGE)
    hi = (address + nbytes) - (address + nbytes) % _PAGE
    if hi > lo:
        _MADVISE(lo, hi - lo, MADV_NOHUGEPAGE)  # type: ignore[operator]


def populate_huge(address: int, nbytes: int) -> bool | None:
    """:func:`populate` for writing, 2 MiB at a time, in memory advised ``MADV_HUGEPAGE``.

    Stops at the first step that took longer than :data:`STALL_S` (the kernel
    compacted memory to find a huge page, or the host faulted a reported block
    back in: the next steps would too), and then
    asks for no huge pages for :data:`STALL_BACKOFF_S` seconds.

    Returns:
        True when every page is present; False after a stall (the caller then
        advises ``MADV_NOHUGEPAGE`` for the rest, and populates it in 4 KiB
        pages); None where the kernel cannot populate (pages fault as before).
    """
    global _huge_off_until
    end = address + nbytes
    pos = address
    while pos < end:
        step = min(HUGE - pos % HUGE, end - pos)
        t0 = time.perf_counter()
        if not populate(pos, step, write=True):
            return None
        if time.perf_counter() - t0 > STALL_S:
            _huge_off_until = time.monotonic() + STALL_BACKOFF_S
            return False
        pos += step
    return True


def populate(address: int, nbytes: int, *, write: bool) -> bool:
    """Make the pages of ``[address, address + nbytes)`` present in one call.

    Args:
        address: the start (any alignment; widened to whole pages).
        nbytes: the length in bytes.
        write: prepare the pages for writing (fresh anonymous memory about to be
            filled) rather than reading (a mapped file about to be read).

    Returns:
        True when the kernel did it; False when it could not here (then pages
        fault one by one on first use, as without this call).
    """
    advice = MADV_POPULATE_WRITE if write else MADV_POPULATE_READ
    if not ENABLED or _MADVISE is None or nbytes <= 0 or not _WORKS[advice]:
        return False
    lo = address - address % _PAGE
    hi = address + nbytes
    hi += -hi % _PAGE
    if _MADVISE(lo, hi - lo, advice) == 0:  # type: ignore[operator]
        return True
    if ctypes.get_errno() in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not this kernel
        _WORKS[advice] = False
    return False
