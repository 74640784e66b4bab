"""to_module / save_module against the predictions TensorFlow.js and Keras recorded."""

from __future__ import annotations

import io
import json
import shutil
import warnings

import numpy as np
import pytest
from conftest import FIXTURES, dir_bytes, require_torch

import tfjs_codec as tc

#: Every layers-model fixture with recorded predictions.
LAYERS_MODELS = sorted(
    p.parent.name
    for p in FIXTURES.glob("*/predict.json")
    if json.loads((p.parent / "model.json").read_text()).get("format") != "graph-model"
    and not p.parent.name.startswith("keras3_")  # Keras 3 exports: tests/test_keras3.py
)
#: Quantized fixtures: their predict.json holds the float Keras model's output, so
#: they are compared with tfjs' predictions of the dequantized model instead.
DEQUANTIZED = {p.stem: p for p in (FIXTURES / "dequantized_predict").glob("*.json")}

TOLERANCE = 1e-5


def _arrays(record: dict, key: str) -> list[np.ndarray]:
    items = record[key + "s"] if key + "s" in record else [record]
    return [np.asarray(i["data"], dtype=np.float32).reshape(i["shape"]) for i in items]


def _prediction(case: str) -> dict:
    path = DEQUANTIZED.get(case, FIXTURES / case / "predict.json")
    return json.loads(path.read_text())


def _run(net, inputs):
    torch = require_torch()
    with torch.no_grad():
        out = net(*[torch.from_numpy(x) for x in inputs])
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def test_fixture_list_covers_both_writers_and_the_quantized_ones():
    assert any(c.startswith("browser_layers_") for c in LAYERS_MODELS)
    assert any(c.startswith("tfjs_converter_layers_") for c in LAYERS_MODELS)
    quantized = [c for c in LAYERS_MODELS if any(s.quantization for s in tc.load(FIXTURES / c).specs.values())]
    assert sorted(quantized) == sorted(DEQUANTIZED)
    # Fixtures made by js/make_torch_fixtures.mjs, each for a layer or option no other fixture has.
    assert {"browser_layers_global_pool1d", "browser_layers_layernorm_axes", "browser_layers_batchnorm_train"} <= set(
        LAYERS_MODELS
    )
    classes = {
        layer["class_name"]
        for layer in tc.load(FIXTURES / "browser_layers_global_pool1d").json["modelTopology"]["config"]["layers"]
    }
    assert {"GlobalAveragePooling1D", "GlobalMaxPooling1D"} <= classes


@pytest.mark.parametrize("case", LAYERS_MODELS)
def test_module_matches_recorded_predictions(case):
    require_torch()
    from tfjs_codec import torch as tct

    record = _prediction(case)
    with tc.load(FIXTURES / case) as model:
        net = tct.to_module(model)
    assert not net.training
    got = _run(net, _arrays(record["input"], "input"))
    want = _arrays(record["output"], "output")
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want, strict=False):
        np.testing.assert_allclose(g, w, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize(
    "case",
    [
        "browser_layers_lstm",
        "tfjs_converter_dense_uint8",
        "browser_dense_optimizer",
        "browser_nested_functional",
        "browser_nested_deep",
        "browser_nested_sequential_first_model",
        "tfjs_converter_layers_nested",
        "teachable_machine_image",
        "teachable_machine_pose",
        "teachable_machine_audio",
    ],
)
def test_save_module_unchanged_is_byte_identical(case, tmp_path):
    require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / case) as model:
        net = tct.to_module(model)
        tct.save_module(tmp_path / "out", net, like=model)
    src = {k: v for k, v in dir_bytes(FIXTURES / case).items() if k not in ("expected.json", "expected.bin", "predict.json")}
    assert dir_bytes(tmp_path / "out") == src


def test_layouts_map_to_torch_conventions():
    require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "browser_layers_conv2d_transpose") as model:
        net = tct.to_module(model)
        kernel = model["ct_same_s2/kernel"]  # (kh, kw, out, in)
        assert tuple(net.layers["ct_same_s2"].weight.shape) == (3, 4, 3, 3)  # (in, out, kh, kw)
        assert np.array_equal(net.layers["ct_same_s2"].weight.detach().numpy(), kernel.transpose(3, 2, 0, 1))
    with tc.load(FIXTURES / "browser_layers_depthwise_conv2d") as model:
        net = tct.to_module(model)
        dk = model["dw_same/depthwise_kernel"]  # (kh, kw, in=3, m=2)
        w = net.layers["dw_same"].depthwise_weight.detach().numpy()
        assert w.shape == (6, 1, 3, 3)
        assert np.array_equal(w[2 * 1 + 1, 0], dk[:, :, 1, 1])  # channel c*m + j
    with tc.load(FIXTURES / "tfjs_converter_layers_gru") as model:
        net = tct.to_module(model)
        assert net.weight_names["gru/gru_cell/kernel"] == ("gru", "kernel")
        assert net.layers["gru"].kind == "gru_after"
    with tc.load(FIXTURES / "browser_layers_gru") as model:
        assert tct.to_module(model).layers["gru_seq"].kind == "gru_before"


