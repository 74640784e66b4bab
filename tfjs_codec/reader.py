"""Load models (from any source) and decode in-memory weights, as tfjs-core does.

:func:`load` dispatches over the sources (:mod:`tfjs_codec.sources`): a local
file or directory, an archive, a URL; each returns a :class:`~tfjs_codec.model.Model`.
Reading never needs the writer. Unquantized numeric weights are zero-copy views
of the mapped shards (copies only when they straddle a shard boundary and the
shards cannot be mapped back to back, see :mod:`tfjs_codec.shards`); quantized
and string weights are decoded on first access and cached.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from .arguments import check_arg, check_path
from .decode import decode_weight
from .errors import TfjsFormatError
from .manifest import parse_manifest
from .model import Model
from .shards import MemoryGroup
from .sources import option_problem, path_kind

if TYPE_CHECKING:
    from .sources.http_options import HttpOptions

__all__ = ["Model", "decode_weight", "decode_weights", "load"]


def load(
    path: str | os.PathLike[str],
    *,
    mmap: bool = True,
    warn_trailing: bool = True,
    member: str | None = None,
    max_manifest_bytes: int | None = None,
    http: HttpOptions | None = None,
    cache_dir: str | os.PathLike[str] | bool | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    max_response_bytes: int | None = None,
    progress: bool | None = None,
    progress_stream: TextIO | None = None,
    weight_path_prefix: str | None = None,
    weight_url_converter: Callable[[str], str] | None = None,
    offline: bool | None = None,
    headers: Mapping[str, str] | None = None,
    backoff: float | None = None,
) -> Model:
    """Open a TensorFlow.js model.

    Reads and validates the manifest and checks every shard's size against it;
    weight data are read only when a weight is first accessed.

    Args:
        path: a ``model.json`` file, a bare weights manifest (a JSON list of
            groups), or a directory holding one of them (``model.json``, else
            the one JSON file with a ``weightsManifest``); an archive (``.zip``,
            ``.tar``, ``.tar.gz``, ...) holding one; or an ``http(s)://`` URL
            of one (see :mod:`tfjs_codec.sources`).
        mmap: map shards copy-on-write (the default) and serve views of them;
            False reads each shard into memory on first use instead, which is
            safe when another process may truncate the files.
        warn_trailing: warn (``TfjsFormatWarning``) about bytes after a group's
            last weight.
        member: for an archive holding several models, the manifest's member name.
        max_manifest_bytes: refuse a manifest larger than this (plain or once
            gunzipped), from any source, without reading it whole; default
            :data:`tfjs_codec.gzipped.MAX_MANIFEST_BYTES` (64 MiB).
        http: URLs only: a :class:`~tfjs_codec.sources.http_options.HttpOptions`
            holding every option below; the keywords given override its fields.
        cache_dir: URLs: where to cache fetched bytes; None for the default
            (``$TFJS_CODEC_CACHE``, else ``~/.cache/tfjs_codec``), False for none.
        timeout: URLs: seconds per socket operation (default 30).
        retries: URLs: extra attempts after a transient failure (default 2).
        max_response_bytes: URLs: the largest response accepted (default 2 GiB).
        progress: URLs: force the download progress line on or off (default:
            on when stderr is a terminal).
        progress_stream: URLs: where the progress line goes (default stderr).
        weight_path_prefix: URLs: shard URLs are ``prefix + path`` (tfjs' ``weightPathPrefix``).
        weight_url_converter: URLs: ``f(path) -> url`` per shard (tfjs' ``weightUrlConverter``).
        offline: URLs: use the cache only, never the network.
        headers: URLs: extra request headers (e.g. ``Authorization``).
        backoff: URLs: seconds before the first retry, doubled for each next one.

    Returns:
        A :class:`Model`; use it as a context manager or call ``close()``.

    Raises:
        TfjsFormatError: a malformed or oversized manifest, a path leaving the
            model's directory, a missing shard, or shards shorter than the
            manifest needs.
        TypeError: an argument of the wrong type, or ``member`` / URL options
            the kind of path does not take.
    """
    check_path("load", "path", path)
    check_arg("load", "member", member, (str, type(None)), "a str or None")
    url_given: dict[str, Any] = {
        k: v
        for k, v in (
            ("cache_dir", cache_dir),
            ("timeout", timeout),
            ("retries", retries),
            ("max_response_bytes", max_response_bytes),
            ("progress", progress),
            ("progress_stream", progress_stream),
            ("weight_path_prefix", weight_path_prefix),
            ("weight_url_converter", weight_url_converter),
            ("offline", offline),
            ("headers", headers),
            ("backoff", backoff),
        )
        if v is not None
    }
    given = [*url_given, *(["http"] if http is not None else []), *(["member"] if member is not None else [])]
    problem = option_problem(path, given, lambda name: f"{name}=")
    if problem is not None:
        raise TypeError(f"load(): {problem}")
    kind = path_kind(path)
    if kind == "url":
        from .sources.http import load_url
        from .sources.http_options import HttpOptions

        if http is not None and not isinstance(http, HttpOptions):
            raise TypeError(f"load(): http must be an HttpOptions, got {type(http).__name__}")
        options = (http or HttpOptions()).updated(url_given)
        return load_url(os.fspath(path), warn_trailing=warn_trailing, max_manifest_bytes=max_manifest_bytes, http=options)
    if kind == "archive":
        from .sources.archive import load_archive

        return load_archive(path, member=member, warn_trailing=warn_trailing, max_manifest_bytes=max_manifest_bytes)
    from .sources.local import load_local

    return load_local(path, mmap=mmap, warn_trailing=warn_trailing, max_manifest_bytes=max_manifest_bytes)


def decode_weights(manifest: Any, buffers: Sequence[Any]) -> dict[str, np.ndarray]:
    """Decode in-memory weights, as ``tf.io.decodeWeights`` does; no files involved.

    Args:
        manifest: a ``weightsManifest`` list of groups, or a whole model.json
            object holding one.
        buffers: one entry per group: a list of that group's shard buffers in
            ``paths`` order, or a single bytes-like holding the whole group.

    Returns:
        name -> array, in manifest order. Unquantized numeric arrays are views
        of the given buffers (read-only for ``bytes``).

    Raises:
        TfjsFormatError: for any malformed manifest or data too short for it.
        TypeError: ``buffers`` is not a list or tuple.
    """
    check_arg("decode_weights", "buffers", buffers, (list, tuple), "a list of buffers, one per group")
    if isinstance(manifest, dict):
        manifest = manifest.get("weightsManifest")
    groups = parse_manifest(manifest, file="manifest")
    if len(buffers) != len(groups):
        raise TfjsFormatError(f"{len(groups)} groups in the manifest but {len(buffers)} buffers given", file="manifest")
    mem = []
    for g, b in zip(groups, buffers, strict=True):
        parts = list(b) if isinstance(b, (list, tuple)) else [b]
        mem.append(MemoryGroup(parts, [f"group {g.index} buffer {i}" for i in range(len(parts))]))
    model = Model(manifest, groups, mem, warn_trailing=True)
    return {name: model[name] for name in model.specs}
