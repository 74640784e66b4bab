"""Nested models, shared layers, several inputs and outputs (to_module / save_module).

Predictions of every fixture are compared with tfjs' (or Keras') in test_torch_module.py;
here: the structure users rely on (weight names, one module per shared layer, node
indices of nested models' calls) and the errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FIXTURES, require_torch

import tfjs_codec as tc

TOLERANCE = 1e-5


def _inputs(case: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    record = json.loads((FIXTURES / case / "predict.json").read_text())

    def arrays(rec: dict, key: str) -> list[np.ndarray]:
        items = rec[key + "s"] if key + "s" in rec else [rec]
        return [np.asarray(i["data"], np.float32).reshape(i["shape"]) for i in items]

    return arrays(record["input"], "input"), arrays(record["output"], "output")


def _edit(folder, edit):
    path = folder / "model.json"
    doc = json.loads(path.read_text())
    edit(doc["modelTopology"])
    path.write_text(json.dumps(doc))


def _layer(topology: dict, name: str) -> dict:
    config = topology.get("model_config", topology)["config"]
    return next(lc for lc in config["layers"] if (lc.get("name") or lc["config"]["name"]) == name)


def test_nested_models_keep_tfjs_weight_names_under_their_paths():
    require_torch()
    from tfjs_codec import torch as tct
    from tfjs_codec.torch.module import Graph

    with tc.load(FIXTURES / "browser_nested_functional") as model:
        net = tct.to_module(model)
        sizes = {name: int(np.prod(spec.shape)) for name, spec in model.specs.items()}
    assert net.input_names == ["a", "b"]
    assert net.output_names == ["multi_out", "multi_out", "mul"]
    assert isinstance(net.layers["inner_model"], Graph) and net.layers["inner_model"].tfjs_class == "Model"
    assert isinstance(net.layers["seq_in"], Graph) and net.layers["seq_in"].tfjs_class == "Sequential"
    assert net.weight_names["inner_d1/kernel"] == ("inner_model.inner_d1", "kernel")
    assert net.weight_names["seq_d/bias"] == ("seq_in.seq_d", "bias")
    assert net.weight_names["shared/kernel"] == ("shared", "kernel")
    assert net.layer("inner_model.inner_d1") is net.layers["inner_model"].layers["inner_d1"]
    with pytest.raises(KeyError):
        net.layer("inner_model.nothing")
    # One parameter per weight of the file: shared layers and nested models called twice hold one copy.
    assert sum(p.numel() for p in net.parameters()) == sum(sizes.values())
    assert sorted(net.tfjs_state()) == sorted(sizes)

    with tc.load(FIXTURES / "browser_nested_deep") as model:
        net = tct.to_module(model)
    assert net.weight_names["l3_d/kernel"] == ("level1.level2.level3.l3_d", "kernel")
    assert net.weight_names["l0_out/bias"] == ("l0_out", "bias")


def test_shared_layers_and_nested_models_run_once_per_call_site():
    torch = require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "browser_nested_functional") as model:
        net = tct.to_module(model)
    calls: dict[str, int] = {}
    for key in ("shared", "inner_model", "seq_in", "multi_out", "multi_in"):
        net.layers[key].register_forward_hook(lambda m, i, o, key=key: calls.__setitem__(key, calls.get(key, 0) + 1))
    inputs, want = _inputs("browser_nested_functional")
    with torch.no_grad():
        out = net(*[torch.from_numpy(x) for x in inputs])
    assert calls == {"shared": 2, "inner_model": 2, "seq_in": 1, "multi_out": 1, "multi_in": 1}
    # Several outputs come back as a tuple, in output_layers order (two of them from one nested call).
    assert isinstance(out, tuple) and [tuple(o.shape) for o in out] == [w.shape for w in want]
    # A change to the shared layer's weights shows at both call sites: with its kernel zeroed,
    # shared(.) = sigmoid(bias) at both, so sum = 2 sigmoid(bias) and the third output is
    # multi_in(sum, seq_in(b)) * sigmoid(bias).
    with torch.no_grad():
        net.layers["shared"].weight.zero_()
        tuned = net(*[torch.from_numpy(x) for x in inputs])
        s = torch.sigmoid(net.layers["shared"].bias).expand(3, 2)
        expected = net.layers["multi_in"](2 * s, net.layers["seq_in"](torch.from_numpy(inputs[1]))) * s
    np.testing.assert_allclose(tuned[2].numpy(), expected.numpy(), rtol=0, atol=1e-6)
    assert not np.allclose(tuned[2].numpy(), want[2], atol=1e-3)


def test_forward_takes_the_models_inputs():
    torch = require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "browser_nested_functional") as model:
        net = tct.to_module(model)
    with pytest.raises(TypeError) as err:
        net(torch.zeros(1, 4))
    assert str(err.value) == "Model 'nested_functional' takes 2 input(s) (a, b), got 1"
    with pytest.raises(TypeError) as err:
        net.layers["multi_in"](torch.zeros(1, 2))
    assert str(err.value) == "Model 'multi_in' takes 2 input(s) (mi_p, mi_q), got 1"


def test_refs_to_a_nested_sequential_without_input_shape_count_from_node_0(fixture_copy):
    # Keras 2 (_should_skip_first_node) numbers the calls of a nested Sequential that has no
    # input layer (it was never built on its own) from 0; built models' calls count from 1.
    torch = require_torch()
    from tfjs_codec import torch as tct

    folder = fixture_copy("tfjs_converter_layers_nested")

    def unbuilt(topology):
        head = _layer(topology, "head_noshape")
        head["config"]["layers"] = [lc for lc in head["config"]["layers"] if lc["class_name"] != "InputLayer"]
        _layer(topology, "mul")["inbound_nodes"] = [[["head_noshape", 0, 0, {}], ["head_noshape", 1, 0, {}]]]
        topology["model_config"]["config"]["output_layers"][0] = ["head_noshape", 0, 0]

    _edit(folder, unbuilt)
    inputs, want = _inputs("tfjs_converter_layers_nested")
    with tc.load(folder) as model:
        net = tct.to_module(model)
    with torch.no_grad():
        got = net(*[torch.from_numpy(x) for x in inputs])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w, rtol=0, atol=TOLERANCE)


def test_a_ref_to_a_nested_models_own_creation_node_is_an_error(fixture_copy):
    require_torch()
    from tfjs_codec import torch as tct

    folder = fixture_copy("browser_nested_functional")
    _edit(folder, lambda t: _layer(t, "shared").update(inbound_nodes=[[["inner_model", 0, 0, {}]], [["inner_model", 2, 0, {}]]]))
    with tc.load(folder) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == (
        "model.json: modelTopology: layer 'shared' needs inputs no layer produces ([('inner_model', 0, 0)])"
    )


def test_nested_model_errors_name_the_nested_layer(fixture_copy):
    require_torch()
    from tfjs_codec import torch as tct

    folder = fixture_copy("browser_nested_functional")
    _edit(folder, lambda t: _layer(t, "multi_out")["config"].pop("output_layers"))
    with tc.load(folder) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == (
        "model.json: layer 'multi_out' (Model).config.output_layers: is None, not a list of [layer, node, tensor]"
    )
    folder = fixture_copy("browser_nested_deep")
    _edit(folder, lambda t: _layer(t, "level1")["config"]["layers"][2]["config"]["layers"][0].update(class_name="Dense3D"))
    with tc.load(folder) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == "model.json: layer 'l2_d' (Dense3D): layer class is not supported by tfjs_codec.torch"


def test_a_layers_weights_under_another_prefix_are_named_in_the_error(fixture_copy):
    # tf.loadLayersModel matches weights by exact name too ("Provided weight data has no target
    # variable: outer/c_same/kernel"); the error points at the weight the manifest does have.
    require_torch()
    from tfjs_codec import torch as tct

    folder = fixture_copy("browser_layers_conv2d")
    path = folder / "model.json"
    doc = json.loads(path.read_text())
    for group in doc["weightsManifest"]:
        for w in group["weights"]:
            w["name"] = "outer/" + w["name"]
    path.write_text(json.dumps(doc))
    with tc.load(folder) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == (
        "model.json: layer 'c_same' (Conv2D): has no weight 'kernel' in the manifest (the manifest has "
        "'outer/c_same/kernel': named under another prefix, which tf.loadLayersModel does not match to this layer "
        "either)"
    )