def test_save_module_writes_fine_tuned_weights_and_keeps_optimizer_weights(fixture_copy, tmp_path):
    torch = require_torch()
    from tfjs_codec import torch as tct

    src = fixture_copy("browser_dense_optimizer")
    with tc.load(src) as model:
        net = tct.to_module(model)
        with torch.no_grad():
            net.layers["bdo_dense_1"].weight.mul_(2.0)
            net.layers["bdo_dense_2"].bias.add_(1.0)
        tct.save_module(tmp_path / "out", net, like=model)
        with tc.load(tmp_path / "out") as saved:
            assert list(saved.specs) == list(model.specs)
            np.testing.assert_array_equal(saved["bdo_dense_1/kernel"], model["bdo_dense_1/kernel"] * 2)
            np.testing.assert_array_equal(saved["bdo_dense_2/bias"], model["bdo_dense_2/bias"] + 1)
            np.testing.assert_array_equal(saved["bdo_dense_2/kernel"], model["bdo_dense_2/kernel"])
            for name, spec in model.specs.items():
                if spec.group == "optimizer":
                    assert saved.raw(name).tobytes() == model.raw(name).tobytes(), name
            assert saved.json["trainingConfig"] == model.json["trainingConfig"]


def test_optimizer_weights_stay_out_of_the_module():
    require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "browser_dense_optimizer") as model:
        net = tct.to_module(model)
    assert sorted(net.weight_names) == sorted(n for n, s in model.specs.items() if s.group != "optimizer")
    assert sum(p.numel() for p in net.parameters()) == 4 * 16 + 16 + 16 * 3 + 3


def test_batchnorm_epsilon_and_momentum():
    require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "browser_layers_batchnorm") as model:
        net = tct.to_module(model)
    bn = net.layers["bn_conv"]
    assert (bn.eps, bn.momentum) == (0.01, 0.9)
    assert net.layers["bn_noscale"].weight is None
    assert net.layers["bn_noscale"].tfjs_vars == ("beta", "moving_mean", "moving_variance")


def _edit_topology(folder, edit):
    path = folder / "model.json"
    doc = json.loads(path.read_text())
    edit(doc["modelTopology"])
    path.write_text(json.dumps(doc))


def test_unsupported_option_names_layer_class_and_option(fixture_copy):
    require_torch()
    from tfjs_codec import torch as tct

    folder = fixture_copy("browser_layers_conv2d")
    _edit_topology(folder, lambda t: t["config"]["layers"][0]["config"].update(padding="full"))
    with tc.load(folder) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == (
        "model.json: layer 'c_same' (Conv2D): option 'padding' = 'full' is not supported "
        "by tfjs_codec.torch (supported: 'valid', 'same')"
    )


def test_unsupported_layer_class(fixture_copy):
    require_torch()
    from tfjs_codec import torch as tct

    folder = fixture_copy("browser_layers_conv2d")
    _edit_topology(folder, lambda t: t["config"]["layers"][1].update(class_name="MyCustomConv"))
    with tc.load(folder) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == "model.json: layer 'c_valid_s2' (MyCustomConv): layer class is not supported by tfjs_codec.torch"


def test_unsupported_activation_and_recurrent_option(fixture_copy):
    require_torch()
    from tfjs_codec import torch as tct

    folder = fixture_copy("browser_layers_lstm")
    _edit_topology(folder, lambda t: t["config"]["layers"][0]["config"].update(recurrent_activation="thresholded"))
    with tc.load(folder) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == (
        "model.json: layer 'lstm_seq' (LSTM): option 'recurrent_activation' = 'thresholded' is not a supported activation"
    )
    _edit_topology(folder, lambda t: t["config"]["layers"][0]["config"].update(recurrent_activation="sigmoid", return_state=True))
    with tc.load(folder) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert (
        str(err.value) == "model.json: layer 'lstm_seq' (LSTM): option 'return_state' = True is not supported by tfjs_codec.torch"
    )


