"""Write a file so that readers see the old content or the new, never a part."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_file", "TEMP_PREFIX"]

#: Temporary files of this package start with this; leftovers of a killed process can be recognized.
TEMP_PREFIX = ".tfjs_codec-"


@contextmanager
def atomic_file(target: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``target``; on success fsync it and rename it over ``target``.

    On an exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    temp = target.with_name(f"{TEMP_PREFIX}{os.urandom(4).hex()}-{target.name}.tmp")
    try:
        with open(temp, "xb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
