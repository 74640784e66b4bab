"""``export``: a PyTorch module becomes a TensorFlow.js layers model (``tf.loadLayersModel``).

No TensorFlow, no ONNX: the module is traced with torch.fx, each call is mapped to
the Keras layers that compute the same numbers, and the topology and weights are
written as tfjs-layers 4.22 writes a functional model. The result is checked by
rebuilding it with :func:`~tfjs_codec.torch.to_module` and comparing with the
module's own output.

Layout: tfjs is channels-last. By default an image input ``(N, C, H, W)`` of the
module becomes an ``(N, H, W, C)`` input of the tfjs model (a ``(N, C, L)``
sequence of channels fed to a Conv1d becomes ``(N, L, C)``), and an image-shaped
output is returned channels-last too; everything else keeps torch's order. The
exporter converts kernels and inserts ``Permute`` where torch's data order
matters (``flatten`` after a conv stack gives torch's numbers).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...atomic import TEMP_PREFIX
from ...errors import TfjsFormatError
from . import ops as _ops  # noqa: F401  (registers the function handlers)
from .bundles import ml5_meta_json, teachable_machine_json
from .engine import Exporter
from .steps import in_eval_mode, output_location

__all__ = ["export"]

#: What ``keras_version`` the topology claims: the tfjs-layers release whose format it follows.
KERAS_VERSION = "tfjs-layers 4.22.0"


def _version() -> str:
    from ..._version import __version__  # the one place the version lives

    return str(__version__)


def export(
    out: str | os.PathLike[str],
    module: nn.Module,
    example_input: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    quantize: Any = None,
    shard_size: int | None = None,
    ml5: Mapping[str, Any] | None = None,
    labels: Sequence[str] | None = None,
    channels_last: bool = True,
    verify: bool = True,
    format: str = "layers",  # noqa: A002 - the name tfjs uses ("layers-model" / "graph-model")
) -> Path:
    """Write ``module`` as a TensorFlow.js layers model (``model.json`` + weight shards).

    Args:
        out: the directory to write (created if needed), or the ``.json`` path.
        module: the module; it is run in eval mode (and put back as it was).
        example_input: a tensor, or a tuple of tensors for several inputs, in the
            module's own layout; it fixes the input shapes (the batch size stays free).
        quantize: as :func:`tfjs_codec.save`: ``"uint8"``, ``"uint16"``, ``"float16"``
            or ``{dtype: patterns}``.
        shard_size: bytes per weight shard (default 4 MiB).
        ml5: write ``model_meta.json`` so ``ml5.neuralNetwork().load()`` reads the
            model: ``{"task": "classification" | "regression", "inputs": names or
            {name: [min, max]}, "labels": [...] (classification) or "outputs":
            names or {name: [min, max]} (regression)}``. ``[min, max]`` ranges make
            ml5 normalize inputs ``(v - min) / (max - min)`` before the model.
        labels: class names in output order: write Teachable Machine's
            ``metadata.json`` (an image classifier: input ``(N, 3, H, W)``).
        channels_last: image / channel-sequence inputs and outputs channels-last
            (tfjs' layout); False keeps the module's layout at the model's edges
            (with ``Permute`` layers inside).
        verify: rebuild the written model with :func:`~tfjs_codec.torch.to_module`
            and compare with ``module(example_input)``: a difference above
            ``1e-5 + 1e-5 * max|y|`` is an error (``1e-4 + 1e-4 * max|y|`` for graph models).
        format: ``"layers"`` (a Keras layers model, ``tf.loadLayersModel``) or ``"graph"``
            (a TensorFlow graph model, ``tf.loadGraphModel``: any module ``torch.export``
            traces, see :mod:`~tfjs_codec.torch.exporter.graph_model`; ``ml5`` and
            ``labels`` are for layers models only).

    Returns:
        The path of the written ``model.json``.

    Raises:
        TfjsFormatError: an operation that cannot be exported exactly (the message
            names the node: its qualified name and op, and why), or a failed self-check.
    """
    examples = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    if not all(isinstance(x, torch.Tensor) for x in examples):
        raise TypeError("example_input must be a tensor or a tuple of tensors")
    if format not in ("layers", "graph"):
        raise ValueError(f"format must be 'layers' or 'graph', not {format!r}")
    if format == "graph":
        if ml5 is not None or labels is not None:
            raise ValueError("ml5= and labels= describe layers models: use format='layers'")
        from .graph_model import export_graph

        return export_graph(
            out, module, examples, quantize=quantize, shard_size=shard_size, channels_last=channels_last, verify=verify
        )

    def trace() -> Exporter:
        ex = Exporter(module, examples, channels_last=channels_last)
        ex.run()
        return ex

    ex, wants = in_eval_mode(module, examples, trace)

    model_name = type(module).__name__
    topology = ex.graph.topology([v.ref for v in ex.outputs], model_name, KERAS_VERSION)
    document: dict[str, Any] = {
        "modelTopology": topology,
        "format": "layers-model",
        "generatedBy": f"PyTorch {torch.__version__}",
        "convertedBy": f"tfjs_codec {_version()}",
    }
    sidecars: dict[str, bytes] = {}
    if ml5 is not None:
        sidecars["model_meta.json"] = ml5_meta_json(ml5, ex, wants)
    if labels is not None:
        sidecars["metadata.json"] = teachable_machine_json(labels, ex, model_name, _version())

    directory, manifest_name = output_location(out)
    if verify:
        # Checked on float32 weights: quantization is tc.save's (bit-exact) business.
        work = directory / f"{TEMP_PREFIX}export-{os.urandom(4).hex()}"
        try:
            check_path = _write(work, "model.json", document, ex.graph.weights, {}, None, shard_size)
            _verify(check_path, ex, examples, wants)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return _write(directory, manifest_name, document, ex.graph.weights, sidecars, quantize, shard_size)


def _write(
    directory: Path,
    manifest_name: str,
    document: dict[str, Any],
    weights: dict[str, np.ndarray],
    sidecars: dict[str, bytes],
    quantize: Any,
    shard_size: int | None,
) -> Path:
    """The model through the writer's commit (atomic, under the directory's save lock, stale shards removed)."""
    from ... import writer

    return writer.save_document(
        directory / manifest_name, weights, document, sidecars=sidecars, quantize=quantize, shard_size=shard_size
    )


def _verify(path: Path, ex: Exporter, examples: tuple[torch.Tensor, ...], wants: list[torch.Tensor]) -> None:
    """Rebuild with to_module and compare with the module's output (tfjs layout)."""
    from ... import reader
    from ..module import to_module

    with reader.load(path) as model:
        try:
            net = to_module(model)
        except TfjsFormatError as exc:
            raise TfjsFormatError(f"self-check: to_module cannot rebuild the export ({exc}); pass verify=False to skip") from None
    inputs = [x.permute(p) if len(p) == x.dim() else x for x, p in zip(examples, ex.input_perms, strict=False)]
    with torch.no_grad():
        got = net(*[x.to(torch.float32) for x in inputs])
    gots = list(got) if isinstance(got, tuple) else [got]
    for i, (g, w, v) in enumerate(zip(gots, wants, ex.outputs, strict=False)):
        w = w.detach().to(torch.float32)
        w = w.permute(v.perm) if len(v.perm) == w.dim() else w.reshape(g.shape)
        if tuple(g.shape) != tuple(w.shape):
            raise TfjsFormatError(f"self-check: output {i} has shape {list(g.shape)}, torch gives {list(w.shape)} (tfjs layout)")
        diff = float((g - w).abs().max()) if g.numel() else 0.0
        bound = 1e-5 + 1e-5 * (float(w.abs().max()) if w.numel() else 0.0)
        if not diff <= bound:
            raise TfjsFormatError(
                f"self-check: output {i} differs from torch's by {diff:.3g} (> {bound:.3g}); the export is not exact"
            )
