"""One handler per aten operator of a decomposed ``torch.export`` program -> TensorFlow ops.

A handler gets a :class:`~tfjs_codec.torch.exporter.aten_base.Call` (the emitter, the fx node,
its arguments with traced tensors as :class:`~tfjs_codec.torch.exporter.tf_emit.Value` and
everything else as Python values, and the output's static shape and dtype) and returns a Value,
or a list for several outputs. It raises :class:`~tfjs_codec.torch.exporter.tf_emit.Unsupported`
with the reason when it cannot express the call exactly. Values are in torch's layout; ops that
tfjs runs channels-last only (convolutions, pooling, resizing, DepthToSpace) are wrapped in
``Transpose`` nodes, which the layout pass (:mod:`~tfjs_codec.torch.exporter.tf_layout`) cancels
between such ops.

Semantics are tfjs-converter 4.22's (``src/operations/executors/*.ts``), as the project's own
graph interpreter (:mod:`tfjs_codec.torch.graph`) runs them.

This module imports the families, which register their handlers in ``HANDLERS``, and hands the
exporter (:mod:`~tfjs_codec.torch.exporter.graph_model`) what it uses. The modules:

- :mod:`~tfjs_codec.torch.exporter.aten_base`: ``Call``, ``HANDLERS``, ``@handles``, ``KEEP``,
  ``REFUSED``, ``target_key`` and the helpers several families share;
- :mod:`~tfjs_codec.torch.exporter.aten_elementwise`: plumbing (getitem, copies, casts, symbolic
  sizes), unary math, logical ops, arithmetic, comparisons, ``where``, ``clamp``;
- :mod:`~tfjs_codec.torch.exporter.aten_activations`: GELU, SiLU, ELU, PReLU, softmax...;
- :mod:`~tfjs_codec.torch.exporter.aten_conv`: matrix products, convolutions, transposed ones;
- :mod:`~tfjs_codec.torch.exporter.aten_norm`: batch, layer and group norm;
- :mod:`~tfjs_codec.torch.exporter.aten_pool`: pooling, resizing, pixel shuffle, padding;
- :mod:`~tfjs_codec.torch.exporter.aten_shape`: views, permutes, cat, split, slicing, indexing,
  gather;
- :mod:`~tfjs_codec.torch.exporter.aten_reduce`: reductions, max / min, argmax, cumsum, topk,
  sort;
- :mod:`~tfjs_codec.torch.exporter.aten_created`: tensors made in ``forward`` (full, zeros,
  arange...);
- :mod:`~tfjs_codec.torch.exporter.aten_spectral`: rfft / irfft and complex tensors.

A new op goes in its family's module, registered with ``@handles("aten_name")``.
"""

from __future__ import annotations

from . import (  # noqa: F401 - imported for their handlers (registered in HANDLERS)
    aten_activations,
    aten_conv,
    aten_created,
    aten_elementwise,
    aten_norm,
    aten_pool,
    aten_reduce,
    aten_shape,
    aten_spectral,
)
from .aten_base import HANDLERS, KEEP, REFUSED, Call, target_key

__all__ = ["HANDLERS", "Call", "KEEP", "target_key", "REFUSED"]
