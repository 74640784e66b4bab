"""Argument checks of the public functions: a clear TypeError instead of a failure deep inside."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["check_arg", "check_path"]


def check_arg(func: str, name: str, value: Any, types: type | tuple[type, ...], expected: str) -> None:
    """Raise ``TypeError("func(): name must be expected, got T")`` unless ``value`` is one of ``types``.

    A bool is not accepted as an int unless ``bool`` is listed.
    """
    kinds = types if isinstance(types, tuple) else (types,)
    if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds and int in kinds):
        return
    raise TypeError(f"{func}(): {name} must be {expected}, got {type(value).__name__}")


def check_path(func: str, name: str, value: Any) -> None:
    """A file or directory argument: ``str`` or ``os.PathLike``."""
    check_arg(func, name, value, (str, os.PathLike), "a path (str or os.PathLike)")
