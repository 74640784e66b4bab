"""The loaded model: its JSON, weight specs, and weights decoded on first access.

Every source (:mod:`tfjs_codec.sources`) builds a :class:`Model` from a parsed
manifest and one :class:`~tfjs_codec.shards.GroupBuffer` per manifest group;
nothing here knows where the bytes come from.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .arena import Arena
from .decode import decode_weight
from .dtypes import DTYPES
from .errors import TfjsFormatWarning
from .manifest import ManifestGroup, WeightSpec, layout_group
from .shards import GroupBuffer

__all__ = ["Model"]


class Model(Mapping[str, np.ndarray]):
    """A loaded TensorFlow.js model: a read-only mapping of weight name -> array.

    Get one with :func:`tfjs_codec.load`. ``model[name]``, ``len(model)``,
    ``model.keys()``, ``model.items()``, ``dict(model)`` work as for any
    mapping, in manifest order; arrays are decoded on first access and cached.
    Arrays it returns stay valid after :meth:`close` (each keeps its shard
    mapping alive); closing releases everything else. Decoded quantized
    weights (float32 and int32) are carved from shared blocks of up to 64 MiB
    (:mod:`tfjs_codec.arena`), each freed with the last array in it. Two models
    are equal only when they are the same object.

    Attributes:
        path: the manifest file (model.json or a bare weights manifest), or None.
        json: the whole parsed document (for a bare manifest, the list).
        specs: name -> :class:`WeightSpec`, in manifest order.
        weights: the model itself (name -> ``np.ndarray``), kept for the
            ``dict(model.weights)`` spelling.
        groups: the validated manifest groups.
        buffers: one :class:`~tfjs_codec.shards.GroupBuffer` per group.
        trailing: group index -> bytes after its last weight, for groups with any.
        sidecars: files that travel with the model (``model_meta.json`` of ml5,
            ``metadata.json`` of Teachable Machine), name -> raw bytes.
        source: where the model came from when not a local directory (a URL,
            or ``ARCHIVE!MEMBER``), else None.
        manifest_bytes: the manifest file's bytes as read, when kept (sources
            keep them, since there is no file to re-read), else None.
    """

    def __init__(
        self,
        document: Any,
        groups: Sequence[ManifestGroup],
        buffers: Sequence[GroupBuffer],
        *,
        path: Path | None = None,
        sidecars: Mapping[str, bytes] | None = None,
        source: str | None = None,
        manifest_bytes: bytes | None = None,
        warn_trailing: bool = True,
    ) -> None:
        """Lay out every group's weights over its buffer.

        Args:
            document: the parsed model.json (or bare manifest list).
            groups: the validated ``weightsManifest`` groups.
            buffers: one buffer per group, in the same order.
            path: the manifest file, when there is one.
            sidecars: files that travel with the model, name -> bytes.
            source: a URL or ``ARCHIVE!MEMBER``, for models not in a directory.
            manifest_bytes: the manifest's bytes as read, when kept.
            warn_trailing: warn (:class:`TfjsFormatWarning`) about bytes after a
                group's last weight.

        Raises:
            TfjsFormatError: a weight runs past its group's bytes.
            ValueError: not one buffer per group.
        """
        if len(groups) != len(buffers):
            raise ValueError(f"{len(groups)} groups but {len(buffers)} buffers")
        self.path = path
        self.json = document
        self.groups = list(groups)
        self.buffers = list(buffers)
        self.sidecars = dict(sidecars or {})
        self.source = source
        self.manifest_bytes = manifest_bytes
        file = self.file_name
        specs: dict[str, WeightSpec] = {}
        self.trailing: dict[int, int] = {}
        for group, buf in zip(self.groups, self.buffers, strict=True):
            laid = layout_group(group, buf.total, buf.read, file=file)
            used = laid[-1].offset + laid[-1].nbytes if laid else 0
            if used < buf.total:
                self.trailing[group.index] = buf.total - used
                if warn_trailing:
                    warnings.warn(
                        f"{file}: group {group.index} has {buf.total - used} trailing bytes after its last weight",
                        TfjsFormatWarning,
                        stacklevel=4,
                    )
            for spec in laid:
                specs[spec.name] = spec
        self.specs: Mapping[str, WeightSpec] = specs
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._arena = Arena(4 * s.size for s in specs.values() if s.quantization is not None)

    @property
    def weights(self) -> Mapping[str, np.ndarray]:
        """name -> array, decoded on first access: the model itself."""
        return self

    @property
    def file_name(self) -> str:
        """The manifest's file name, as errors name it."""
        return self.path.name if self.path is not None else "manifest"

    @property
    def directory(self) -> Path | None:
        """The directory holding the manifest and shards (None for archives and URLs)."""
        return self.path.parent if self.path is not None and self.source is None else None

    @property
    def format(self) -> str | None:
        """``"layers-model"``, ``"graph-model"`` or None (not stated)."""
        value = self.json.get("format") if isinstance(self.json, dict) else None
        return value if isinstance(value, str) else None

    @property
    def is_bare_manifest(self) -> bool:
        """True when the file is a bare weights manifest (a JSON list)."""
        return isinstance(self.json, list)

    def __getitem__(self, name: str) -> np.ndarray:
        array = self._cache.get(name)
        if array is not None:
            return array
        spec = self.specs.get(name)
        if spec is None:
            raise KeyError(name)
        out = None
        if spec.quantization is not None:
            out = self._arena.empty(spec.shape, DTYPES[spec.dtype].numpy)
        array = decode_weight(spec, self.raw(name), file=self.file_name, out=out)
        with self._lock:
            return self._cache.setdefault(name, array)

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def __iter__(self) -> Iterator[str]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__

    def raw(self, name: str) -> memoryview:
        """The stored bytes of a weight (quantized codes when quantized), as a view.

        Args:
            name: the weight's name.

        Returns:
            A memoryview of ``specs[name].nbytes`` bytes: of the mapping when the
            weight lies in one shard (or the group is mapped contiguously), else a copy.

        Raises:
            KeyError: no weight of that name.
            TfjsFormatError: a shard became unreadable (missing, truncated) since ``load``.
        """
        spec = self.specs[name]
        return self.buffers[spec.group_index].view(spec.offset, spec.nbytes)

    def shards_of(self, name: str) -> list[str]:
        """The shard paths (as the manifest spells them) holding a weight's bytes.

        Args:
            name: the weight's name.

        Returns:
            The paths in order; empty for a weight of zero bytes.

        Raises:
            KeyError: no weight of that name.
        """
        spec = self.specs[name]
        group = self.groups[spec.group_index]
        return [group.paths[i] for i in self.buffers[spec.group_index].shard_span(spec.offset, spec.nbytes)]

    def close(self) -> None:
        """Release the shard mappings not in use by arrays already returned."""
        self._cache.clear()
        for buf in self.buffers:
            buf.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.source or (str(self.path) if self.path is not None else "memory")
        return f"<tfjs_codec.Model {where}: {len(self.specs)} weights in {len(self.groups)} group(s)>"
