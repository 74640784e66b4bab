"""Bounded reading of model.json, and gzip-compressed files read transparently.

Some hosts store model files gzip-compressed under their plain names (the bytes
a server sends with ``Content-Encoding: gzip``). They are read as if plain:

- **model.json**: valid JSON text never starts with the gzip magic ``1f 8b``,
  so a manifest that does is gunzipped.
- **A shard**: raw weight bytes can start with ``1f 8b 08`` by chance (a float32
  whose low bytes are those), so the magic alone decides nothing. A shard is
  read gunzipped when its name ends in ``.gz``, or when it starts with the magic
  and its group's raw size does not match the manifest while the sizes the gzip
  trailers state (``ISIZE``) do. For a group holding strings, whose size the
  manifest does not state, the group is gunzipped when its raw bytes cannot be
  laid out exactly and it has a shard with the magic. A raw shard whose size
  matches the manifest is never decompressed.

Limits, so that a hostile file cannot exhaust memory or time:

- :data:`MAX_MANIFEST_BYTES` (64 MiB): a manifest larger than this (plain or
  once gunzipped) is refused before it is parsed. Parsing JSON takes memory
  many times its size (up to ~20 bytes per input byte for ``[{},{},...]``), and
  real model.json files are a few MB at most (topology and manifest only; the
  weights are in the shards). Raise it on the module for a bigger legitimate one.
- :data:`MAX_GUNZIP_BYTES` (1 GiB): the most one compressed shard may expand to.
  Decompression is streamed and stops at the size the trailer states, so a
  lying trailer or a "zip bomb" costs at most that much.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence

from .errors import TfjsFormatError

__all__ = ["MAX_MANIFEST_BYTES", "MAX_GUNZIP_BYTES", "GZIP_MAGIC", "read_manifest_bytes", "gunzip", "gzip_candidates"]

#: Largest model.json (or bare manifest) read, in bytes, before or after gunzip.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024

#: Largest size one gzip-compressed shard may decompress to.
MAX_GUNZIP_BYTES = 1 << 30

#: The first bytes of a gzip member (magic + the deflate method).
GZIP_MAGIC = b"\x1f\x8b\x08"

#: A gzip member is at least a 10-byte header, an empty deflate block and an 8-byte trailer.
_GZIP_MIN = 20

_CHUNK = 1 << 20


def read_manifest_bytes(path: str | os.PathLike[str], *, file: str) -> bytes:
    """The bytes of a manifest file, gunzipped when compressed, within the size limit.

    Raises:
        TfjsFormatError: unreadable, or larger than :data:`MAX_MANIFEST_BYTES`.
    """
    limit = MAX_MANIFEST_BYTES
    try:
        with open(path, "rb") as f:
            # read(limit + 1) would allocate the whole limit up front, on every load
            step = min(max(os.fstat(f.fileno()).st_size, 1 << 16), limit + 1)
            parts, got = [], 0
            while got <= limit:
                part = f.read(min(step, limit + 1 - got))
                if not part:
                    break
                parts.append(part)
                got += len(part)
            data = b"".join(parts)
    except IsADirectoryError:
        raise TfjsFormatError("is a directory, not a manifest file", file=file) from None
    except OSError as exc:
        raise TfjsFormatError(f"cannot read: {exc.strerror}", file=file) from None
    if len(data) > limit:
        raise TfjsFormatError(_too_big(limit), file=file)
    if data.startswith(GZIP_MAGIC[:2]):
        data = gunzip(data, limit=limit, file=file, too_big=_too_big(limit) + " once decompressed")
    return data


def _too_big(limit: int) -> str:
    return (
        f"larger than {limit} bytes, the limit for a manifest "
        "(raise tfjs_codec.gzipped.MAX_MANIFEST_BYTES to read it)"
    )


def gunzip(data: bytes | memoryview, *, limit: int, file: str, expect: int | None = None, too_big: str | None = None) -> bytes:
    """Decompress gzip data, streaming, never producing more than ``limit`` bytes.

    Args:
        data: the compressed bytes (one or more gzip members).
        limit: the most bytes accepted.
        file: the file name, for errors.
        expect: the exact size the result must have, when known.
        too_big: the message when ``limit`` is passed.

    Raises:
        TfjsFormatError: corrupt or truncated gzip data, or more than ``limit``
            bytes (or not ``expect`` bytes) once decompressed.
    """
    out = bytearray()
    rest = bytes(data)
    try:
        while True:
            d = zlib.decompressobj(wbits=31)
            pending = rest
            while not d.eof:
                piece = d.decompress(pending, min(_CHUNK, limit + 1 - len(out)))
                out += piece
                if len(out) > limit:
                    raise TfjsFormatError(too_big or f"gzip data expand past {limit} bytes", file=file)
                pending = d.unconsumed_tail
                if not piece and not pending:
                    raise TfjsFormatError("gzip data end early (truncated file?)", file=file)
            rest = d.unused_data
            if not rest.startswith(GZIP_MAGIC[:2]):
                if any(rest):
                    raise TfjsFormatError(f"{len(rest)} bytes of garbage after the gzip data", file=file)
                break
    except zlib.error as exc:
        raise TfjsFormatError(f"corrupt gzip data: {exc}", file=file) from None
    if expect is not None and len(out) != expect:
        raise TfjsFormatError(f"gzip data expand to {len(out)} bytes, but the gzip trailer says {expect}", file=file)
    return bytes(out)


def _head_and_isize(path: str) -> tuple[bytes, int]:
    with open(path, "rb") as f:
        head = f.read(3)
        f.seek(-4, os.SEEK_END)
        return head, int.from_bytes(f.read(4), "little")


def gzip_candidates(paths: Sequence[str], names: Sequence[str], sizes: Sequence[int]) -> dict[int, int]:
    """Shards that look gzip-compressed: index -> the size their trailer states.

    A shard qualifies when it starts with :data:`GZIP_MAGIC` and is long enough
    to be a gzip member. Which of them are then really decompressed is decided
    by :func:`choose`.
    """
    found = {}
    for i, (path, size) in enumerate(zip(paths, sizes, strict=False)):
        if size < _GZIP_MIN:
            continue
        try:
            head, isize = _head_and_isize(path)
        except OSError:
            continue
        if head == GZIP_MAGIC:
            found[i] = isize
    return found


def choose(
    names: Sequence[str],
    sizes: Sequence[int],
    candidates: dict[int, int],
    needed: int | None,
    raw_fits: Callable[[], bool],
) -> set[int]:
    """The shards to gunzip (see the module docstring for the rule).

    Args:
        names: shard names as the manifest spells them.
        sizes: their sizes on disk.
        candidates: from :func:`gzip_candidates`.
        needed: the group's byte size the manifest implies, or None (strings).
        raw_fits: for ``needed`` None, whether the raw bytes lay out exactly.
    """
    named = {i for i in candidates if names[i].lower().endswith(".gz")}
    magic = set(candidates) - named
    if not magic:
        return named
    raw_total = sum(sizes[i] if i not in named else candidates[i] for i in range(len(sizes)))
    alt_total = sum(candidates[i] if i in candidates else sizes[i] for i in range(len(sizes)))
    if needed is not None:
        if raw_total == needed or alt_total != needed:
            return named
        return named | magic
    if not named and raw_fits():
        return set()
    return named | magic
