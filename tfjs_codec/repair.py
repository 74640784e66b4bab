"""``repair``: a Keras 3 export rewritten in the dialect tfjs 4.22 loads, its weight bytes untouched.

The ``tensorflowjs`` 4.22 converter run under Keras 3 (TensorFlow >= 2.16) writes layers models
``tf.loadLayersModel`` cannot load (see :mod:`tfjs_codec.keras3`). :func:`repair` writes the same
model with the topology in the Keras 2 form tfjs-layers reads and the manifest's weights renamed
to what it looks up; the shards are copied byte for byte (quantization kept), the sidecars
(ml5's ``model_meta.json``, Teachable Machine's ``metadata.json``) come along, and the write is
the atomic, locked commit of :func:`tfjs_codec.save`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .commit import OpenShard, commit
from .dirlock import DEFAULT_LOCK_TIMEOUT
from .errors import TfjsFormatError
from .keras3 import blockers, keras3_signs, translate
from .model import Model

__all__ = ["Repaired", "repair"]

#: How many rewrites ``Repaired.summary`` lists.
SHOWN = 6


@dataclass
class Repaired:
    """What :func:`repair` did.

    Attributes:
        path: the manifest written.
        changed: False when the source already was in a form tfjs loads (written as it was).
        signs: why the source was a Keras 3 export (empty when unchanged).
        renamed: source weight name -> the name written, for the names that changed.
        rewritten: what was rewritten beyond spelling (activations and Keras 3 ops made tfjs layers).
    """

    path: Path
    changed: bool
    signs: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    rewritten: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One paragraph for a person: what was written and why."""
        if not self.changed:
            return f"{self.path}: already in the form tfjs 4.22 loads; written byte for byte as it was"
        lines = [
            f"{self.path}: the Keras 3 export rewritten in the Keras 2 form tfjs 4.22 loads "
            f"({len(self.renamed)} weight(s) renamed, shards copied byte for byte)",
            f"  it was a Keras 3 export: {'; '.join(self.signs)}",
        ]
        lines += [f"  {line}" for line in self.rewritten[:SHOWN]]
        if len(self.rewritten) > SHOWN:
            lines.append(f"  ... and {len(self.rewritten) - SHOWN} more rewrite(s) of the same kinds")
        return "\n".join(lines)


def _names(model: Model) -> list[str]:
    return [n for n, spec in model.specs.items() if spec.group != "optimizer"]


def repair(
    src: Model | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> Repaired:
    """Write ``src`` (a Keras 3 export) as a layers model tfjs 4.22 loads.

    Args:
        src: a loaded model, or a path / URL / archive :func:`tfjs_codec.load` reads.
        out: the directory (or ``.json`` manifest path) to write; not ``src``'s own directory.
        lock_timeout: as for :func:`tfjs_codec.save`.

    Returns:
        A :class:`Repaired` saying what was done (``changed`` is False for a file tfjs already loads,
        which is written byte for byte as it is).

    Raises:
        TfjsFormatError: something tfjs 4.22 cannot load even in the Keras 2 form: every such
            layer listed with its class and option and what would work (for a GRU with
            ``reset_after=True``: re-save with ``reset_after=False``, or export the
            ``to_module`` result as a graph model); nothing is written.
        OSError: the output cannot be written.
    """
    from .reader import load

    model = src if isinstance(src, Model) else load(src)
    try:
        return _repair(model, out, lock_timeout)
    finally:
        if model is not src:
            model.close()


def _repair(model: Model, out: str | os.PathLike[str], lock_timeout: float) -> Repaired:
    file = model.file_name
    out_path = Path(out)
    manifest_name = model.path.name if model.path is not None else "model.json"
    manifest_path = out_path if out_path.suffix == ".json" and not out_path.is_dir() else out_path / manifest_name
    if model.path is not None and manifest_path.parent.resolve() == model.path.parent.resolve():
        raise ValueError(f"repair: write into another directory than the source's ({manifest_path.parent})")
    document = model.json
    signs = keras3_signs(document, _names(model))
    if not signs:
        data = model.manifest_bytes if model.manifest_bytes is not None else (
            model.path.read_bytes() if model.path is not None else json.dumps(document).encode()
        )
        _write(model, manifest_path, lambda paths: data, lock_timeout)
        return Repaired(manifest_path, changed=False)
    translation = translate(document, _names(model), file=file)
    problems = blockers(translation.document)
    if problems:
        raise TfjsFormatError(
            f"tfjs 4.22 cannot load this Keras 3 model even in the Keras 2 form ({len(problems)} problem(s)): "
            + " | ".join(problems),
            file=file,
            field="modelTopology",
        )
    new_doc = translation.document
    converted = str(new_doc.get("convertedBy") or "")
    from ._version import __version__

    new_doc["convertedBy"] = f"{converted + '; ' if converted else ''}repaired by tfjs_codec {__version__}"

    def render(paths: Sequence[Sequence[str]]) -> bytes:
        manifest = new_doc["weightsManifest"]
        for group, final in zip(manifest, paths, strict=True):
            group["paths"] = list(final)
        return json.dumps(new_doc, separators=(",", ":")).encode()

    _write(model, manifest_path, render, lock_timeout)
    renamed = {old: new for old, new in translation.renames.items() if old != new}
    return Repaired(manifest_path, changed=True, signs=signs, renamed=renamed, rewritten=translation.rewritten)


def _write(model: Model, manifest_path: Path, render: Any, lock_timeout: float) -> None:
    """Copy every shard byte for byte and commit them with ``render(paths)`` as the manifest."""
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    paths = [list(group.paths) for group in model.groups]

    def write_shards(open_shard: OpenShard) -> None:
        for gi, buf in enumerate(model.buffers):
            for si, (start, size) in enumerate(zip(buf.starts, buf.sizes, strict=False)):
                sink = open_shard(gi, si, size)
                sink.write(buf.view(start, size))
                sink.close()

    commit(manifest_path, paths, write_shards, render, model.sidecars, lock_timeout=lock_timeout)
