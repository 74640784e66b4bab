"""Bounded reading of manifests, and gzip-compressed files read transparently.

Some hosts store model files gzip-compressed under their plain names (the bytes
a server sends with ``Content-Encoding: gzip``). They are read as if plain:

- **model.json**: valid JSON text never starts with the gzip magic ``1f 8b``,
  so a manifest that does is gunzipped.
- **A shard**: raw weight bytes can start with ``1f 8b 08`` by chance (a float32
  whose low bytes are those), so the magic alone decides nothing. Only a shard
  that starts with the magic (and is long enough to be a gzip member) is ever
  gunzipped, and then when its name ends in ``.gz``, or when its group's raw
  size does not match the manifest while the sizes the gzip trailers state
  (``ISIZE``) do. A ``.gz`` name without the magic is read as it is. For a
  group holding strings, whose size the manifest does not state, the group is
  gunzipped when its raw bytes cannot be laid out exactly. A raw shard whose
  size matches the manifest is never decompressed.

Limits, so that a hostile file cannot exhaust memory or time:

- A manifest larger than ``max_manifest_bytes`` (an argument of
  :func:`tfjs_codec.load`, default :data:`MAX_MANIFEST_BYTES`, 64 MiB), plain
  or once gunzipped, is refused before it is parsed, from every source: a
  local file, an archive member (its stated size is checked first, then at
  most the limit is read) and an HTTP response (``Content-Length`` first, then
  the body as it arrives). Parsing JSON takes memory many times its size (up
  to ~20 bytes per input byte for ``[{},{},...]``), and real model.json files
  are a few MB at most (topology and manifest only; the weights are in the
  shards).
- :data:`MAX_GUNZIP_BYTES` (1 GiB): the most one compressed shard may expand to.
  Decompression is streamed and stops at the size the trailer states, so a
  lying trailer or a "zip bomb" costs at most that much.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from typing import BinaryIO

from .errors import TfjsFormatError

__all__ = [
    "GZIP_MAGIC",
    "MAX_GUNZIP_BYTES",
    "MAX_MANIFEST_BYTES",
    "check_manifest_size",
    "gunzip",
    "gzip_candidates",
    "manifest_limit",
    "manifest_text",
    "read_bounded",
    "read_manifest_bytes",
]

#: The default largest model.json (or bare manifest) read, in bytes, before or after gunzip.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024

#: Largest size one gzip-compressed shard may decompress to.
MAX_GUNZIP_BYTES = 1 << 30

#: The first bytes of a gzip member (magic + the deflate method).
GZIP_MAGIC = b"\x1f\x8b\x08"

#: A gzip member is at least a 10-byte header, an empty deflate block and an 8-byte trailer.
_GZIP_MIN = 20

_CHUNK = 1 << 20


def manifest_limit(max_manifest_bytes: int | None) -> int:
    """The manifest size limit of a call: ``max_manifest_bytes``, or :data:`MAX_MANIFEST_BYTES` for None.

    Raises:
        TypeError: not an int.
        ValueError: not positive.
    """
    if max_manifest_bytes is None:
        return MAX_MANIFEST_BYTES
    if isinstance(max_manifest_bytes, bool) or not isinstance(max_manifest_bytes, int):
        raise TypeError(f"max_manifest_bytes must be an int, got {type(max_manifest_bytes).__name__}")
    if max_manifest_bytes <= 0:
        raise ValueError(f"max_manifest_bytes must be a positive number of bytes, got {max_manifest_bytes}")
    return max_manifest_bytes


def too_big_message(limit: int) -> str:
    """The reason given for a manifest over ``limit`` bytes, whatever its source."""
    return f"larger than {limit} bytes, the limit for a manifest (pass max_manifest_bytes= to read a larger one)"


def check_manifest_size(size: int, limit: int, *, file: str) -> None:
    """Refuse a manifest of ``size`` bytes (as stated or as read) over ``limit``.

    Raises:
        TfjsFormatError: ``size > limit``.
    """
    if size > limit:
        raise TfjsFormatError(too_big_message(limit), file=file)


def read_bounded(f: BinaryIO, limit: int, *, size_hint: int = 0) -> bytes:
    """Read ``f`` to its end, but never more than ``limit + 1`` bytes.

    ``size_hint`` (the expected size) sets the read size, so that a small file
    does not allocate the whole limit up front.
    """
    step = min(max(size_hint, 1 << 16), limit + 1)
    parts, got = [], 0
    while got <= limit:
        part = f.read(min(step, limit + 1 - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def manifest_text(data: bytes, limit: int, *, file: str) -> bytes:
    """Manifest bytes as read (at most ``limit + 1`` of them): size-checked, gunzipped when compressed.

    Raises:
        TfjsFormatError: over ``limit`` bytes, before or after gunzip; corrupt gzip data.
    """
    check_manifest_size(len(data), limit, file=file)
    if data.startswith(GZIP_MAGIC[:2]):
        data = gunzip(data, limit=limit, file=file, too_big=too_big_message(limit) + " once decompressed")
    return data


def read_manifest_bytes(path: str | os.PathLike[str], *, file: str, limit: int | None = None) -> bytes:
    """The bytes of a manifest file, gunzipped when compressed, within the size limit.

    Args:
        path: the file.
        file: its name, for errors.
        limit: the most bytes accepted (default :data:`MAX_MANIFEST_BYTES`).

    Raises:
        TfjsFormatError: unreadable, or larger than ``limit``.
    """
    limit = manifest_limit(limit)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            check_manifest_size(size, limit, file=file)
            data = read_bounded(f, limit, size_hint=size)
    except IsADirectoryError:
        raise TfjsFormatError("is a directory, not a manifest file", file=file) from None
    except OSError as exc:
        raise TfjsFormatError(f"cannot read: {exc.strerror}", file=file) from None
    return manifest_text(data, limit, file=file)


def gunzip(
    data: bytes | memoryview,
    *,
    limit: int,
    file: str,
    expect: int | None = None,
    too_big: str | None = None,
    truncated: Exception | None = None,
) -> bytes:
    """Decompress gzip data, streaming, never producing more than ``limit`` bytes.

    Args:
        data: the compressed bytes (one or more gzip members).
        limit: the most bytes accepted.
        file: the file name, for errors.
        expect: the exact size the result must have, when known.
        too_big: the message when ``limit`` is passed.
        truncated: raised instead of a TfjsFormatError when the data end
            before the gzip stream does (a caller that can fetch them again).

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
                    if truncated is not None:
                        raise truncated
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


def gzip_candidates(paths: Sequence[str], sizes: Sequence[int]) -> dict[int, int]:
    """Shards that look gzip-compressed: index -> the size their trailer states.

    A shard qualifies when it starts with :data:`GZIP_MAGIC` and is long enough
    to be a gzip member. Which of them are then really decompressed is decided
    by :func:`choose`.
    """
    found = {}
    for i, (path, size) in enumerate(zip(paths, sizes, strict=True)):
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
