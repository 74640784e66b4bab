"""The JSON files that travel beside a model (ml5's ``model_meta.json``, Teachable Machine's ``metadata.json``)."""

from __future__ import annotations

import json
from typing import Any

from ..errors import TfjsFormatError
from ..reader import Model


def read_sidecar_json(model: Model, file: str) -> dict[str, Any] | None:
    """The parsed sidecar ``file`` of ``model``, or None when the model has no such file.

    Raises:
        TfjsFormatError: the file is not valid JSON, or not a JSON object.
    """
    raw = model.sidecars.get(file)
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise TfjsFormatError(f"not valid JSON: {exc}", file=file) from None
    if not isinstance(meta, dict):
        raise TfjsFormatError("not a JSON object", file=file)
    return meta
