"""The download cache of the URL source: manifests and the byte ranges of shards fetched so far.

Unless ``cache_dir=False``, fetched bytes are kept under ``cache_dir`` (default
:func:`default_cache_dir`):

- ``m-<hash of the model URL>.json`` + ``.manifest``: the manifest bytes, its
  validators (``ETag``, ``Last-Modified``), and each shard's URL, size and
  validators;
- ``s-<hash of shard URL + validators + size>.data`` (a sparse file of the
  shard's size) + ``.json`` (the byte ranges present). Bytes are written to the
  data file first (and fsynced); a range is listed (atomically, by rename) only
  once all of it is there, so nothing partial is ever trusted.

Nothing is evicted (delete the directory to clear it).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..atomic import write_atomic

__all__ = ["ManifestCache", "ShardStore", "cache_key", "default_cache_dir", "validators"]


def default_cache_dir() -> Path:
    """``$TFJS_CODEC_CACHE``, else ``$XDG_CACHE_HOME/tfjs_codec``, else ``~/.cache/tfjs_codec``."""
    env = os.environ.get("TFJS_CODEC_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tfjs_codec"


def validators(headers: Mapping[str, str]) -> dict[str, str | None]:
    """The response's ``ETag`` and ``Last-Modified``, as the cache records them."""
    return {"etag": headers.get("etag"), "last_modified": headers.get("last-modified")}


def cache_key(*parts: Any) -> str:
    """A file-name-safe digest of ``parts``."""
    return hashlib.sha256("\n".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:32]


def _write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj).encode("utf-8"))


class ManifestCache:
    """The cached manifest of one model URL: its bytes and index (validators, shard sizes)."""

    def __init__(self, directory: Path, url: str) -> None:
        self.index_path = directory / f"m-{cache_key(url)}.json"
        self.bytes_path = directory / f"m-{cache_key(url)}.manifest"
        self.url = url

    def read(self) -> tuple[dict[str, Any], bytes | None]:
        """The index and the manifest bytes; ``({}, None)`` when absent or not matching each other."""
        try:
            index = json.loads(self.index_path.read_text())
            cached = self.bytes_path.read_bytes()
        except (OSError, ValueError):
            return {}, None
        if not isinstance(index, dict) or index.get("sha256") != hashlib.sha256(cached).hexdigest():
            return {}, None
        return index, cached

    def write(self, text: bytes, headers: Mapping[str, str], shards: Mapping[str, Any], *, same_bytes: bool) -> dict[str, Any]:
        """Record a fetched manifest (its bytes unless ``same_bytes``) and return the new index."""
        if not same_bytes:
            write_atomic(self.bytes_path, text)
        index = {"url": self.url, **validators(headers), "sha256": hashlib.sha256(text).hexdigest(), "shards": dict(shards)}
        _write_json(self.index_path, index)
        return index

    def write_index(self, index: Mapping[str, Any]) -> None:
        """Replace the index (after the shard sizes were learnt)."""
        _write_json(self.index_path, index)


class ShardStore:
    """The bytes of one shard known so far: in the cache directory, or in memory (no cache)."""

    def __init__(self, size: int, directory: Path | None, key: str, url: str) -> None:
        self.size = size
        self.url = url
        self.lock = threading.Lock()
        self._mem: bytearray | None = None
        self.ranges: list[list[int]] = []
        self.data_path: Path | None = None
        self.meta_path: Path | None = None
        if directory is not None:
            self.data_path = directory / f"s-{key}.data"
            self.meta_path = directory / f"s-{key}.json"
            try:
                if self.data_path.stat().st_size == size:
                    self.ranges = self._recorded()
            except OSError:
                self.ranges = []

    def missing(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The sub-ranges of ``[lo, hi)`` not known yet."""
        gaps, pos = [], lo
        for a, b in self.ranges:
            if b <= pos or a >= hi:
                continue
            if a > pos:
                gaps.append((pos, a))
            pos = max(pos, b)
        if pos < hi:
            gaps.append((pos, hi))
        return gaps

    def put(self, lo: int, data: bytes) -> None:
        """Keep ``data`` as bytes ``[lo, lo + len(data))``; listed only once written and synced."""
        hi = lo + len(data)
        if self.data_path is None:
            if self._mem is None:
                self._mem = bytearray(self.size)
            self._mem[lo:hi] = data
        else:
            if not self.data_path.exists():
                with open(self.data_path, "wb") as f:
                    f.truncate(self.size)
            with open(self.data_path, "r+b") as f:
                f.seek(lo)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        known = self.ranges + [[lo, hi]]
        if self.meta_path is not None:
            known += self._recorded()  # what another loader of the same shard added meanwhile
        merged: list[list[int]] = []
        for a, b in sorted(known):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self.ranges = merged
        if self.meta_path is not None:
            _write_json(self.meta_path, {"url": self.url, "size": self.size, "ranges": merged})

    def _recorded(self) -> list[list[int]]:
        if self.meta_path is None:
            return []
        try:
            meta = json.loads(self.meta_path.read_text())
            return [list(map(int, r)) for r in meta.get("ranges", [])] if meta.get("size") == self.size else []
        except (OSError, ValueError, TypeError, AttributeError):
            return []

    def get(self, lo: int, hi: int) -> bytes:
        """Bytes ``[lo, hi)``, which must be known."""
        if self.data_path is None:
            assert self._mem is not None
            return bytes(self._mem[lo:hi])
        with open(self.data_path, "rb") as f:
            f.seek(lo)
            return f.read(hi - lo)
