"""torch -> TensorFlow.js layers model: ``export`` (in :mod:`~tfjs_codec.torch.exporter.api`).

The modules, from the bottom up (each imports only those before it):

- :mod:`~tfjs_codec.torch.exporter.graph`: the Keras functional graph being
  written (``KerasGraph``), the ``Value`` of a traced tensor, layout helpers and
  initializer names;
- :mod:`~tfjs_codec.torch.exporter.calls`: what a node handler sees (``Call``)
  and the handler tables (``FUNCTIONS``, ``METHODS``);
- :mod:`~tfjs_codec.torch.exporter.rnn` and :mod:`~tfjs_codec.torch.exporter.ops`:
  the handlers of torch functions and tensor methods, and the emit helpers the
  layer families' export halves use (``pool``, ``zero_pad``, ``rnn_call``...);
- the layer families (:mod:`tfjs_codec.torch.conv`, ...) import those, lazily,
  for their export halves; the registry below them never imports the exporter;
- :mod:`~tfjs_codec.torch.exporter.engine`: traces a module and walks its graph;
- :mod:`~tfjs_codec.torch.exporter.bundles` (ml5 / Teachable Machine sidecars),
  :mod:`~tfjs_codec.torch.exporter.steps` (what both formats share: the eval-mode run,
  the output location) and :mod:`~tfjs_codec.torch.exporter.api` (``export``: write and self-check).

``export(..., format="graph")`` (a TensorFlow.js graph model) has its own modules, beside
the layers ones and importing none of them: :mod:`~tfjs_codec.torch.exporter.tf_graph`
(the GraphDef being written), :mod:`~tfjs_codec.torch.exporter.tf_emit` (``Value``,
``Emitter``), :mod:`~tfjs_codec.torch.exporter.aten_ops` (one handler per aten op, in the
``aten_*`` family modules over :mod:`~tfjs_codec.torch.exporter.aten_base`),
:mod:`~tfjs_codec.torch.exporter.tf_layout` (the transpose pass) and
:mod:`~tfjs_codec.torch.exporter.graph_model` (trace, translate, write, verify).

Importing this package imports none of them: the families' export halves can
import the vocabulary without loading the engine.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export"]


def __getattr__(name: str) -> Any:
    if name == "export":
        from .api import export

        return export
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
