"""The one progress line: ``label: 1.5 / 12.0 MiB ( 12.5%)`` rewritten in place on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressLine"]

_UNITS = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def _unit(total: int) -> tuple[str, int]:
    for name, size in _UNITS:
        if total >= size:
            return name, size
    return "B", 1


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class ProgressLine:
    """Call as ``line(done, total)`` (or ``line(done)`` with ``total`` given here).

    Args:
        label: what is being done (``writing out.zip``, ``downloading x.bin``).
        total: the expected byte count, when known up front.
        stream: where the line goes (default ``sys.stderr``).
        enabled: True/False to force it on or off; None shows it when
            ``stream`` is a terminal.
        min_total: show nothing for jobs smaller than this many bytes.

    At most ten updates a second are written, and always the last; the line
    ends with a newline when ``done`` reaches ``total``.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        min_total: int = 0,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = _isatty(self.stream) if enabled is None else bool(enabled)
        self.label = label
        self.total = total
        self.min_total = min_total
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        total = self.total if total is None else total
        if not self.enabled or total is None or total < self.min_total:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        unit, size = _unit(total)
        pct = 100.0 * done / total if total else 100.0
        amount = f"{done} / {total} B" if size == 1 else f"{done / size:.1f} / {total / size:.1f} {unit}"
        self.stream.write(f"\r{self.label}: {amount} ({pct:5.1f}%)")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
