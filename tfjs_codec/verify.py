"""Check a model completely: every shard, every byte, every value."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .atomic import TEMP_PREFIX
from .errors import TfjsFormatError, TfjsFormatWarning
from .manifest import check_path
from .reader import decode_weight, load

__all__ = ["Report", "verify"]

#: Names an interrupted save can leave: temporary files, converter-style shards,
#: and the fresh names the writer gives shards when their names are taken.
#: Elements per chunk when counting NaN and infinite values.
_CHUNK = 1 << 20

_ORPHAN_RE = re.compile(
    r"^(" + re.escape(TEMP_PREFIX) + r".*\.tmp|group\d+-shard\d+of\d+(-[0-9a-f]{8})?\.bin|.+-[0-9a-f]{8}\.bin)$"
)


@dataclass
class Report:
    """What :func:`verify` found.

    Attributes:
        path: the model checked.
        problems: errors that make the model unusable or not what its manifest
            says (missing or short shards, trailing bytes, NaN/Inf values).
        notes: things worth knowing that are not errors (orphan files).
        weights: number of weights decoded.
        nonfinite: name -> (NaN count, Inf count) for float weights that have any.
    """

    path: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    weights: int = 0
    nonfinite: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when there is no problem."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "path": self.path,
            "ok": self.ok,
            "weights": self.weights,
            "problems": self.problems,
            "notes": self.notes,
            "nonfinite": {k: {"nan": n, "inf": i} for k, (n, i) in self.nonfinite.items()},
        }


def verify(path: str | os.PathLike[str], *, allow_nonfinite: bool = False, **load_options: Any) -> Report:
    """Decode every weight of a model and report what is wrong with it.

    Args:
        path: as for :func:`tfjs_codec.load`.
        allow_nonfinite: do not count NaN/Inf values as problems (they are
            still counted in ``nonfinite``).
        **load_options: passed to :func:`tfjs_codec.load` (``member=`` for
            archives, the URL options for URLs).

    Returns:
        A :class:`Report`; ``report.ok`` is False when anything is wrong.
    """
    report = Report(str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TfjsFormatWarning)
            model = load(path, warn_trailing=False, **load_options)
    except TfjsFormatError as exc:
        report.problems.append(str(exc))
        return report
    with model:
        for gi, extra in model.trailing.items():
            report.problems.append(f"{model.file_name}: group {gi} has {extra} trailing bytes after its last weight")
        for name, spec in model.specs.items():
            try:
                # decoded one at a time and dropped: memory stays at one weight, not the model
                array = decode_weight(spec, model.raw(name), file=model.file_name)
            except TfjsFormatError as exc:
                report.problems.append(str(exc))
                continue
            report.weights += 1
            if array.dtype.kind in "fc" and array.size:
                nan, inf = _count_nonfinite(array)
                if nan or inf:
                    report.nonfinite[name] = (nan, inf)
                    if not allow_nonfinite:
                        report.problems.append(f"weight {name!r}: {nan} NaN and {inf} infinite value(s)")
        if model.directory is not None:
            referenced = {check_path(p) for g in model.groups for p in g.paths}
            for entry in sorted(model.directory.iterdir()):
                if _ORPHAN_RE.match(entry.name) and entry.name not in referenced:
                    report.notes.append(f"{entry.name}: not named by the manifest (left by an interrupted save?)")
    return report


def _count_nonfinite(array: np.ndarray) -> tuple[int, int]:
    """(NaN count, infinity count), in chunks so no model-sized temporary is made."""
    flat = array.reshape(-1)
    nan = inf = 0
    for start in range(0, flat.size, _CHUNK):
        chunk = flat[start : start + _CHUNK]
        nan += int(np.count_nonzero(np.isnan(chunk)))
        inf += int(np.count_nonzero(np.isinf(chunk)))
    return nan, inf
