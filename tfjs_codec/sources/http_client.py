"""The HTTP client of the URL source: timeouts, bounded retries, size caps, gzip, http(s)-only redirects.

Standard library only (``urllib``). Every response is bounded: a timeout on
each socket operation, a size cap (checked against ``Content-Length``, while
reading, and after gunzipping), and a bounded number of retries (connection
errors, timeouts, ``5xx``, ``408``, ``429``; never ``404``). A connection closed
early is an error naming the bytes received.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import TfjsFormatError
from ..gzipped import gunzip
from ..progress import ProgressLine
from .http_options import HttpOptions

__all__ = ["PROGRESS_MIN_BYTES", "Client", "Response"]

#: Responses at least this long show a progress line (when enabled).
PROGRESS_MIN_BYTES = 1 << 20
_CHUNK = 1 << 16
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_USER_AGENT = "tfjs_codec (python urllib)"


@dataclass
class Response:
    """A finished response: its status, headers (lower-case names) and whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (CDNs use them) to http(s) URLs only."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl!r} refused (not http or https)", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


class _NoRetry(Exception):
    """Raised inside an attempt for a failure that retrying cannot fix."""

    def __init__(self, error: TfjsFormatError) -> None:
        self.error = error


class Client:
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
        cap: int | None = None,
        too_big: str | None = None,
    ) -> Response:
        """One request, retried when the failure may be transient.

        Args:
            url: what to fetch.
            file: the file name, for errors.
            method: ``GET`` or ``HEAD``.
            headers: extra request headers.
            gzip_ok: accept ``Content-Encoding: gzip`` (not for ranges).
            expect: the body size expected, for the progress line when the
                server sends no ``Content-Length``.
            cap: a tighter size limit than ``max_response_bytes`` for this
                response (the manifest's ``max_manifest_bytes``).
            too_big: the reason given when ``cap`` is passed (else a message
                naming the limit and URL).

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
                return self._once(
                    url, file=file, method=method, headers=headers or {}, gzip_ok=gzip_ok, expect=expect, cap=cap, too_big=too_big
                )
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
                if isinstance(reason, TimeoutError):
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
        self,
        url: str,
        *,
        file: str,
        method: str,
        headers: Mapping[str, str],
        gzip_ok: bool,
        expect: int | None,
        cap: int | None,
        too_big: str | None,
    ) -> Response:
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
            return Response(304, {k.lower(): v for k, v in exc.headers.items()}, b"")
        limit = opts.max_response_bytes if cap is None else min(cap, opts.max_response_bytes)
        own = too_big is not None and limit == cap

        def over(size: int | None) -> _NoRetry:
            if own:
                return _NoRetry(TfjsFormatError(str(too_big), file=file))
            if size is not None:
                return _NoRetry(TfjsFormatError(f"response of {size} bytes is over the {limit}-byte limit ({url})", file=file))
            return _NoRetry(TfjsFormatError(f"response is over the {limit}-byte limit ({url})", file=file))

        with opened as resp:
            status = resp.status
            got = {k.lower(): v for k, v in resp.headers.items()}
            if method == "HEAD" or status == 304:
                return Response(status, got, b"")
            encoding = got.get("content-encoding", "identity").lower()
            if encoding not in ("identity", "gzip", "x-gzip"):
                raise _NoRetry(TfjsFormatError(f"unsupported Content-Encoding {encoding!r} from {url}", file=file))
            length = got.get("content-length")
            length_n = int(length) if length and length.isdigit() else None
            if length_n is not None and length_n > limit:
                raise over(length_n)
            progress = ProgressLine(
                f"downloading {file}",
                length_n if length_n is not None else expect,
                stream=opts.progress_stream,
                enabled=opts.progress,
                min_total=PROGRESS_MIN_BYTES,
            )
            body = bytearray()
            while True:
                try:
                    chunk = resp.read(min(_CHUNK, limit + 1 - len(body)))
                except http.client.IncompleteRead as exc:
                    body += exc.partial
                    chunk = b""
                if not chunk:
                    break
                body += chunk
                if len(body) > limit:
                    raise over(None)
                progress(len(body))
            if length_n is not None and len(body) != length_n:
                raise _Short(f"connection closed after {len(body)} of {length_n} bytes")
        if encoding != "identity":
            message = f"{too_big} once decompressed" if own else f"gunzipped response is over the {limit}-byte limit ({url})"
            truncated = _Short(f"gzip stream ends early ({len(body)} bytes received)")
            return Response(status, got, gunzip(bytes(body), limit=limit, file=file, too_big=message, truncated=truncated))
        return Response(status, got, bytes(body))


class _Short(Exception):
    pass