def test_ml5_meta_normalizes_raw_inputs_and_reads_labels():
    torch = require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "ml5_bundle") as model:
        net = tct.to_module(model)
        meta = tct.ml5_meta(model)
    assert net.ml5 == meta
    assert meta.input_names == ["x0", "x1", "x2", "x3"]
    assert meta.input_min.tolist() == [0, -5, 1.5, 0]
    assert meta.input_max.tolist() == [10, 5, 2.5, 255]
    assert meta.labels == ["a", "b", "c"]
    x = meta.normalize([[5.0, 0.0, 2.0, 51.0], [10.0, 5.0, 1.5, 0.0]])
    assert x.dtype == torch.float32
    np.testing.assert_array_equal(x.numpy(), np.array([[0.5, 0.5, 0.5, 0.2], [1.0, 1.0, 0.0, 0.0]], np.float32))
    assert meta.normalize({"x0": 5, "x1": 0, "x2": 2, "x3": 51}).tolist() == [x[0].tolist()]
    probs = torch.tensor([[0.1, 0.7, 0.2], [0.9, 0.05, 0.05]])
    assert meta.classify(probs) == ["b", "a"]
    with tc.load(FIXTURES / "browser_dense") as plain:
        assert tct.ml5_meta(plain) is None


def test_no_warnings_building_modules():
    require_torch()
    from tfjs_codec import torch as tct

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for case in ("browser_layers_functional", "tfjs_converter_layers_lstm", "tfjs_converter_dense_mixed"):
            with tc.load(FIXTURES / case) as model:
                tct.to_module(model)


def test_conv1d_causal_padding_is_left_zero_padding(fixture_copy):
    # tfjs 4.22 cannot run causal Conv1D (no fixture); Keras defines it as valid
    # convolution of the input left-padded with (kernel - 1) * dilation zeros.
    torch = require_torch()
    from tfjs_codec import torch as tct

    folder = fixture_copy("browser_layers_conv1d")
    with tc.load(folder) as model:
        valid_layer = tct.to_module(model).layers["c1_same"]
    _edit_topology(folder, lambda t: t["config"]["layers"][0]["config"].update(padding="causal", dilation_rate=[2]))
    with tc.load(folder) as model:
        causal_layer = tct.to_module(model).layers["c1_same"]
    valid_layer.padding, valid_layer.dilation = "valid", (2,)
    x = torch.linspace(-1, 1, 2 * 8 * 3).reshape(2, 8, 3)
    padded = torch.cat([torch.zeros(2, 4, 3), x], dim=1)
    with torch.no_grad():
        np.testing.assert_allclose(causal_layer(x).numpy(), valid_layer(padded).numpy(), rtol=0, atol=1e-6)
        assert causal_layer(x).shape == (2, 8, 4)


