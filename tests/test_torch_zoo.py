"""The layer zoo: every layer class tfjs-layers 4.22 registers, as a torch module, against tfjs.

Fixtures ``fixtures/zoo_*`` are written by ``js/make_layer_zoo.mjs`` (tfjs 4.22 in Node):
one small model per class and per option that changes the math, with the predictions
tfjs made after reloading the saved files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import tfjs_codec as tc
from conftest import FIXTURES, dir_bytes, require_torch

#: Zoo fixtures with a recorded prediction.
ZOO = sorted(p.parent.name for p in FIXTURES.glob("zoo_*/predict.json"))
#: The layer classes tfjs 4.22 can deserialize (tf.serialization.SerializationMap), as recorded.
REGISTERED = json.loads((FIXTURES / "zoo_registered_classes.json").read_text())["classes"]
#: Model classes (built by to_module's topology code, not by a layer builder).
MODEL_CLASSES = {"Sequential", "Model", "Functional"}


def _arrays(record: dict, key: str) -> list[np.ndarray]:
    items = record[key + "s"] if key + "s" in record else [record]
    return [np.asarray(i["data"], dtype=np.float32).reshape(i["shape"]) for i in items]


def _run(net, inputs: list[np.ndarray]) -> list[np.ndarray]:
    torch = require_torch()
    with torch.no_grad():
        out = net(*[torch.from_numpy(x) for x in inputs])
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def _close(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 + 1e-5 * float(np.abs(w).max(initial=0.0)))


def _classes(layer_cfgs: list) -> set[str]:
    """Class names in a list of layer configs, wrapped layers and RNN cells included."""
    out: set[str] = set()
    stack = list(layer_cfgs)
    while stack:
        lc = stack.pop()
        if not isinstance(lc, dict) or "class_name" not in lc:
            continue
        out.add(lc["class_name"])
        cfg = lc.get("config") or {}
        for key in ("layer", "cell", "layers"):
            inner = cfg.get(key)
            stack.extend(inner if isinstance(inner, list) else [inner])
        if isinstance(cfg.get("cells"), list):
            stack.extend(cfg["cells"])
    return out


def test_the_zoo_has_a_fixture_for_every_class_tfjs_registers():
    covered: set[str] = set()
    for case in sorted(p.parent.name for p in FIXTURES.glob("zoo_*/model.json")):
        topo = json.loads((FIXTURES / case / "model.json").read_text())["modelTopology"]
        covered |= _classes(topo["config"]["layers"])
    # Every registered layer class but the model classes has a zoo model (older fixtures cover the rest).
    older = {"Dense", "Conv1D", "Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling1D",
             "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
             "GlobalMaxPooling1D", "GlobalMaxPooling2D", "LayerNormalization", "Embedding", "LSTM", "GRU", "SimpleRNN",
             "Permute", "InputLayer"}
    missing = set(REGISTERED) - MODEL_CLASSES - covered - older
    assert not missing, f"no zoo fixture uses {sorted(missing)}"
    assert len(REGISTERED) == 68 and "Subtract" not in REGISTERED and "EinsumDense" not in REGISTERED


def test_every_registered_class_is_built_or_refused_by_name():
    require_torch()
    from tfjs_codec.torch.registry import kinds

    handled = set(kinds()) | MODEL_CLASSES
    assert sorted(set(REGISTERED) - handled) == []


@pytest.mark.parametrize("case", ZOO)
def test_zoo_module_matches_tfjs(case):
    require_torch()
    from tfjs_codec import torch as tct

    record = json.loads((FIXTURES / case / "predict.json").read_text())
    with tc.load(FIXTURES / case) as model:
        net = tct.to_module(model)
    assert not net.training
    _close(_run(net, _arrays(record["input"], "input")), _arrays(record["output"], "output"))


@pytest.mark.parametrize("case", ZOO)
def test_zoo_save_module_round_trip_is_byte_identical(case, tmp_path):
    require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / case) as model:
        net = tct.to_module(model)
        tct.save_module(tmp_path / "out", net, like=model)
    src = FIXTURES / case
    assert dir_bytes(tmp_path / "out") == {k: v for k, v in dir_bytes(src).items() if k in ("model.json", "model.weights.bin")}
