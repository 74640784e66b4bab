"""Where models come from: a local directory, an archive, a web server.

Each source turns a location into a :class:`tfjs_codec.model.Model` by serving
its groups through a :class:`tfjs_codec.shards.GroupBuffer` subclass:

- :mod:`tfjs_codec.sources.local`: a ``model.json`` / bare manifest file or a
  directory holding one (:class:`~tfjs_codec.shards.FileGroup`);
- :mod:`tfjs_codec.sources.archive`: a member of a ``.zip`` / ``.tar*``
  (:class:`~tfjs_codec.sources.archive.ArchiveGroup`);
- :mod:`tfjs_codec.sources.http`: an ``http(s)://`` URL
  (:class:`~tfjs_codec.sources.http.HttpGroup`).

The manifest parsing, layout and decoding are shared (:mod:`tfjs_codec.manifest`,
:mod:`tfjs_codec.model`). :func:`tfjs_codec.load` picks the source by the kind
of path (:func:`path_kind`) and imports only that one. This module is light: it
imports no source.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from typing import Any, Literal

from ..errors import TfjsFormatError
from ..tfjs_format import BARE_MANIFEST_SUFFIX, MODEL_JSON, SIDECAR_FILES

__all__ = ["ARCHIVE_SUFFIXES", "is_archive_name", "is_url", "option_problem", "path_kind", "pick_manifest"]

#: File name endings recognised as archives (case-insensitive).
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def is_url(path: Any) -> bool:
    """True for an ``http://`` or ``https://`` URL string."""
    return isinstance(path, str) and path[:8].lower().startswith(("http://", "https://"))


def is_archive_name(path: Any) -> bool:
    """True when ``path`` (str or PathLike) ends like an archive :mod:`tfjs_codec.sources.archive` reads."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    return os.fspath(path).lower().endswith(ARCHIVE_SUFFIXES)


def path_kind(path: Any) -> Literal["url", "archive", "local"]:
    """``"url"``, ``"archive"`` (an archive file name that is not a directory) or ``"local"``."""
    if is_url(path):
        return "url"
    if is_archive_name(path) and not os.path.isdir(path):
        return "archive"
    return "local"


def option_problem(path: Any, options: Collection[str], spell: Callable[[str], str]) -> str | None:
    """What is wrong with giving ``options`` for ``path``, or None: the one rule for
    :func:`tfjs_codec.load` and the command line.

    ``member`` applies to archives; every other source option (``http``,
    ``cache_dir``, ``timeout``, ...) to URLs.

    Args:
        path: the model's location.
        options: the names of the source options given (``member``, ``cache_dir``, ...).
        spell: how the caller spells an option name (``member=`` or ``--member``).

    Returns:
        The message, e.g. ``"member= applies to archives, not to m/model.json"``.
    """
    kind = path_kind(path)
    if "member" in options and kind != "archive":
        return f"{spell('member')} applies to archives, not to {path}"
    url_only = sorted(k for k in options if k != "member")
    if url_only and kind != "url":
        verb = "applies" if len(url_only) == 1 else "apply"
        return f"{', '.join(spell(k) for k in url_only)} {verb} to URLs, not to {path}"
    return None


def pick_manifest(names: Collection[str], is_model_json: Callable[[str], bool], *, where: str, what: str, choose: str) -> str:
    """Which file of a directory or archive is the model: the one rule for both.

    ``model.json`` when there is one; else the single candidate among the bare
    manifests (``*weights_manifest.json``) and the other JSON files holding a
    ``weightsManifest`` (a browser save with a prefix, a converter output named
    after its model), the sidecars (``model_meta.json``, ``metadata.json``) aside.

    Args:
        names: the file names (paths with ``/`` inside an archive).
        is_model_json: whether a JSON file (not named like a manifest) holds a
            ``weightsManifest``; asked only when there is no ``model.json``.
        where: the directory or archive, for errors.
        what: ``"the directory"`` or ``"the archive"``.
        choose: how to name one, for the error listing several (``pass member= to choose one``).

    Raises:
        TfjsFormatError: no candidate, or several (listed).
    """
    usable = sorted(n for n in names if not n.startswith("__MACOSX/"))
    found = [n for n in usable if n.rpartition("/")[2] == MODEL_JSON]
    if not found:
        bare = [n for n in usable if n.endswith(BARE_MANIFEST_SUFFIX)]
        others = [
            n
            for n in usable
            if n.lower().endswith(".json") and n not in bare and n.rpartition("/")[2] not in SIDECAR_FILES and is_model_json(n)
        ]
        found = sorted(bare + others)
    if len(found) == 1:
        return found[0]
    if found:
        raise TfjsFormatError(f"several models in {what} ({', '.join(found)}); {choose}", file=where)
    raise TfjsFormatError(
        f"no {MODEL_JSON}, *{BARE_MANIFEST_SUFFIX} or other JSON file with a weightsManifest in {what}", file=where
    )