@pytest.mark.parametrize("case", LAYERS_MODELS)
def test_whole_module_pickles_with_torch_save(case):
    # torch.save(net) pickles every layer: activations and reshape-like layers
    # must be module-level functions (or partials of them), never lambdas.
    torch = require_torch()
    from tfjs_codec import torch as tct

    record = _prediction(case)
    with tc.load(FIXTURES / case) as model:
        net = tct.to_module(model)
    buf = io.BytesIO()
    torch.save(net, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert type(loaded) is tct.TfjsModule and not loaded.training
    assert loaded.weight_names == net.weight_names and loaded.ml5 == net.ml5
    inputs = _arrays(record["input"], "input")
    for got, want in zip(_run(loaded, inputs), _run(net, inputs), strict=False):
        np.testing.assert_array_equal(got, want)
    state, loaded_state = net.tfjs_state(), loaded.tfjs_state()
    assert list(loaded_state) == list(state)
    for name in state:
        np.testing.assert_array_equal(loaded_state[name], state[name])


def test_malformed_topology_is_a_format_error(fixture_copy):
    require_torch()
    from tfjs_codec import torch as tct

    cases = [
        ("browser_layers_conv2d", lambda t: t["config"].update(layers={}),
         "model.json: modelTopology.config.layers: Sequential config has no list of layers"),
        ("browser_layers_conv2d", lambda t: t["config"]["layers"][1]["config"].pop("name"),
         "model.json: layer None (Conv2D): a layer has no name"),
        ("browser_layers_functional", lambda t: t["config"].pop("output_layers"),
         "model.json: modelTopology.config.output_layers: is None, not a list of [layer, node, tensor]"),
        ("browser_layers_functional", lambda t: t["config"].update(input_layers=[["in_a", 0]]),
         "model.json: modelTopology.config.input_layers: entry ['in_a', 0] is not [layer, node, tensor]"),
    ]
    for case, edit, message in cases:
        folder = fixture_copy(case)
        _edit_topology(folder, edit)
        with tc.load(folder) as model, pytest.raises(tc.TfjsFormatError) as err:
            tct.to_module(model)
        assert str(err.value) == message
        shutil.rmtree(folder)


def test_layernorm_normalizes_over_the_saved_axes():
    # browser_layers_layernorm_axes (recorded by tfjs) runs through the parametrized test;
    # here: the layout, a negative spelling of the same axis, and an input whose normalized
    # axis has the size of the last one (normalizing the last axis instead would not fail).
    torch = require_torch()
    from tfjs_codec import torch as tct
    from tfjs_codec.torch.registry import build_layer

    with tc.load(FIXTURES / "browser_layers_layernorm_axes") as model:
        net = tct.to_module(model)
        assert net.layers["ln_axis1"].axes == (1,) and tuple(net.layers["ln_axis1"].weight.shape) == (4,)
        assert net.layers["ln_axes21"].axes == (2, 1) and tuple(net.layers["ln_axes21"].weight.shape) == (3, 4)
        np.testing.assert_array_equal(net.layers["ln_axes21"].export_tfjs()["gamma"], model["ln_axes21/gamma"])

    gamma = np.array([0.5, 1.0, 2.0], np.float32)
    beta = np.array([0.25, -0.5, 0.0], np.float32)
    arrays = {"gamma": gamma, "beta": beta}
    x = np.linspace(-1, 2, 18, dtype=np.float32).reshape(2, 3, 3) ** 2
    mean = x.astype(np.float64).mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    want = (x - mean) / np.sqrt(var + 0.01) * gamma[:, None] + beta[:, None]
    for axis in ([1], -2):
        layer = build_layer("ln", "LayerNormalization", {"axis": axis, "epsilon": 0.01}, arrays.get, file="model.json")
        with torch.no_grad():
            got = layer(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_layernorm_axis_errors_name_layer_class_and_option():
    require_torch()
    from tfjs_codec.torch.registry import build_layer

    arrays = {"gamma": np.ones((4, 3), np.float32), "beta": np.zeros((4, 3), np.float32)}
    cases = [
        ([0, 1], "option 'axis' = [0, 1] includes the batch axis 0, which is not supported by tfjs_codec.torch"),
        ([1, 1], "option 'axis' = [1, 1] repeats an axis"),
        ("last", "option 'axis' = 'last' is not an integer or a list of integers"),
        ([2], "option 'axis' = [2] does not match the shape [4, 3] of weight 'gamma'"),
    ]
    for axis, message in cases:
        with pytest.raises(tc.TfjsFormatError) as err:
            build_layer("ln", "LayerNormalization", {"axis": axis}, arrays.get, file="model.json")
        assert str(err.value) == f"model.json: layer 'ln' (LayerNormalization): {message}"


def test_layernorm_axes_that_do_not_fit_the_input_raise_when_called():
    torch = require_torch()
    from tfjs_codec.torch.registry import build_layer

    arrays = {"gamma": np.ones(4, np.float32), "beta": np.zeros(4, np.float32)}
    layer = build_layer("ln", "LayerNormalization", {"axis": [-3]}, arrays.get, file="model.json")
    with pytest.raises(RuntimeError) as err:
        layer(torch.zeros(2, 4, 3))
    assert str(err.value) == (
        "layer 'ln' (LayerNormalization): axis [-3] does not fit an input of rank 3 (the batch axis 0 cannot be normalized)"
    )
    layer = build_layer("ln", "LayerNormalization", {"axis": [2]}, arrays.get, file="model.json")
    with pytest.raises(RuntimeError) as err:
        layer(torch.zeros(2, 4, 3))
    assert str(err.value) == (
        "layer 'ln' (LayerNormalization): gamma/beta of shape [4] do not fit axis [2] of an input of shape [2, 4, 3]"
    )


def test_batchnorm_training_step_updates_moving_statistics_as_tfjs():
    # train_step.json: tfjs 4.22 fit one step (SGD lr 0, one batch of 6) of the saved model;
    # the moving variance moves towards the biased batch variance (torch's nn.BatchNorm
    # would use the unbiased one: 0.25 off for bn_flat with 6 values per channel).
    torch = require_torch()
    from tfjs_codec import torch as tct

    case = FIXTURES / "browser_layers_batchnorm_train"
    record = json.loads((case / "train_step.json").read_text())
    with tc.load(case) as model:
        net = tct.to_module(model)
        before = {k: v.copy() for k, v in net.tfjs_state().items()}
    net.train()
    x = torch.tensor(record["input"]["data"], dtype=torch.float32).reshape(record["input"]["shape"])
    out = net(x)
    want = record["output_training"]
    np.testing.assert_allclose(
        out.detach().numpy(), np.asarray(want["data"], np.float32).reshape(want["shape"]), rtol=0, atol=1e-5
    )
    after = net.tfjs_state()
    assert sorted(record["after"]) == sorted(n for n in after if n.startswith("bn_"))
    for name, value in record["after"].items():
        expected = np.asarray(value["data"], np.float32).reshape(value["shape"])
        np.testing.assert_allclose(after[name], expected, rtol=0, atol=1e-6, err_msg=name)
        if name.endswith(("moving_mean", "moving_variance")):
            assert not np.array_equal(after[name], before[name]), name
        else:
            assert np.array_equal(after[name], before[name]), name
