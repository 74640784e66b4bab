"""The one error type of tfjs_codec, and its warning category."""

from __future__ import annotations

__all__ = ["TfjsFormatError", "TfjsFormatWarning"]


class TfjsFormatError(ValueError):
    """A TensorFlow.js model, manifest or weight could not be read or written.

    Every rejection of a file raises this error. Its message says where the
    problem is, in the order file, weight, field, for example::

        model.json: weight 'dense/kernel': shape: dimension -3 is negative

    Attributes:
        file: the file name (relative to the model directory when known), or None.
        weight: the weight name, or None.
        field: the manifest field or part of the file at fault, or None.
        reason: the bare description, without the location prefix.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        weight: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.weight = weight
        self.field = field
        self.reason = reason
        super().__init__(_locate(reason, file=file, weight=weight, field=field))


class TfjsFormatWarning(UserWarning):
    """Something about a model deserves attention but does not stop the work
    (trailing bytes after a group's weights, a weight left unquantized, ...)."""


def _locate(reason: str, *, file: str | None, weight: str | None, field: str | None) -> str:
    parts = []
    if file is not None:
        parts.append(str(file))
    if weight is not None:
        parts.append(f"weight {weight!r}")
    if field is not None:
        parts.append(str(field))
    parts.append(reason)
    return ": ".join(parts)
