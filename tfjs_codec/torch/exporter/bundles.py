"""Sidecar files of an export: ml5's ``model_meta.json``, Teachable Machine's ``metadata.json``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import torch

from .engine import Exporter

__all__ = ["ml5_meta_json", "teachable_machine_json"]


def _fields(spec: Any, what: str) -> dict[str, tuple[float, float] | None]:
    """names or {name: [min, max]} -> name -> (min, max) or None."""
    if isinstance(spec, Mapping):
        out: dict[str, tuple[float, float] | None] = {}
        for name, rng in spec.items():
            if rng is None:
                out[str(name)] = None
                continue
            lo, hi = (float(v) for v in rng)
            if not hi > lo:
                raise ValueError(f"ml5 {what} {name!r}: range [{lo}, {hi}] is empty (max must exceed min)")
            out[str(name)] = (lo, hi)
        return out
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        return {str(name): None for name in spec}
    raise ValueError(f"ml5 {what} must be a list of names or a {{name: [min, max]}} mapping, got {spec!r}")


def ml5_meta_json(spec: Mapping[str, Any], ex: Exporter, outputs: list[torch.Tensor]) -> bytes:
    """``model_meta.json`` (ml5 1.x ``NeuralNetworkData.meta``) for a one-input, one-output model.

    Raises:
        ValueError: a malformed ``ml5=`` mapping, or names that do not match the model's units.
    """
    unknown = set(spec) - {"task", "inputs", "outputs", "labels"}
    if unknown:
        raise ValueError(f"ml5: unknown key(s) {sorted(unknown)} (expected task, inputs, labels / outputs)")
    task = spec.get("task", "classification" if "labels" in spec else "regression")
    if task not in ("classification", "regression"):
        raise ValueError(f"ml5 task {task!r}: 'classification' or 'regression'")
    if len(ex.input_perms) != 1 or len(outputs) != 1:
        raise ValueError("ml5: neuralNetwork models have one input and one output")
    in_shape = [int(s) for s in ex.graph.layers[0]["config"]["batch_input_shape"][1:]]
    out_units = int(outputs[0].shape[-1]) if outputs[0].dim() == 2 else None
    if out_units is None:
        raise ValueError(f"ml5: the output must be (N, units), got {list(outputs[0].shape)}")
    inputs = _fields(spec.get("inputs", [f"x{i}" for i in range(in_shape[-1])]), "inputs")
    if len(in_shape) == 1 and len(inputs) != in_shape[0]:
        raise ValueError(f"ml5: {len(inputs)} input names for {in_shape[0]} input units")
    meta_inputs = {}
    for name, rng in inputs.items():
        entry: dict[str, Any] = {"dtype": "number"}
        if rng is not None:
            entry.update({"min": rng[0], "max": rng[1]})
        meta_inputs[name] = entry
    normalized = any(r is not None for r in inputs.values())
    if task == "classification":
        labels = [str(x) for x in spec.get("labels") or []]
        if len(labels) != out_units or len(set(labels)) != len(labels):
            raise ValueError(f"ml5: classification needs {out_units} distinct labels (one per output unit), got {labels!r}")
        legend = {label: [1 if j == i else 0 for j in range(out_units)] for i, label in enumerate(labels)}
        meta_outputs: dict[str, Any] = {
            "label": {"dtype": "string", "min": 0, "max": 1, "uniqueValues": labels, "legend": legend}
        }
    else:
        outs = _fields(spec.get("outputs", [f"y{i}" for i in range(out_units)]), "outputs")
        if len(outs) != out_units:
            raise ValueError(f"ml5: {len(outs)} output names for {out_units} output units")
        if normalized and any(r is None for r in outs.values()):
            raise ValueError("ml5: with normalized inputs, every regression output needs its [min, max] too")
        meta_outputs = {}
        for name, rng in outs.items():
            entry = {"dtype": "number"}
            if rng is not None:
                entry.update({"min": rng[0], "max": rng[1]})
            meta_outputs[name] = entry
        normalized = normalized or any(r is not None for r in outs.values())
    if normalized and any(r is None for r in inputs.values()):
        raise ValueError("ml5: give [min, max] for every input or for none (ml5 normalizes all or nothing)")
    meta = {
        "inputUnits": in_shape,
        "outputUnits": out_units,
        "inputs": meta_inputs,
        "outputs": meta_outputs,
        "isNormalized": normalized,
    }
    return json.dumps(meta, separators=(",", ":")).encode()


def teachable_machine_json(labels: Sequence[str], ex: Exporter, model_name: str, version: str) -> bytes:
    """Teachable Machine image-model ``metadata.json`` for an (N, H, W, 3) -> (N, classes) export.

    Raises:
        ValueError: the model is not a square RGB image classifier with one output per label.
    """
    layer = ex.graph.layers[0]["config"]["batch_input_shape"]
    if len(ex.input_perms) != 1 or len(layer) != 4 or layer[3] != 3 or layer[1] != layer[2]:
        raise ValueError(
            f"labels= writes Teachable Machine image metadata: the model must take square RGB images "
            f"(N, 3, H, H) (channels-last in tfjs); its input is {layer}"
        )
    out = ex.outputs[0]
    if len(ex.outputs) != 1 or out.rank != 2 or out.shape[1] != len(labels):
        raise ValueError(f"labels=: {len(labels)} labels for an output of shape {list(out.shape)}")
    meta = {
        "tfjsVersion": "4.22.0",
        "tmVersion": "2.4.10",
        "packageVersion": "0.8.6",
        "packageName": "@teachablemachine/image",
        "timeStamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "userMetadata": {"convertedBy": f"tfjs_codec {version}"},
        "modelName": model_name,
        "labels": [str(x) for x in labels],
        "imageSize": int(layer[1]),
    }
    return json.dumps(meta, separators=(",", ":")).encode()


