"""numpy's ``.npz`` archives as a weights file (no pickles: string weights are refused)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_file
from ..errors import TfjsFormatError

__all__ = ["read_npz", "write_npz"]


class NpzFile(Mapping[str, np.ndarray]):
    """name -> array of an ``.npz`` file, each member read on access."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._npz = np.load(self.path, allow_pickle=False)
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise TfjsFormatError(f"not a readable .npz file: {exc}", file=self.path.name) from None

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            array: np.ndarray = self._npz[name]
            return array
        except ValueError as exc:
            raise TfjsFormatError(str(exc), file=self.path.name, weight=name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._npz.files)

    def __len__(self) -> int:
        return len(self._npz.files)


def read_npz(path: str | os.PathLike[str]) -> NpzFile:
    """Open an ``.npz`` file; members are read when accessed."""
    return NpzFile(path)


def write_npz(path: str | os.PathLike[str], weights: Mapping[str, Any]) -> None:
    """Write name -> array as an uncompressed ``.npz``, atomically."""
    path = Path(path)
    arrays = {}
    for name, value in weights.items():
        array = np.asarray(value)
        if array.dtype.kind == "O":
            raise TfjsFormatError(
                "string weights cannot be stored in .npz without pickling", file=path.name, weight=name, field="dtype"
            )
        arrays[name] = array
    # what np.savez does, without its keyword arguments: a weight may be named "file"
    with atomic_file(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
