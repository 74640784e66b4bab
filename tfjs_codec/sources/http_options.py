"""How a model is fetched from a web server: the options of :func:`tfjs_codec.load` for URLs."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "HttpOptions", "URL_OPTIONS"]

#: Seconds each socket operation (connect, each read) may take.
DEFAULT_TIMEOUT = 30.0
#: Extra attempts after a failed request.
DEFAULT_RETRIES = 2
#: Largest response body accepted (after gunzipping): 2 GiB.
DEFAULT_MAX_RESPONSE_BYTES = 1 << 31


@dataclass(frozen=True)
class HttpOptions:
    """How :func:`tfjs_codec.load` talks to servers; each field is also a keyword of ``load``.

    Attributes:
        cache_dir: where to cache; None for
            :func:`~tfjs_codec.sources.http_cache.default_cache_dir`, False for
            no cache (bytes are then kept in memory while the model is open).
        timeout: seconds per socket operation.
        retries: extra attempts after a failure that may be transient.
        max_response_bytes: the largest body accepted per response (the
            manifest's own limit is ``max_manifest_bytes`` of ``load``).
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

    def updated(self, given: Mapping[str, Any]) -> HttpOptions:
        """A copy with the fields in ``given`` replaced.

        Raises:
            TypeError: a name that is not a field, or a value of the wrong type.
        """
        unknown = sorted(set(given) - set(URL_OPTIONS))
        if unknown:
            raise TypeError(f"unknown URL option(s): {', '.join(unknown)}")
        options = dataclasses.replace(self, **given)
        options.check()
        return options

    def check(self) -> None:
        """Raise TypeError for a field of the wrong type."""
        for name, kinds in _TYPES.items():
            value = getattr(self, name)
            if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
                expected = " or ".join("None" if k is type(None) else k.__name__ for k in kinds)
                raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
        if self.weight_url_converter is not None and not callable(self.weight_url_converter):
            raise TypeError(f"weight_url_converter must be callable, got {type(self.weight_url_converter).__name__}")


_TYPES: dict[str, tuple[type, ...]] = {
    "cache_dir": (str, os.PathLike, bool, type(None)),
    "timeout": (int, float),
    "retries": (int,),
    "max_response_bytes": (int,),
    "progress": (bool, type(None)),
    "weight_path_prefix": (str, type(None)),
    "offline": (bool,),
    "headers": (Mapping,),
    "backoff": (int, float),
}

#: The names of the URL options (the fields of :class:`HttpOptions`).
URL_OPTIONS = tuple(f.name for f in dataclasses.fields(HttpOptions))
