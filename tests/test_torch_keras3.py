"""Keras 3 exports: recognised by their signs, and built by to_module from their Keras 2 form; tfjs itself cannot load them."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import FIXTURES, JS, require_node, require_torch

import tfjs_codec as tc

#: The Keras 3 exports of the first report: what makes each one a Keras 3 file.
SIGNS = {
    "keras3_converter_lstm": [
        "keras_version '3.15.1'",
        "InputLayer 'input_layer' has batch_shape where Keras 2 writes batch_input_shape",
        "dtypes are DTypePolicy objects",
        "weights are named with the model's name first, like 'sequential_4/dense_9/kernel'",
    ],
    "keras3_converter_functional": [
        "keras_version '3.15.1'",
        "InputLayer 'x' has batch_shape where Keras 2 writes batch_input_shape",
        "inbound nodes are {args, kwargs} objects",
        "dtypes are DTypePolicy objects",
    ],
}
MESSAGES = SIGNS


@pytest.mark.parametrize("case", sorted(SIGNS))
def test_keras3_export_is_recognised_and_built(case):
    require_torch()
    from tfjs_codec import torch as tct
    from tfjs_codec.keras3 import keras3_signs

    with tc.load(FIXTURES / case) as model:
        assert keras3_signs(model.json, list(model.specs)) == SIGNS[case]
        net = tct.to_module(model)
        # The module's weight names are the file's own, so save_module(like=model) writes them back.
        assert sorted(net.weight_names) == sorted(model.specs)


def test_keras3_signs_are_found_in_nested_models_and_without_keras_version(fixture_copy):
    from tfjs_codec.keras3 import keras3_signs

    folder = fixture_copy("keras3_converter_functional")
    path = folder / "model.json"
    doc = json.loads(path.read_text())
    del doc["modelTopology"]["keras_version"]
    for lc in doc["modelTopology"]["model_config"]["config"]["layers"]:
        lc.update(module="keras.layers", registered_name=None)
        if lc["class_name"] == "InputLayer":
            lc["config"]["batch_input_shape"] = lc["config"]["batch_shape"]
    path.write_text(json.dumps(doc))
    with tc.load(folder) as model:
        assert keras3_signs(model.json, list(model.specs)) == [
            "inbound nodes are {args, kwargs} objects",
            "layer entries carry module and registered_name",
            "dtypes are DTypePolicy objects",
        ]


@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_tfjs_itself_cannot_load_a_keras3_export(case, tmp_path):
    node = require_node()
    (tmp_path / "in.json").write_text(json.dumps({"shape": [1, 4], "data": [0, 0, 0, 0]}))
    r = subprocess.run(
        [node, str(JS / "predict.mjs"), str(FIXTURES / case), str(tmp_path / "in.json"), str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode != 0 and not (tmp_path / "out.json").exists()
    assert "An InputLayer should be passed either a `batchInputShape` or an `inputShape`." in r.stderr
