"""Models on web servers: ``http://`` and ``https://`` URLs, standard library only.

:func:`load_url` reads ``model.json`` (or a bare weights manifest), learns
each shard's size with a ``HEAD`` request (up to :data:`PROBE_THREADS` at
once), and then fetches only the bytes of the weights that are read:

- with ``Range: bytes=a-b`` requests when the server honours them (``206``);
  a server that answers ``200`` sends the whole shard, which is then kept, and
  later reads from that server fetch whole shards;
- whole-shard and manifest requests accept ``Content-Encoding: gzip`` (range
  requests ask for ``identity``, since a range of a gzip stream is useless).

Every response is bounded (:mod:`tfjs_codec.sources.http_client`): a timeout
on each socket operation, a size cap (``max_response_bytes``; for the manifest,
``max_manifest_bytes`` as for local files, with the same message), checked
against ``Content-Length``, while reading and after gunzipping, and a bounded
number of retries (connection errors, timeouts, ``5xx``, ``408``, ``429``;
never ``404``). A connection closed early is an error naming the bytes
received; nothing partial is ever cached.

Cache (:mod:`tfjs_codec.sources.http_cache`). Unless ``cache_dir=False``,
the manifest and every fetched range are kept under ``cache_dir``, keyed by
URL and the server's validators (``ETag`` / ``Last-Modified``).

A second load revalidates the manifest (``If-None-Match`` /
``If-Modified-Since``; an unchanged manifest is also recognised by content) and
then trusts the cached shard sizes: no shard request at all, and cached ranges
are read from disk. When the server cannot be reached the cached manifest is
used, with a :class:`~tfjs_codec.TfjsFormatWarning`; ``offline=True`` never
touches the network. Nothing is evicted (delete the directory to clear it).

:func:`read_manifest_url` reads the manifest alone (one request, through the
same cache) for callers that need no shard bytes and no shard sizes, such as
``tfjs-codec inspect URL``.

Where the shards are. By default next to the manifest: each manifest path
(already checked to be a relative path inside the model's directory, so never
another host) is resolved against the manifest's URL. As in tfjs,
``weight_path_prefix`` replaces that base (``prefix + path``) and
``weight_url_converter(path) -> url`` decides per shard; either may name
another host, since the caller chose it.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import posixpath
import urllib.parse
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from ..errors import TfjsFormatError, TfjsFormatWarning
from ..gzipped import manifest_limit, manifest_text, too_big_message
from ..manifest import ManifestGroup, normalize_paths, parse_manifest, parse_model_json
from ..model import Model
from ..shards import GroupBuffer
from .http_cache import ManifestCache, ShardStore, cache_key, default_cache_dir, validators
from .http_client import Client, Response
from .http_options import HttpOptions

__all__ = ["HttpGroup", "HttpOptions", "UrlManifest", "default_cache_dir", "load_url", "read_manifest_url"]

#: Shard sizes are learnt with up to this many HEAD requests at a time.
PROBE_THREADS = 8

@dataclass
class _Shard:
    url: str
    name: str
    size: int
    etag: str | None
    last_modified: str | None
    store: ShardStore


class HttpGroup(GroupBuffer):
    """A manifest group whose shards are on a web server; bytes fetched on demand.

    :meth:`view` fetches only the missing part of the requested range (a
    ``Range`` request, or the whole shard from a server without range support)
    and returns a writable copy.
    """

    def __init__(self, shards: Sequence[_Shard], client: Client) -> None:
        super().__init__([s.size for s in shards], [s.name for s in shards])
        self._shards = list(shards)
        self._client = client

    def _shard(self, index: int) -> memoryview:
        return memoryview(bytearray(self._bytes(index, 0, self.sizes[index])))

    def _zero_copy(self, index: int) -> bool:
        return False

    def _range(self, index: int, lo: int, hi: int) -> bytes:
        return self._bytes(index, lo, hi)

    def _bytes(self, index: int, lo: int, hi: int) -> bytes:
        shard = self._shards[index]
        with shard.store.lock:
            for a, b in shard.store.missing(lo, hi):
                self._fetch(shard, a, b)
            return shard.store.get(lo, hi)

    def _fetch(self, shard: _Shard, lo: int, hi: int) -> None:
        client = self._client
        if client.options.offline:
            raise TfjsFormatError(f"bytes [{lo}, {hi}) are not in the cache and offline=True ({shard.url})", file=shard.name)
        origin = _origin(shard.url)
        if origin not in client.no_range and (lo, hi) != (0, shard.size):
            resp = client.request(shard.url, file=shard.name, headers={"Range": f"bytes={lo}-{hi - 1}"}, expect=hi - lo)
            if resp.status == 206:
                self._check_same(shard, resp)
                want = f"bytes {lo}-{hi - 1}/{shard.size}"
                got = resp.headers.get("content-range", "")
                if got.replace(" ", "") != want.replace(" ", "") or len(resp.body) != hi - lo:
                    raise TfjsFormatError(
                        f"asked for {want}, got Content-Range {got!r} with {len(resp.body)} bytes ({shard.url})", file=shard.name
                    )
                shard.store.put(lo, resp.body)
                return
            client.no_range.add(origin)
        else:
            resp = client.request(shard.url, file=shard.name, gzip_ok=True, expect=shard.size)
        self._check_same(shard, resp)
        if len(resp.body) != shard.size:
            raise TfjsFormatError(
                f"has {len(resp.body)} bytes on the server, {shard.size} when the model was opened ({shard.url})", file=shard.name
            )
        shard.store.put(0, resp.body)

    @staticmethod
    def _check_same(shard: _Shard, resp: Response) -> None:
        """Every validator the server gives must be what it was when the model was opened:
        ``ETag``, ``Last-Modified``, the total size in ``Content-Range`` and the
        ``Content-Length`` of a whole (not gzipped) shard."""
        change = None
        etag, modified = resp.headers.get("etag"), resp.headers.get("last-modified")
        if shard.etag and etag and etag.removeprefix("W/") != shard.etag.removeprefix("W/"):
            change = f"ETag {shard.etag} -> {etag}"
        elif shard.last_modified and modified and modified != shard.last_modified:
            change = f"Last-Modified {shard.last_modified} -> {modified}"
        elif resp.status == 206:
            total = resp.headers.get("content-range", "").rpartition("/")[2].strip()
            if total.isdigit() and int(total) != shard.size:
                change = f"size {shard.size} -> {total} bytes"
        elif resp.status == 200 and not resp.headers.get("content-encoding"):
            length = resp.headers.get("content-length", "").strip()
            if length.isdigit() and int(length) != shard.size:
                change = f"size {shard.size} -> {length} bytes"
        if change is not None:
            raise TfjsFormatError(
                f"changed on the server since the model was opened ({change}); load it again ({shard.url})", file=shard.name
            )


def _origin(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    return f"{p.scheme}://{p.netloc}".lower()


def _shard_urls(url: str, paths: Sequence[str], opts: HttpOptions, file: str, gi: int) -> list[str]:
    out = []
    for pi, (spelled, rel) in enumerate(zip(paths, normalize_paths(paths), strict=True)):
        if opts.weight_url_converter is not None:
            target = opts.weight_url_converter(spelled)
        elif opts.weight_path_prefix is not None:
            target = opts.weight_path_prefix + urllib.parse.quote(rel, safe="/%")
        else:
            target = urllib.parse.urljoin(url, urllib.parse.quote(rel, safe="/%"))
        if not isinstance(target, str) or urllib.parse.urlsplit(target).scheme.lower() not in ("http", "https"):
            raise TfjsFormatError(f"shard URL {target!r} is not http(s)", file=file, field=f"weightsManifest[{gi}].paths[{pi}]")
        out.append(target)
    return out



def load_url(
    url: str, *, warn_trailing: bool = True, max_manifest_bytes: int | None = None, http: HttpOptions | None = None
) -> Model:
    """Open a model on a web server, fetching weight bytes only when read.

    Args:
        url: the ``http(s)://`` URL of model.json or of a bare weights manifest.
        warn_trailing: as for :func:`tfjs_codec.load`.
        max_manifest_bytes: as for :func:`tfjs_codec.load`: a larger manifest
            is refused from its ``Content-Length``, or as soon as that many
            bytes have arrived.
        http: how to talk to the server (:class:`HttpOptions`; default: its defaults).

    Returns:
        A :class:`tfjs_codec.Model` whose ``source`` is ``url``; its
        ``sidecars`` are empty (no request is made for them).

    Raises:
        TfjsFormatError: an HTTP error, timeout, dropped connection or
            oversized response (naming the file and URL), a malformed or
            oversized manifest or one whose paths leave the model's directory,
            or a shard smaller than the manifest needs.
    """
    site = _Site(url, http, max_manifest_bytes)
    index, text, trusted = site.manifest()
    opts, client, cache, file = site.options, site.client, site.cache, site.file
    manifest_sha = hashlib.sha256(text).hexdigest()
    document, groups = _parse(text, file)
    known = index.get("shards", {}) if trusted else {}
    shards_meta: dict[str, dict[str, Any]] = {}
    buffers = []
    urls = [_shard_urls(url, g.paths, opts, file, g.index) for g in groups]
    unknown = {u: p for g, us in zip(groups, urls, strict=True) for p, u in zip(g.paths, us, strict=True) if u not in known}
    if unknown and opts.offline:
        first = next(iter(unknown))
        raise TfjsFormatError(f"shard sizes are not in the cache and offline=True ({first})", file=unknown[first])
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(PROBE_THREADS, max(1, len(unknown)))) as pool:
        probed = dict(zip(unknown, pool.map(lambda u: _probe(u, unknown[u], client), unknown), strict=True))
    for g, us in zip(groups, urls, strict=True):
        shards = []
        for spelled, surl in zip(g.paths, us, strict=True):
            meta = known.get(surl) or probed[surl]
            shards_meta[surl] = meta
            # without validators, a shard is only known to be the same while the manifest is
            version = (
                (meta.get("etag"), meta.get("last_modified")) if meta.get("etag") or meta.get("last_modified") else manifest_sha
            )
            store = ShardStore(meta["size"], cache, cache_key(surl, version, meta["size"]), surl)
            shards.append(_Shard(surl, spelled, meta["size"], meta.get("etag"), meta.get("last_modified"), store))
        buffers.append(HttpGroup(shards, client))
    blind = [u for u, meta in shards_meta.items() if not (meta.get("etag") or meta.get("last_modified"))]
    if blind:
        warnings.warn(
            f"{file}: the server sends neither ETag nor Last-Modified for {len(blind)} of {len(shards_meta)} shard(s) "
            f"({blind[0]}{', ...' if len(blind) > 1 else ''}): a shard changed on the server while the model is open "
            "cannot be detected",
            TfjsFormatWarning,
            stacklevel=3,
        )
    if site.cached is not None and not opts.offline:
        index["shards"] = shards_meta
        site.cached.write_index(index)
    return Model(
        document,
        groups,
        buffers,
        path=Path(PurePosixPath(urllib.parse.urlsplit(url).path or "/model.json")),
        source=url,
        manifest_bytes=text,
        warn_trailing=warn_trailing,
    )


def read_manifest_url(url: str, *, max_manifest_bytes: int | None = None, http: HttpOptions | None = None) -> UrlManifest:
    """Fetch and check model.json (or a bare weights manifest) alone: no shard request.

    One ``GET`` of the manifest (conditional when it is cached, none with
    ``offline=True``), through the same cache as :func:`load_url`; a later
    ``load`` of the same URL reuses it.

    Args:
        url: the ``http(s)://`` URL of model.json or of a bare weights manifest.
        max_manifest_bytes: as for :func:`tfjs_codec.load`.
        http: how to talk to the server; ``weight_path_prefix`` and
            ``weight_url_converter`` do not matter here.

    Returns:
        A :class:`UrlManifest`: the file name, parsed document and validated groups.

    Raises:
        TfjsFormatError: as for :func:`load_url`, for the manifest.
    """
    site = _Site(url, http, max_manifest_bytes)
    _, text, _ = site.manifest()
    document, groups = _parse(text, site.file)
    return UrlManifest(url, site.file, document, groups, text)


class UrlManifest(NamedTuple):
    """A manifest read by :func:`read_manifest_url`.

    Attributes:
        url: where it came from.
        file: its file name (the URL path's last part), as errors name it.
        document: the parsed JSON (an object, or a list for a bare manifest).
        groups: the validated ``weightsManifest`` groups.
        text: the manifest's bytes.
    """

    url: str
    file: str
    document: Any
    groups: list[ManifestGroup]
    text: bytes




class _Site:
    """One model URL: its options, client, cache and manifest limit."""

    def __init__(self, url: str, http: HttpOptions | None, max_manifest_bytes: int | None) -> None:
        self.url = url
        self.options = http if http is not None else HttpOptions()
        self.options.check()
        self.limit = manifest_limit(max_manifest_bytes)
        self.client = Client(self.options)
        self.file = posixpath.basename(urllib.parse.urlsplit(url).path) or "model.json"
        self.cache: Path | None = None
        self.cached: ManifestCache | None = None
        cache_dir = self.options.cache_dir
        if cache_dir is not False:
            self.cache = default_cache_dir() if cache_dir is None or cache_dir is True else Path(cache_dir)
            self.cache.mkdir(parents=True, exist_ok=True)
            self.cached = ManifestCache(self.cache, url)

    def manifest(self) -> tuple[dict[str, Any], bytes, bool]:
        """The cache index, the manifest bytes, and whether cached shard sizes can be trusted."""
        url, file, limit = self.url, self.file, self.limit
        index, cached = self.cached.read() if self.cached is not None else ({}, None)
        if cached is not None and len(cached) > limit:
            index, cached = {}, None  # kept under a larger limit: not usable under this one
        if self.options.offline:
            if cached is None:
                raise TfjsFormatError(f"not in the cache and offline=True ({url})", file=file)
            return index, cached, True
        headers = {}
        if cached is not None:
            if index.get("etag"):
                headers["If-None-Match"] = index["etag"]
            if index.get("last_modified"):
                headers["If-Modified-Since"] = index["last_modified"]
        too_big = too_big_message(limit)
        try:
            resp = self.client.request(url, file=file, headers=headers, gzip_ok=True, cap=limit, too_big=too_big)
        except TfjsFormatError as exc:
            if cached is None or exc.reason.startswith(("HTTP 4", too_big)):
                raise
            warnings.warn(f"{file}: {exc.reason}; using the cached copy", TfjsFormatWarning, stacklevel=4)
            return index, cached, True
        if resp.status == 304 and cached is not None:
            return index, cached, True
        text = manifest_text(resp.body, limit, file=file)
        trusted = cached is not None and cached == text
        if self.cached is not None:
            shards = index.get("shards", {}) if trusted else {}
            index = self.cached.write(text, resp.headers, shards, same_bytes=trusted)
        return index, text, trusted


def _parse(text: bytes, file: str) -> tuple[Any, list[ManifestGroup]]:
    document, manifest = parse_model_json(text, file=file)
    _check_hosts(manifest, file)
    return document, parse_manifest(manifest, file=file)


def _check_hosts(manifest: Any, file: str) -> None:
    """Reject manifest paths that name a host: shards come from the model's place."""
    if not isinstance(manifest, list):
        return
    for gi, group in enumerate(manifest):
        paths = group.get("paths") if isinstance(group, dict) else None
        for pi, p in enumerate(paths if isinstance(paths, list) else []):
            if isinstance(p, str) and (p.startswith("//") or urllib.parse.urlsplit(p).netloc or "://" in p):
                raise TfjsFormatError(
                    f"path {p!r} points to another host; shard paths are relative to the manifest's URL "
                    "(weight_path_prefix or weight_url_converter say where else to fetch them)",
                    file=file,
                    field=f"weightsManifest[{gi}].paths[{pi}]",
                )


def _probe(url: str, file: str, client: Client) -> dict[str, Any]:
    """A shard's size and validators, from a HEAD request (or a 1-byte range)."""
    try:
        resp = client.request(url, file=file, method="HEAD")
        length = resp.headers.get("content-length")
        if length is not None and length.isdigit():
            return {"size": int(length), **validators(resp.headers)}
    except TfjsFormatError as exc:
        if not exc.reason.startswith(("HTTP 405", "HTTP 501")):
            raise
    resp = client.request(url, file=file, headers={"Range": "bytes=0-0"})
    if resp.status == 206:
        total = resp.headers.get("content-range", "").rpartition("/")[2]
        if total.isdigit():
            return {"size": int(total), **validators(resp.headers)}
    if resp.status == 200:
        return {"size": len(resp.body), **validators(resp.headers)}
    raise TfjsFormatError(f"cannot learn the size of {url}", file=file)
