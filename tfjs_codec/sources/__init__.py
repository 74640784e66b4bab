"""Where models come from, besides a local directory: archives and web servers.

Each source turns a location into a :class:`tfjs_codec.Model` by serving its
groups through a :class:`tfjs_codec.shards.GroupBuffer` subclass
(:class:`~tfjs_codec.sources.archive.ArchiveGroup`,
:class:`~tfjs_codec.sources.http.HttpGroup`); the manifest parsing, layout and
decoding are the reader's. :func:`tfjs_codec.load` dispatches here by the kind
of path: a URL (``http://``, ``https://``), an archive (by its name's ending),
else a local file or directory.
"""

from __future__ import annotations

import os
from typing import Any

from .archive import ARCHIVE_SUFFIXES, is_archive_name

__all__ = ["ARCHIVE_SUFFIXES", "is_archive_name", "is_url", "path_kind", "load_source"]


def is_url(path: Any) -> bool:
    """True for an ``http://`` or ``https://`` URL string."""
    return isinstance(path, str) and path[:8].lower().startswith(("http://", "https://"))


def path_kind(path: Any) -> str:
    """``"url"``, ``"archive"`` (an archive file name that is not a directory) or ``"local"``."""
    if is_url(path):
        return "url"
    if is_archive_name(path) and not os.path.isdir(path):
        return "archive"
    return "local"


def load_source(path: Any, *, mmap: bool, warn_trailing: bool, member: str | None, options: dict[str, Any]) -> Any:
    """Open a URL or archive as a Model; None for a local path (the reader's own case).

    Raises:
        TypeError: options that the kind of path does not take.
    """
    kind = path_kind(path)
    if kind == "url":
        from .http import load_url

        if member is not None:
            raise TypeError("member= applies to archives, not URLs")
        return load_url(path, warn_trailing=warn_trailing, **options)
    if member is not None and kind == "local":
        raise TypeError("member= applies to archives only")
    if options:
        raise TypeError(
            f"unexpected option(s) for {'a local model' if kind == 'local' else 'an archive'}: {', '.join(sorted(options))}"
        )
    if kind == "archive":
        from .archive import load_archive

        return load_archive(path, member=member, warn_trailing=warn_trailing)
    return None
