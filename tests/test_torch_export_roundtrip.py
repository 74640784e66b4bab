"""tct.export of modules made by to_module, and the sidecar files (ml5, Teachable Machine)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import FIXTURES, JS, require_node, require_torch

import tfjs_codec as tc

#: Layers-model fixtures (Sequential and functional, several inputs / outputs, quantized, RNNs).
ROUND_TRIP = [
    "browser_layers_functional",
    "browser_layers_conv2d",
    "browser_layers_lstm",
    "browser_layers_batchnorm",
    "browser_layers_activations",
    "browser_layers_reshape_dropout",
    "browser_layers_pool2d",
    "tfjs_converter_layers_gru",
    "tfjs_converter_dense_uint8",
    "ml5_bundle",
]
SKIP_KEYS = {"name", "trainable", "batch_input_shape", "input_shape", "dtype"}


def _arrays(record: dict, key: str) -> list[np.ndarray]:
    items = record[key + "s"] if key + "s" in record else [record]
    return [np.asarray(i["data"], dtype=np.float32).reshape(i["shape"]) for i in items]


def _layers(model: tc.Model) -> list[tuple[str, str, dict]]:
    topo = model.json["modelTopology"]
    topo = topo.get("model_config", topo)
    config = topo["config"]
    layers = config if isinstance(config, list) else config["layers"]
    return [
        (layer["class_name"], layer["config"]["name"], {k: v for k, v in layer["config"].items() if k not in SKIP_KEYS})
        for layer in layers
        if layer["class_name"] != "InputLayer"
    ]


@pytest.mark.parametrize("case", ROUND_TRIP)
def test_a_to_module_model_exports_to_its_own_topology_and_weights(case, tmp_path):
    torch = require_torch()
    from tfjs_codec import torch as tct

    dequantized = FIXTURES / "dequantized_predict" / f"{case}.json"
    record = json.loads((dequantized if dequantized.exists() else FIXTURES / case / "predict.json").read_text())
    inputs = [torch.from_numpy(x) for x in _arrays(record["input"], "input")]
    with tc.load(FIXTURES / case) as model:
        net = tct.to_module(model)
        layers = _layers(model)
        weights = {name: model[name] for name, spec in model.specs.items() if spec.group != "optimizer"}
    path = tct.export(tmp_path / "out", net, tuple(inputs) if len(inputs) > 1 else inputs[0])
    with tc.load(path) as again:
        assert _layers(again) == layers  # same classes, names and configs, in order
        assert sorted(again.specs) == sorted(weights)  # same weight names
        for name, value in weights.items():
            assert np.array_equal(again[name], np.asarray(value, dtype=np.float32)), name
        rebuilt = tct.to_module(again)
    with torch.no_grad():
        got = rebuilt(*inputs)
    for g, w in zip(got if isinstance(got, tuple) else (got,), _arrays(record["output"], "output"), strict=True):
        np.testing.assert_allclose(g.numpy(), w, rtol=0, atol=1e-5 + 1e-5 * float(np.abs(w).max()))


def test_labels_write_teachable_machine_metadata(tmp_path):
    torch = require_torch()
    from torch import nn

    from tfjs_codec import torch as tct

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2),
                        nn.Softmax(dim=1))
    path = tct.export(tmp_path / "tm", net, torch.rand(1, 3, 32, 32), labels=["Class 1", "Class 2"])
    meta = json.loads((path.parent / "metadata.json").read_text())
    assert meta["labels"] == ["Class 1", "Class 2"]
    assert meta["imageSize"] == 32
    assert meta["packageName"] == "@teachablemachine/image"
    assert meta["modelName"] == "Sequential"
    with tc.load(path.parent) as model:
        assert model.sidecars["metadata.json"] == (path.parent / "metadata.json").read_bytes()
        layer = model.json["modelTopology"]["config"]["layers"][0]
        assert layer["config"]["batch_input_shape"] == [None, 32, 32, 3]  # what the TM loader feeds: NHWC


def test_sidecar_arguments_are_checked(tmp_path):
    torch = require_torch()
    from torch import nn

    from tfjs_codec import torch as tct

    net = nn.Linear(4, 3)
    wrong_labels = r"^ml5: classification needs 3 distinct labels \(one per output unit\), got \['a', 'b'\]$"
    with pytest.raises(ValueError, match=wrong_labels):
        tct.export(tmp_path / "a", net, torch.zeros(1, 4), ml5={"labels": ["a", "b"]})
    with pytest.raises(ValueError, match=r"^ml5: give \[min, max\] for every input or for none"):
        tct.export(tmp_path / "b", net, torch.zeros(1, 4), ml5={"inputs": {"a": [0, 1], "b": None, "c": None, "d": None},
                                                               "labels": ["x", "y", "z"]})
    with pytest.raises(ValueError, match=r"^labels= writes Teachable Machine image metadata: the model must take square RGB"):
        tct.export(tmp_path / "c", net, torch.zeros(1, 4), labels=["x", "y", "z"])
    assert not list(tmp_path.glob("*/model.json"))  # nothing written


#: Nested models (inlined by the export) and shared layers / nested models called twice (one layer, several nodes).
NESTED = ["browser_nested_functional", "browser_nested_deep", "tfjs_converter_layers_nested", "teachable_machine_image"]


def test_nested_and_shared_models_export_flat_and_tfjs_predicts_the_recording(tmp_path):
    torch = require_torch()
    node = require_node()
    from tfjs_codec import torch as tct

    jobs, wants = [], []
    for case in NESTED:
        record = json.loads((FIXTURES / case / "predict.json").read_text())
        inputs = [torch.from_numpy(x) for x in _arrays(record["input"], "input")]
        with tc.load(FIXTURES / case) as model:
            net = tct.to_module(model)
            weights = {name: model[name] for name, spec in model.specs.items() if spec.group != "optimizer"}
        path = tct.export(tmp_path / case, net, tuple(inputs) if len(inputs) > 1 else inputs[0])
        with tc.load(path) as again:
            layers = again.json["modelTopology"]["config"]["layers"]
            assert not [layer for layer in layers if layer["class_name"] in ("Model", "Functional", "Sequential")]
            assert sorted(again.specs) == sorted(weights)  # the weights keep their tfjs names
        jobs.append({"dir": str(path.parent), "input": record["input"]})
        wants.append(_arrays(record["output"], "output"))
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([node, str(JS / "predict_many.mjs"), str(tmp_path / "jobs.json"), str(tmp_path / "out.json")],
                   check=True, timeout=300)
    for case, res, want in zip(NESTED, json.loads((tmp_path / "out.json").read_text()), wants, strict=True):
        assert "error" not in res, f"{case}: {res['error']}"
        got = _arrays(res["output"], "output")
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 + 1e-5 * float(np.abs(w).max()), err_msg=case)
