"""Models on web servers: ``http://`` and ``https://`` URLs, standard library only.

:func:`load_url` reads ``model.json`` (or a bare weights manifest), learns
each shard's size with a ``HEAD`` request (up to :data:`PROBE_THREADS` at
once), and then fetches only the bytes of the weights that are read:

- with ``Range: bytes=a-b`` requests when the server honours them (``206``);
  a server that answers ``200`` sends the whole shard, which is then kept, and
  later reads from that server fetch whole shards;
- whole-shard and manifest requests accept ``Content-Encoding: gzip`` (range
  requests ask for ``identity``, since a range of a gzip stream is useless).

Every response is bounded: a timeout on each socket operation, a size cap
(``max_response_bytes``, checked against ``Content-Length`` and while reading,
and after gunzipping), and a bounded number of retries (connection errors,
timeouts, ``5xx``, ``408``, ``429``; never ``404``). A connection closed early
is an error naming the bytes received; nothing partial is ever cached.

Cache. Unless ``cache_dir=False``, fetched bytes are kept under ``cache_dir``
(default ``$TFJS_CODEC_CACHE``, else ``$XDG_CACHE_HOME/tfjs_codec``, else
``~/.cache/tfjs_codec``):

- ``m-<hash of the model URL>.json`` + ``.manifest``: the manifest bytes, its
  validators (``ETag``, ``Last-Modified``), and each shard's URL, size and
  validators;
- ``s-<hash of shard URL + validators + size>.data`` (a sparse file of the
  shard's size) + ``.json`` (the byte ranges present). Bytes are written to the
  data file first; a range is listed (atomically, by rename) only once all of
  it is there.

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
import http.client
import json
import os
import posixpath
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, TextIO

from ..errors import TfjsFormatError, TfjsFormatWarning
from ..manifest import ManifestGroup, normalize_paths, parse_manifest, parse_model_json
from ..shards import GroupBuffer

__all__ = ["HttpOptions", "HttpGroup", "UrlManifest", "load_url", "read_manifest_url", "default_cache_dir"]

#: Seconds each socket operation (connect, each read) may take.
DEFAULT_TIMEOUT = 30.0
#: Extra attempts after a failed request.
DEFAULT_RETRIES = 2
#: Largest response body accepted (after gunzipping): 2 GiB.
DEFAULT_MAX_RESPONSE_BYTES = 1 << 31
#: Responses at least this long show a progress line (when enabled).
PROGRESS_MIN_BYTES = 1 << 20
#: Shard sizes are learnt with up to this many HEAD requests at a time.
PROBE_THREADS = 8
_CHUNK = 1 << 16
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_USER_AGENT = "tfjs_codec (python urllib)"


def default_cache_dir() -> Path:
    """``$TFJS_CODEC_CACHE``, else ``$XDG_CACHE_HOME/tfjs_codec``, else ``~/.cache/tfjs_codec``."""
    env = os.environ.get("TFJS_CODEC_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tfjs_codec"


@dataclass
class HttpOptions:
    """How :func:`load_url` talks to servers (every field is a keyword of ``load``).

    Attributes:
        cache_dir: where to cache; None for :func:`default_cache_dir`, False
            for no cache (bytes are then kept in memory while the model is open).
        timeout: seconds per socket operation.
        retries: extra attempts after a failure that may be transient.
        max_response_bytes: the largest body accepted per response.
        progress: True/False to force the stderr progress line on or off;
            None shows it when stderr is a terminal.
        progress_stream: where the progress line goes (default ``sys.stderr``).
        weight_path_prefix: shard URLs are ``prefix + path`` (tfjs' ``weightPathPrefix``).
        weight_url_converter: ``f(path) -> url`` per shard (tfjs' ``weightUrlConverter``).
        offline: use the cache only; never touch the network.
        headers: extra request headers (e.g. ``Authorization``).
        backoff: seconds before the first retry (doubled for each next one).
    """

    cache_dir: str | os.PathLike[str] | bool | None = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    progress: bool | None = None
    progress_stream: TextIO | None = None
    weight_path_prefix: str | None = None
    weight_url_converter: Callable[[str], str] | None = None
    offline: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    backoff: float = 0.25


@dataclass
class _Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _Progress:
    def __init__(self, label: str, total: int | None, options: HttpOptions) -> None:
        stream = options.progress_stream or sys.stderr
        enabled = options.progress if options.progress is not None else _isatty(stream)
        self.on = bool(enabled) and total is not None and total >= PROGRESS_MIN_BYTES
        self.stream, self.label, self.total, self._last = stream, label, total or 0, 0.0

    def __call__(self, done: int) -> None:
        if not self.on:
            return
        now = time.monotonic()
        if done < self.total and now - self._last < 0.1:
            return
        self._last = now
        mib = 1024 * 1024
        self.stream.write(
            f"\rdownloading {self.label}: {done / mib:.1f} / {self.total / mib:.1f} MiB ({100.0 * done / self.total:5.1f}%)"
        )
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (CDNs use them) to http(s) URLs only."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl!r} refused (not http or https)", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


class _NoRetry(Exception):
    def __init__(self, error: TfjsFormatError) -> None:
        self.error = error


class _Client:
    """Requests with timeouts, retries, size caps and gzip."""

    def __init__(self, options: HttpOptions) -> None:
        self.options = options
        self.no_range: set[str] = set()  # origins that ignored a Range request

    def request(
        self,
        url: str,
        *,
        file: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        gzip_ok: bool = False,
        expect: int | None = None,
    ) -> _Response:
        """One request, retried when the failure may be transient.

        Raises:
            TfjsFormatError: naming ``file`` and the URL.
        """
        opts = self.options
        attempts = max(0, int(opts.retries)) + 1
        last = "no attempt"
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(opts.backoff * (2 ** (attempt - 1)), 5.0))
            try:
                return self._once(url, file=file, method=method, headers=headers or {}, gzip_ok=gzip_ok, expect=expect)
            except _NoRetry as stop:
                raise stop.error from None
            except urllib.error.HTTPError as exc:
                exc.close()  # its response holds the socket
                last = f"HTTP {exc.code} {exc.reason}"
                if exc.code not in _RETRY_STATUS:
                    raise TfjsFormatError(f"{last} from {url}", file=file) from None
            except TimeoutError:
                last = f"timed out after {opts.timeout:g} s"
            except urllib.error.URLError as exc:
                reason = exc.reason
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    last = f"timed out after {opts.timeout:g} s"
                else:
                    last = f"cannot connect: {getattr(reason, 'strerror', None) or reason}"
            except _Short as exc:
                last = str(exc)
            except (http.client.HTTPException, ConnectionError, OSError) as exc:
                last = f"connection failed: {exc.__class__.__name__}: {exc}"
        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        raise TfjsFormatError(f"{last} from {url} ({tries})", file=file)

    def _once(
        self, url: str, *, file: str, method: str, headers: Mapping[str, str], gzip_ok: bool, expect: int | None
    ) -> _Response:
        opts = self.options
        all_headers = {"User-Agent": _USER_AGENT, **opts.headers, **headers}
        all_headers["Accept-Encoding"] = "gzip" if gzip_ok else "identity"
        req = urllib.request.Request(url, method=method, headers=all_headers)
        try:
            opened = _OPENER.open(req, timeout=opts.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 304:
                raise
            exc.close()
            return _Response(304, {k.lower(): v for k, v in exc.headers.items()}, b"")
        with opened as resp:
            status = resp.status
            got = {k.lower(): v for k, v in resp.headers.items()}
            if method == "HEAD" or status == 304:
                return _Response(status, got, b"")
            encoding = got.get("content-encoding", "identity").lower()
            if encoding not in ("identity", "gzip", "x-gzip"):
                raise _NoRetry(TfjsFormatError(f"unsupported Content-Encoding {encoding!r} from {url}", file=file))
            cap = opts.max_response_bytes
            length = got.get("content-length")
            length_n = int(length) if length and length.isdigit() else None
            if length_n is not None and length_n > cap:
                raise _NoRetry(TfjsFormatError(f"response of {length_n} bytes is over the {cap}-byte limit ({url})", file=file))
            progress = _Progress(file, length_n if length_n is not None else expect, opts)
            body = bytearray()
            while True:
                try:
                    chunk = resp.read(min(_CHUNK, cap + 1 - len(body)))
                except http.client.IncompleteRead as exc:
                    body += exc.partial
                    chunk = b""
                if not chunk:
                    break
                body += chunk
                if len(body) > cap:
                    raise _NoRetry(TfjsFormatError(f"response is over the {cap}-byte limit ({url})", file=file))
                progress(len(body))
            if length_n is not None and len(body) != length_n:
                raise _Short(f"connection closed after {len(body)} of {length_n} bytes")
        if encoding != "identity":
            body = bytearray(_gunzip(bytes(body), cap, url=url, file=file))
        return _Response(status, got, bytes(body))


class _Short(Exception):
    pass


def _gunzip(data: bytes, cap: int, *, url: str, file: str) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, cap + 1)
    except zlib.error as exc:
        raise _NoRetry(TfjsFormatError(f"bad gzip data from {url}: {exc}", file=file)) from None
    if len(out) > cap or d.unconsumed_tail:
        raise _NoRetry(TfjsFormatError(f"gunzipped response is over the {cap}-byte limit ({url})", file=file))
    if not d.eof:
        raise _Short(f"gzip stream ends early ({len(data)} bytes received)")
    return out


def _validators(headers: Mapping[str, str]) -> dict[str, str | None]:
    return {"etag": headers.get("etag"), "last_modified": headers.get("last-modified")}


def _hash(*parts: Any) -> str:
    return hashlib.sha256("\n".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:32]


class _Store:
    """The bytes of one shard known so far: in the cache directory, or in memory."""

    def __init__(self, size: int, directory: Path | None, key: str, url: str) -> None:
        self.size = size
        self.lock = threading.Lock()
        self._mem: bytearray | None = None
        self.ranges: list[list[int]] = []
        self.data_path = self.meta_path = None
        if directory is not None:
            self.data_path = directory / f"s-{key}.data"
            self.meta_path = directory / f"s-{key}.json"
            self.url = url
            try:
                if self.data_path.stat().st_size == size:
                    self.ranges = self._recorded()
            except OSError:
                self.ranges = []

    def missing(self, lo: int, hi: int) -> list[tuple[int, int]]:
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
        try:
            meta = json.loads(self.meta_path.read_text())  # type: ignore[union-attr]
            return [list(map(int, r)) for r in meta.get("ranges", [])] if meta.get("size") == self.size else []
        except (OSError, ValueError, TypeError):
            return []

    def get(self, lo: int, hi: int) -> bytes:
        if self.data_path is None:
            assert self._mem is not None
            return bytes(self._mem[lo:hi])
        with open(self.data_path, "rb") as f:
            f.seek(lo)
            return f.read(hi - lo)


def _write_json(path: Path, obj: Any) -> None:
    _write_bytes(path, json.dumps(obj).encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


@dataclass
class _Shard:
    url: str
    name: str
    size: int
    etag: str | None
    last_modified: str | None
    store: _Store


class HttpGroup(GroupBuffer):
    """A manifest group whose shards are on a web server; bytes fetched on demand.

    :meth:`view` fetches only the missing part of the requested range (a
    ``Range`` request, or the whole shard from a server without range support)
    and returns a writable copy.
    """

    def __init__(self, shards: Sequence[_Shard], client: _Client) -> None:
        super().__init__([s.size for s in shards], [s.name for s in shards])
        self._shards = list(shards)
        self._client = client

    def _shard(self, index: int) -> memoryview:
        return memoryview(bytearray(self._bytes(index, 0, self.sizes[index])))

    def view(self, offset: int, nbytes: int) -> memoryview:
        if offset < 0 or offset + nbytes > self.total:
            raise TfjsFormatError(f"range [{offset}, {offset + nbytes}) is outside the group's {self.total} bytes")
        out = bytearray()
        for i in self.shard_span(offset, nbytes):
            lo = max(offset, self.starts[i]) - self.starts[i]
            hi = min(offset + nbytes, self.starts[i + 1]) - self.starts[i]
            out += self._bytes(i, lo, hi)
        return memoryview(out)

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
    def _check_same(shard: _Shard, resp: _Response) -> None:
        etag = resp.headers.get("etag")
        if shard.etag and etag and etag.removeprefix("W/") != shard.etag.removeprefix("W/"):
            raise TfjsFormatError(
                f"changed on the server since the model was opened (ETag {shard.etag} -> {etag}); load it again ({shard.url})",
                file=shard.name,
            )


def _origin(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    return f"{p.scheme}://{p.netloc}".lower()


def _shard_urls(url: str, paths: Sequence[str], opts: HttpOptions, file: str, gi: int) -> list[str]:
    out = []
    for pi, (spelled, rel) in enumerate(zip(paths, normalize_paths(paths), strict=False)):
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
    url: str,
    *,
    warn_trailing: bool = True,
    **options: Any,
) -> Any:
    """Open a model on a web server, fetching weight bytes only when read.

    Args:
        url: the ``http(s)://`` URL of model.json or of a bare weights manifest.
        warn_trailing: as for :func:`tfjs_codec.load`.
        **options: the fields of :class:`HttpOptions` (``cache_dir``,
            ``timeout``, ``retries``, ``max_response_bytes``, ``progress``,
            ``weight_path_prefix``, ``weight_url_converter``, ``offline``,
            ``headers``, ``backoff``).

    Returns:
        A :class:`tfjs_codec.Model` whose ``source`` is ``url``; its
        ``sidecars`` are empty (no request is made for them).

    Raises:
        TfjsFormatError: an HTTP error, timeout, dropped connection or
            oversized response (naming the file and URL), a malformed manifest
            or one whose paths leave the model's directory, or a shard smaller
            than the manifest needs.
        TypeError: an unknown option.
    """
    from ..reader import Model

    opts, client, cache, file = _setup(url, options)
    index, text, trusted = _manifest(url, file, client, cache)
    manifest_sha = hashlib.sha256(text).hexdigest()
    document, groups = _parse(text, file)
    known = index.get("shards", {}) if trusted else {}
    shards_meta: dict[str, dict[str, Any]] = {}
    buffers = []
    urls = [_shard_urls(url, g.paths, opts, file, g.index) for g in groups]
    unknown = {u: p for g, us in zip(groups, urls, strict=False) for p, u in zip(g.paths, us, strict=False) if u not in known}
    if unknown and opts.offline:
        raise TfjsFormatError(
            f"shard sizes are not in the cache and offline=True ({next(iter(unknown))})", file=unknown[next(iter(unknown))]
        )
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(PROBE_THREADS, max(1, len(unknown)))) as pool:
        probed = dict(zip(unknown, pool.map(lambda u: _probe(u, unknown[u], client), unknown), strict=False))
    for g, us in zip(groups, urls, strict=False):
        shards = []
        for spelled, surl in zip(g.paths, us, strict=False):
            meta = known.get(surl) or probed[surl]
            shards_meta[surl] = meta
            # without validators, a shard is only known to be the same while the manifest is
            version = (
                (meta.get("etag"), meta.get("last_modified")) if meta.get("etag") or meta.get("last_modified") else manifest_sha
            )
            key = _hash(surl, version, meta["size"])
            store = _Store(meta["size"], cache, key, surl)
            shards.append(_Shard(surl, spelled, meta["size"], meta.get("etag"), meta.get("last_modified"), store))
        buffers.append(HttpGroup(shards, client))
    if cache is not None and not opts.offline:
        index["shards"] = shards_meta
        _write_json(cache / f"m-{_hash(url)}.json", index)
    model = Model(
        document,
        groups,
        buffers,
        path=Path(PurePosixPath(urllib.parse.urlsplit(url).path or "/model.json")),
        warn_trailing=warn_trailing,
    )
    model.source = url
    model.manifest_bytes = text
    return model


def read_manifest_url(url: str, **options: Any) -> UrlManifest:
    """Fetch and check model.json (or a bare weights manifest) alone: no shard request.

    One ``GET`` of the manifest (conditional when it is cached, none with
    ``offline=True``), through the same cache as :func:`load_url`; a later
    ``load`` of the same URL reuses it.

    Args:
        url: the ``http(s)://`` URL of model.json or of a bare weights manifest.
        **options: the fields of :class:`HttpOptions`; only ``cache_dir``,
            ``timeout``, ``retries``, ``max_response_bytes``, ``progress``,
            ``progress_stream``, ``offline``, ``headers`` and ``backoff`` matter here.

    Returns:
        A :class:`UrlManifest`: the file name, parsed document and validated groups.

    Raises:
        TfjsFormatError: as for :func:`load_url`, for the manifest.
        TypeError: an unknown option.
    """
    _, client, cache, file = _setup(url, options)
    _, text, _ = _manifest(url, file, client, cache)
    document, groups = _parse(text, file)
    return UrlManifest(url, file, document, groups, text)


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


def _setup(url: str, options: Mapping[str, Any]) -> tuple[HttpOptions, _Client, Path | None, str]:
    """The options, client, cache directory (created) and manifest file name for ``url``."""
    try:
        opts = HttpOptions(**options)
    except TypeError as exc:
        raise TypeError(f"load({url!r}): {exc}") from None
    cache = None
    if opts.cache_dir is not False:
        cache = Path(default_cache_dir() if opts.cache_dir in (None, True) else opts.cache_dir)  # type: ignore[arg-type]
        cache.mkdir(parents=True, exist_ok=True)
    file = posixpath.basename(urllib.parse.urlsplit(url).path) or "model.json"
    return opts, _Client(opts), cache, file


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


def _manifest(url: str, file: str, client: _Client, cache: Path | None) -> tuple[dict[str, Any], bytes, bool]:
    """The manifest bytes, the cache index, and whether cached shard sizes can be trusted."""
    index: dict[str, Any] = {}
    cached: bytes | None = None
    if cache is not None:
        try:
            index = json.loads((cache / f"m-{_hash(url)}.json").read_text())
            cached = (cache / f"m-{_hash(url)}.manifest").read_bytes()
            if index.get("sha256") != hashlib.sha256(cached).hexdigest():
                index, cached = {}, None
        except (OSError, ValueError):
            index, cached = {}, None
    if client.options.offline:
        if cached is None:
            raise TfjsFormatError(f"not in the cache and offline=True ({url})", file=file)
        return index, cached, True
    headers = {}
    if cached is not None:
        if index.get("etag"):
            headers["If-None-Match"] = index["etag"]
        if index.get("last_modified"):
            headers["If-Modified-Since"] = index["last_modified"]
    try:
        resp = client.request(url, file=file, headers=headers, gzip_ok=True)
    except TfjsFormatError as exc:
        if cached is None or exc.reason.startswith("HTTP 4"):
            raise
        warnings.warn(f"{file}: {exc.reason}; using the cached copy", TfjsFormatWarning, stacklevel=4)
        return index, cached, True
    if resp.status == 304 and cached is not None:
        return index, cached, True
    text = resp.body
    trusted = cached is not None and cached == text
    if cache is not None:
        if not trusted:
            _write_bytes(cache / f"m-{_hash(url)}.manifest", text)
        index = {
            "url": url,
            **_validators(resp.headers),
            "sha256": hashlib.sha256(text).hexdigest(),
            "shards": index.get("shards", {}) if trusted else {},
        }
        _write_json(cache / f"m-{_hash(url)}.json", index)
    return index, text, trusted


def _probe(url: str, file: str, client: _Client) -> dict[str, Any]:
    """A shard's size and validators, from a HEAD request (or a 1-byte range)."""
    try:
        resp = client.request(url, file=file, method="HEAD")
        length = resp.headers.get("content-length")
        if length is not None and length.isdigit():
            return {"size": int(length), **_validators(resp.headers)}
    except TfjsFormatError as exc:
        if not exc.reason.startswith(("HTTP 405", "HTTP 501")):
            raise
    resp = client.request(url, file=file, headers={"Range": "bytes=0-0"})
    if resp.status == 206:
        total = resp.headers.get("content-range", "").rpartition("/")[2]
        if total.isdigit():
            return {"size": int(total), **_validators(resp.headers)}
    if resp.status == 200:
        return {"size": len(resp.body), **_validators(resp.headers)}
    raise TfjsFormatError(f"cannot learn the size of {url}", file=file)
