"""PyTorch adapter: TensorFlow.js weights as torch tensors, Keras topologies as modules.

The only part of tfjs_codec that imports torch; ``import tfjs_codec`` never does.

    >>> import tfjs_codec as tc
    >>> from tfjs_codec import torch as tct                    # doctest: +SKIP
    >>> model = tc.load("fixtures/ml5_bundle")                  # doctest: +SKIP
    >>> net = tct.to_module(model)          # NHWC in, NHWC out, like tfjs   # doctest: +SKIP
    >>> ...                                 # fine-tune net with any optimizer
    >>> tct.save_module("out", net, like=model)   # model.json + bin + model_meta.json

Layouts (tfjs -> torch parameter of the built module):

- Dense ``kernel`` (in, out) -> ``weight`` (out, in); Conv1D (k, in, out) ->
  (out, in, k); Conv2D (kh, kw, in, out) -> (out, in, kh, kw); Conv2DTranspose
  (kh, kw, out, in) -> (in, out, kh, kw); DepthwiseConv2D (kh, kw, in, m) ->
  (in*m, 1, kh, kw) with ``groups=in``; SeparableConv2D both kernels likewise;
  Conv3D / Conv3DTranspose / ConvLSTM2D likewise with one more spatial axis or gates.
- LSTM / GRU / SimpleRNN: ``weight_ih`` = kernel.T, ``weight_hh`` =
  recurrent_kernel.T, ``bias`` as stored, Keras gate order (LSTM i, f, c, o;
  GRU z, r, h), Keras cell equations (see :mod:`tfjs_codec.torch.recurrent`).
- BatchNormalization: ``weight``/``bias`` = gamma/beta, buffers
  ``running_mean``/``running_var`` = moving_mean/moving_variance, Keras epsilon,
  ``momentum`` the Keras momentum m. Train mode updates the moving statistics as
  tfjs-layers and Keras 2 do, ``moving -= (moving - batch) * (1 - m)`` with the
  biased batch variance (torch's ``nn.BatchNorm`` would use the unbiased one).
- LayerNormalization: ``weight``/``bias`` = gamma/beta in their tfjs shape
  ``[input_shape[a] for a in axis]``, over any axes but the batch axis.

Models: Sequential and functional (``Model`` / ``Functional``) topologies; a model
nested as a layer (to any depth) is a :class:`~tfjs_codec.torch.module.Graph`
inside the outer module, called at each node the topology calls it (node indices of
a nested model's calls count from 1, its node 0 being its own creation); a shared
layer is one module. ``net.ml5`` / ``net.teachable`` expose ml5's
``model_meta.json`` and Teachable Machine's ``metadata.json`` (labels, image size,
input preprocessing). A Keras 3 export is refused with a message saying what it is.

Structure: one file per layer family (``activations``, ``core``, ``conv``,
``pooling``, ``normalization``, ``recurrent``, ``merge``, ``preprocessing``),
each holding its torch modules with their builders beside them, all registered
in the one registry of :mod:`tfjs_codec.torch.registry`, whose docstring says
how to add a layer class and how the export half attaches.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    import torch as _torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "tfjs_codec.torch needs PyTorch, which is not installed: pip install tfjs-codec[torch]"
    ) from exc

from .ml5 import Ml5Meta, ml5_meta
from .module import TfjsModule, save_module, to_module
from .state import save_state_dict, state_dict
from .teachable import TeachableMeta, teachable_meta


def export(
    out: str | os.PathLike[str],
    module: _torch.nn.Module,
    example_input: _torch.Tensor | tuple[_torch.Tensor, ...],
    *,
    quantize: Any = None,
    shard_size: int | None = None,
    ml5: Mapping[str, Any] | None = None,
    labels: Sequence[str] | None = None,
    channels_last: bool = True,
    verify: bool = True,
) -> Path:
    """Write a torch module as a TensorFlow.js layers model (``model.json`` + shards).

    Imported on first use (tracing pulls in torch.fx); the arguments, layouts and
    checks are those of :func:`tfjs_codec.torch.exporter.export`.

    Args:
        out: the directory to write, or the ``.json`` path.
        module: the module (run in eval mode).
        example_input: a tensor or a tuple of tensors, in the module's layout.
        quantize: as :func:`tfjs_codec.save`.
        shard_size: bytes per weight shard.
        ml5: write ml5's ``model_meta.json`` (``{task, inputs, labels | outputs}``).
        labels: write Teachable Machine's image ``metadata.json``.
        channels_last: image inputs / outputs channels-last (tfjs' layout).
        verify: rebuild the result with :func:`to_module` and compare with torch.

    Returns:
        The path of the written ``model.json``.

    Raises:
        TfjsFormatError: an operation with no exact tfjs form (naming the node), or a failed self-check.
        ValueError: malformed ``ml5`` / ``labels`` arguments.
    """
    from .exporter import export as _export

    return _export(
        out, module, example_input, quantize=quantize, shard_size=shard_size, ml5=ml5, labels=labels,
        channels_last=channels_last, verify=verify,
    )

__all__ = [
    "Ml5Meta",
    "TeachableMeta",
    "TfjsModule",
    "export",
    "ml5_meta",
    "save_module",
    "save_state_dict",
    "state_dict",
    "teachable_meta",
    "to_module",
]
