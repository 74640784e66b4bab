"""The one deletion rule: which files of a model directory a save may remove, and verify reports.

A save (:mod:`tfjs_codec.commit`) removes, once its new manifest is in place,
the old shards that the old manifest named and the new one does not, and the
leftovers of interrupted saves; :func:`tfjs_codec.verify.verify` reports the
same leftovers as notes. A file is removed or reported only when **no**
manifest in the directory names it (``model.json``, ``other.json``, a bare
``*weights_manifest.json``: every ``*.json`` file holding a weights manifest),
so two models sharing a directory, or a shard, never break each other. When a
JSON file of the directory cannot be judged (unreadable, or over the manifest
size limit), only this package's temporary files are touched.

Leftovers are, besides temporary files (``.tfjs_codec-*.tmp``) of processes that
are no longer running (a live writer's are its work in progress), regular files
not named by any manifest whose name is one a save of this model could have
written: converter-style shard names (``group1-shard1of2.bin``), names with
the fresh suffix a save gives a shard whose name is taken by other bytes
(``x-1a2b3c4d.bin``), and the shard names of the model itself with or without
such a suffix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from .atomic import TEMP_PREFIX, TEMP_SUFFIX
from .dirlock import temp_owner_alive
from .errors import TfjsFormatError
from .gzipped import read_manifest_bytes
from .manifest import check_path, parse_manifest, parse_model_json

__all__ = ["leftovers", "manifest_paths", "named_by_manifests", "stale", "unfresh"]

_TEMP_RE = re.compile(r"^" + re.escape(TEMP_PREFIX) + r".*" + re.escape(TEMP_SUFFIX) + r"$")
_SAVED_RE = re.compile(r"^(group\d+-shard\d+of\d+(-[0-9a-f]{8})?\.bin|.+-[0-9a-f]{8}\.bin)$")
_FRESH_RE = re.compile(r"-[0-9a-f]{8}(\.[^./]*)?$")


def unfresh(name: str) -> str:
    """``group1-shard1of2.bin`` for ``group1-shard1of2-1a2b3c4d.bin``: the name without a save's fresh suffix."""
    return _FRESH_RE.sub(r"\1", name)


def manifest_paths(manifest_path: Path) -> set[str] | None:
    """The normalized shard paths a manifest file names: empty when it is not a
    manifest, None when it cannot be read or is over the manifest size limit."""
    try:
        text = read_manifest_bytes(manifest_path, file=manifest_path.name)
    except TfjsFormatError:
        return None
    try:
        _, manifest = parse_model_json(text, file=manifest_path.name)
        return {check_path(p) for g in parse_manifest(manifest, file=manifest_path.name) for p in g.paths}
    except TfjsFormatError:
        return set()  # not a manifest tfjs could load: it names nothing


def named_by_manifests(directory: Path, *, besides: str) -> set[str] | None:
    """The shard paths named by the ``*.json`` manifests of ``directory`` other than ``besides``.

    Returns:
        The paths, or None when some JSON file cannot be judged.
    """
    names: set[str] = set()
    for other in directory.glob("*.json"):
        if other.name == besides or not other.is_file():
            continue
        named = manifest_paths(other)
        if named is None:
            return None
        names |= named
    return names


def stale(directory: Path, manifest_name: str, old: Iterable[str], keep: Iterable[str]) -> list[Path]:
    """What a save of ``manifest_name`` that replaced shards ``old`` by ``keep`` may remove.

    The old shards no manifest names any more, and the leftovers of interrupted
    saves (see the module docstring) of this model's name family (``old`` and
    ``keep``).
    """
    keep = set(keep)
    old = set(old)
    elsewhere = named_by_manifests(directory, besides=manifest_name)
    found = [directory / rel for rel in sorted(old - keep) if elsewhere is not None and rel not in elsewhere]
    found += [p for p in leftovers(directory, manifest_name, keep, family=old | keep, elsewhere=elsewhere) if p not in found]
    return found


def leftovers(
    directory: Path,
    manifest_name: str,
    names: Iterable[str],
    *,
    family: Iterable[str] = (),
    elsewhere: set[str] | None | Literal["ask"] = "ask",
) -> list[Path]:
    """Files of ``directory`` left by interrupted saves: named by no manifest, named like a save's output.

    Args:
        directory: the model's directory.
        manifest_name: the model's manifest file name.
        names: the shard paths the model's manifest names.
        family: more shard names whose fresh-suffixed variants count (default: ``names``).
        elsewhere: what the other manifests name, when already known (None: unknown).

    Returns:
        The paths, sorted by name.
    """
    names = set(names)
    bases = {unfresh(n) for n in names | set(family)}
    if elsewhere == "ask":
        elsewhere = named_by_manifests(directory, besides=manifest_name)
    found = []
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if _TEMP_RE.match(name):
            if not temp_owner_alive(name):
                found.append(entry)
        elif (
            isinstance(elsewhere, set)
            and name not in names
            and name not in elsewhere
            and (_SAVED_RE.match(name) or unfresh(name) in bases)
            and entry.is_file()
            and not entry.is_symlink()
        ):
            found.append(entry)
    return found
