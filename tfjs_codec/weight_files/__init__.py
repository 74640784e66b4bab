"""Weight files PyTorch users keep: safetensors and npz (read and written with numpy only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .npz import read_npz, write_npz
from .safetensors import read_safetensors, write_safetensors

__all__ = [
    "read_safetensors",
    "write_safetensors",
    "read_npz",
    "write_npz",
    "read_weights_file",
    "write_weights_file",
    "WEIGHT_FILE_SUFFIXES",
]

WEIGHT_FILE_SUFFIXES = (".safetensors", ".npz")


def read_weights_file(path: str | Path) -> Mapping[str, Any]:
    """Read a ``.safetensors`` or ``.npz`` file as name -> array (lazily where possible)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".safetensors":
        return read_safetensors(path)
    if suffix == ".npz":
        return read_npz(path)
    raise ValueError(f"{path}: unknown weights file type {suffix!r}; expected .safetensors or .npz")


def write_weights_file(
    path: str | Path, weights: Mapping[str, Any], *, progress: Callable[[int, int], None] | None = None
) -> None:
    """Write name -> array to a ``.safetensors`` or ``.npz`` file, atomically."""
    suffix = Path(path).suffix.lower()
    if suffix == ".safetensors":
        write_safetensors(path, weights, progress=progress)
    elif suffix == ".npz":
        write_npz(path, weights)
    else:
        raise ValueError(f"{path}: unknown weights file type {suffix!r}; expected .safetensors or .npz")
