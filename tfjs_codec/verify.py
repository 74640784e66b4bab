"""Check a model completely: every shard, every byte, every value."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .arguments import check_arg
from .decode import decode_weight
from .errors import TfjsFormatError, TfjsFormatWarning
from .leftovers import leftovers
from .manifest import check_path
from .reader import load

if TYPE_CHECKING:
    from .sources.http_options import HttpOptions

__all__ = ["Report", "verify"]

#: Elements per chunk when counting NaN and infinite values.
_CHUNK = 1 << 20


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


def verify(
    path: str | os.PathLike[str],
    *,
    allow_nonfinite: bool = False,
    member: str | None = None,
    max_manifest_bytes: int | None = None,
    http: HttpOptions | None = None,
) -> Report:
    """Decode every weight of a model and report what is wrong with it.

    Args:
        path: as for :func:`tfjs_codec.load`.
        allow_nonfinite: do not count NaN/Inf values as problems (they are
            still counted in ``nonfinite``).
        member: as for :func:`tfjs_codec.load` (archives).
        max_manifest_bytes: as for :func:`tfjs_codec.load`.
        http: as for :func:`tfjs_codec.load` (URLs).

    Returns:
        A :class:`Report`; ``report.ok`` is False when anything is wrong. Its
        notes list the files an interrupted save left in the model's directory:
        those the next save removes (the rule is in :mod:`tfjs_codec.leftovers`).

    Raises:
        TypeError: an argument of the wrong type, or an option the kind of path does not take.
    """
    check_arg("verify", "allow_nonfinite", allow_nonfinite, bool, "a bool")
    report = Report(str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TfjsFormatWarning)
            model = load(path, warn_trailing=False, member=member, max_manifest_bytes=max_manifest_bytes, http=http)
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
            for entry in leftovers(model.directory, model.file_name, referenced):
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
