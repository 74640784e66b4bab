"""Keras 3 exports: to_module says what the file is and that tfjs cannot load it either."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import FIXTURES, JS, require_node, require_torch

import tfjs_codec as tc

ADVICE = (
    "tfjs-layers 4.22 cannot load it either (tf.loadLayersModel: \"An InputLayer should be passed either a "
    "`batchInputShape` or an `inputShape`.\"), and tfjs_codec.torch builds Keras 2 / tfjs-layers topologies only; "
    "save the model from Keras 2 (tf_keras, TF_USE_LEGACY_KERAS=1) before converting it"
)

MESSAGES = {
    "keras3_converter_lstm": (
        "model.json: modelTopology: a Keras 3 export (keras_version '3.15.1'; InputLayer 'input_layer' has batch_shape "
        "where Keras 2 writes batch_input_shape; dtypes are DTypePolicy objects; weights are named with the model's "
        f"name first, like 'sequential_4/dense_9/kernel'): {ADVICE}"
    ),
    "keras3_converter_functional": (
        "model.json: modelTopology: a Keras 3 export (keras_version '3.15.1'; InputLayer 'x' has batch_shape where "
        "Keras 2 writes batch_input_shape; inbound nodes are {args, kwargs} objects; dtypes are DTypePolicy objects): "
        f"{ADVICE}"
    ),
}


@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_keras3_export_gets_a_message_saying_what_it_is(case):
    require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / case) as model:
        # The weights themselves decode like any other (tc.load, state_dict work).
        assert all(n.count("/") >= 1 for n in model.specs)
        with pytest.raises(tc.TfjsFormatError) as err:
            tct.to_module(model)
    assert str(err.value) == MESSAGES[case]


def test_keras3_signs_are_found_in_nested_models_and_without_keras_version(fixture_copy):
    require_torch()
    from tfjs_codec import torch as tct

    folder = fixture_copy("keras3_converter_functional")
    path = folder / "model.json"
    doc = json.loads(path.read_text())
    del doc["modelTopology"]["keras_version"]
    for lc in doc["modelTopology"]["model_config"]["config"]["layers"]:
        lc.update(module="keras.layers", registered_name=None)
        if lc["class_name"] == "InputLayer":
            lc["config"]["batch_input_shape"] = lc["config"]["batch_shape"]
    path.write_text(json.dumps(doc))
    with tc.load(folder) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == (
        "model.json: modelTopology: a Keras 3 export (inbound nodes are {args, kwargs} objects; layer entries carry "
        "module and registered_name; dtypes are DTypePolicy objects): tfjs-layers 4.22 reads the Keras 2 forms only, "
        "so tf.loadLayersModel is not expected to load it either, and tfjs_codec.torch builds Keras 2 / tfjs-layers "
        "topologies only; save the model from Keras 2 (tf_keras, TF_USE_LEGACY_KERAS=1) before converting it"
    )


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
