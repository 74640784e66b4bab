"""ml5.js ``model_meta.json``: input normalization and class legend, as torch helpers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import TfjsFormatError
from ..reader import Model
from .sidecar import read_sidecar_json

__all__ = ["Ml5Meta", "ml5_meta"]

META_FILE = "model_meta.json"


@dataclass
class Ml5Meta:
    """What ml5 does around the network, for a torch user.

    ml5 feeds ``(value - min) / (max - min)`` per numeric input (when
    ``isNormalized``), a one-hot vector per string input, and reads a class
    output by its ``legend`` (label -> one-hot vector); numeric outputs are
    un-normalized with their min/max.

    Attributes:
        meta: the parsed ``model_meta.json``.
        input_names: input keys in the order ml5 feeds them.
        output_names: output keys.
        is_normalized: the ``isNormalized`` flag.
    """

    meta: dict[str, Any]

    @property
    def input_names(self) -> list[str]:
        return list(self.meta.get("inputs", {}))

    @property
    def output_names(self) -> list[str]:
        return list(self.meta.get("outputs", {}))

    @property
    def is_normalized(self) -> bool:
        return bool(self.meta.get("isNormalized", False))

    def _numeric(self, side: str) -> list[tuple[str, dict[str, Any]]]:
        items = list(self.meta.get(side, {}).items())
        for name, info in items:
            if info.get("dtype") != "number":
                raise TfjsFormatError(f"is {info.get('dtype')!r}, not numeric", file=META_FILE, field=f"{side}.{name}")
        return items

    @property
    def input_min(self) -> torch.Tensor:
        """Per-input minimum (numeric inputs), float32."""
        return torch.tensor([float(i["min"]) for _, i in self._numeric("inputs")], dtype=torch.float32)

    @property
    def input_max(self) -> torch.Tensor:
        """Per-input maximum (numeric inputs), float32."""
        return torch.tensor([float(i["max"]) for _, i in self._numeric("inputs")], dtype=torch.float32)

    @property
    def labels(self) -> list[str]:
        """Class labels in output-unit order (from the first output's legend)."""
        for name, info in self.meta.get("outputs", {}).items():
            legend = info.get("legend")
            if legend:
                return _legend_order(legend, f"outputs.{name}.legend")
        raise TfjsFormatError("no output has a legend (not a classification model)", file=META_FILE, field="outputs")

    def normalize(self, raw: Any) -> torch.Tensor:
        """Raw inputs -> the tensor the network takes, as ml5 builds it.

        Args:
            raw: a (batch, n) array/tensor of numeric inputs in
                ``input_names`` order; or one dict ``{name: value}``, or a list
                of them (string inputs become their legend's one-hot vector).

        Returns:
            float32 tensor of shape (batch, inputUnits).
        """
        if isinstance(raw, Mapping) or (isinstance(raw, Sequence) and raw and isinstance(raw[0], Mapping)):
            rows = [raw] if isinstance(raw, Mapping) else list(raw)
            return torch.tensor([self._row(r) for r in rows], dtype=torch.float32)
        x = torch.as_tensor(raw, dtype=torch.float32)
        if not self.is_normalized:
            return x
        lo, hi = self.input_min, self.input_max
        return (x - lo) / (hi - lo)

    def _row(self, row: Mapping[str, Any]) -> list[float]:
        out: list[float] = []
        for name, info in self.meta.get("inputs", {}).items():
            if name not in row:
                raise KeyError(f"input {name!r} missing (ml5 inputs: {', '.join(self.input_names)})")
            v = row[name]
            if info.get("legend"):
                out.extend(float(b) for b in info["legend"][str(v)])
            elif self.is_normalized:
                out.append((float(v) - float(info["min"])) / (float(info["max"]) - float(info["min"])))
            else:
                out.append(float(v))
        return out

    def classify(self, output: torch.Tensor) -> list[str]:
        """Predicted label per row of a class output (argmax through the legend)."""
        labels = self.labels
        return [labels[i] for i in output.reshape(-1, output.shape[-1]).argmax(dim=-1).tolist()]

    def unnormalize(self, output: torch.Tensor) -> torch.Tensor:
        """Numeric (regression) outputs back to their units: ``v * (max - min) + min``."""
        items = self._numeric("outputs")
        if not self.is_normalized:
            return output
        lo = torch.tensor([float(i["min"]) for _, i in items], dtype=output.dtype)
        hi = torch.tensor([float(i["max"]) for _, i in items], dtype=output.dtype)
        return output * (hi - lo) + lo


def _legend_order(legend: Mapping[str, Sequence[int]], field: str) -> list[str]:
    labels: list[str | None] = [None] * len(legend)
    for label, onehot in legend.items():
        hot = [i for i, b in enumerate(onehot) if b]
        if len(hot) != 1 or hot[0] >= len(labels) or labels[hot[0]] is not None:
            raise TfjsFormatError(
                f"legend of {label!r} is not a distinct one-hot vector: {list(onehot)!r}", file=META_FILE, field=field
            )
        labels[hot[0]] = label
    return [str(x) for x in labels]


def ml5_meta(model: Model) -> Ml5Meta | None:
    """The ml5 helpers of a model saved by ml5.js, or None without ``model_meta.json``.

    Args:
        model: a loaded model (its ``sidecars`` hold ``model_meta.json``).

    Returns:
        An :class:`Ml5Meta`, or None.

    Raises:
        TfjsFormatError: ``model_meta.json`` is not a JSON object.
    """
    meta = read_sidecar_json(model, META_FILE)
    if meta is None:
        return None
    return Ml5Meta(meta)
