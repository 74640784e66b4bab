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

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from .exporter.api import export


def __getattr__(name: str) -> Any:
    # ``export`` is imported on first use: tracing pulls in torch.fx, which ``to_module`` never needs.
    if name == "export":
        from .exporter.api import export

        return export
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
