"""The TensorFlow.js weights format, as tfjs-core 4.22 reads it.

This module states the on-disk format this package implements, and holds its
named constants. The sources are tfjs-core's ``io_utils.ts`` (``decodeWeights``),
``weights_loader.ts`` and ``browser_files.ts``, and the ``tensorflowjs`` Python
package's ``write_weights.py`` and ``quantization.py`` (4.22).

Files
-----
A model is a JSON document, usually ``model.json``, and binary shard files next
to it. ``model.json`` is an object; the keys tfjs writes are ``modelTopology``
(Keras layers JSON, or a GraphDef as JSON for graph models), ``format``
(``"layers-model"`` or ``"graph-model"``), ``generatedBy``, ``convertedBy``,
``weightsManifest`` and, when present, ``trainingConfig``, ``signature``,
``userDefinedMetadata``, ``modelInitializer`` and ``initializerSignature``.
Only ``weightsManifest`` matters for the weights. A *bare weights manifest*
(``weights_manifest.json``, ``*-weights_manifest.json``) is that list alone.

``weightsManifest`` is a list of *groups*::

    {"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"],
     "weights": [{"name": "dense/kernel", "shape": [784, 32], "dtype": "float32"},
                 ...]}

Within a group the shard files are concatenated in ``paths`` order, and the
weights are laid out back to back in ``weights`` order, with no padding and no
alignment: a weight may start in one shard and end in the next. ``paths`` are
relative to the directory of the manifest (``./model.weights.bin``,
``weights.bin`` and ``group1-shard1of3.bin`` are all in use). Groups are
independent byte streams; tfjs-core concatenates them in order and decodes the
concatenated weight list in one pass, which gives the same result.

A weight entry has ``name`` (unique across the whole manifest), ``shape`` (a
list of non-negative integers; ``[]`` is a scalar), ``dtype`` (below), and
optionally ``group`` (``"model"`` or ``"optimizer"``: optimizer slots written by
``model.save(..., {includeOptimizer: true})``) and ``quantization``.

Encodings (all little-endian)
-----------------------------
==========  =====================================================================
dtype       bytes
==========  =====================================================================
float32     4 per element, IEEE single (NaN payloads and -0.0 are data)
int32       4 per element, two's complement
bool        1 per element, 0 or 1 (other values are kept as they are)
complex64   8 per element: real then imaginary part, each float32
string      per element: a uint32 byte length, then that many raw bytes (UTF-8
            when the source was text, but any bytes are legal). An empty string
            takes 4 bytes; a tensor with no elements takes 0 bytes.
==========  =====================================================================

Quantization
------------
A weight with ``"quantization": {"dtype": Q, ...}`` is stored as Q instead of its
``dtype``, one element each:

- ``uint8`` (1 byte) and ``uint16`` (2 bytes), affine: ``value = q * scale + min``
  with ``scale`` and ``min`` required. tfjs-core evaluates the expression in
  double precision. For ``dtype`` float32 the result is rounded once to float32;
  for ``dtype`` int32 it applies JavaScript ``Math.round`` (ties go toward
  +infinity: -2.5 -> -2, 0.5 -> 1) and stores into an Int32Array.
- ``float16`` (2 bytes): IEEE half, widened exactly to float32. Only with
  ``dtype`` float32.

``original_dtype`` is written by the Python converter and ignored by tfjs-core,
which uses the entry's ``dtype``. The converter computes the parameters as
described in :mod:`tfjs_codec.quantization`.

Shards
------
The Python converter cuts each group's concatenated bytes every ``shard_size``
bytes (default 4 MiB, 4194304) regardless of weight boundaries, the last shard
shorter, and names them ``group{g}-shard{i}of{n}.bin`` (1-based). Browser
downloads write one unsharded ``model.weights.bin`` per model.

ml5.js bundles add ``model_meta.json`` (input normalization and class legend),
Teachable Machine archives ``metadata.json``; neither concerns the weights.
"""

from __future__ import annotations

#: Shard size of the tensorflowjs converter, the default here too.
DEFAULT_SHARD_SIZE = 4 * 1024 * 1024

#: The file name of a model when a directory is given.
MODEL_JSON = "model.json"

#: Names a bare weights manifest may have, checked after MODEL_JSON.
BARE_MANIFEST_SUFFIX = "weights_manifest.json"

#: Files that travel with a model and are copied unchanged by ``save(like=...)``.
SIDECAR_FILES = ("model_meta.json", "metadata.json")

#: Name of shard ``i`` of ``n`` of group ``g`` (all 1-based), as tensorflowjs names them.
SHARD_NAME = "group{group}-shard{index}of{count}.bin"

#: Manifest keys of a weight entry that tfjs-core reads.
WEIGHT_ENTRY_KEYS = ("name", "shape", "dtype", "group", "quantization")

#: The two values of a weight entry's ``group`` field.
WEIGHT_GROUPS = ("model", "optimizer")
