"""The layer zoo: every layer class tfjs-layers 4.22 registers, as a torch module, against tfjs.

Fixtures ``fixtures/zoo_*`` are written by ``js/make_layer_zoo.mjs`` (tfjs 4.22 in Node):
one small model per class and per option that changes the math, with the predictions
tfjs made after reloading the saved files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, dir_bytes, model_files, require_torch

import tfjs_codec as tc

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
    for g, w in zip(got, want, strict=True):
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
    dirs = sorted(p.name for p in FIXTURES.glob("zoo_*") if p.is_dir())
    assert len(dirs) >= 60
    for case in dirs:  # every zoo model has tfjs' prediction (and the decoded weights)
        names = {p.name for p in (FIXTURES / case).iterdir()}
        assert {"model.json", "expected.json", "expected.bin"} <= names, case
        assert "tfjs_predict.json" in names or "predict.json" in names, case
    covered: set[str] = set()
    for case in sorted(p.parent.name for p in FIXTURES.glob("zoo_*/model.json")):
        topo = json.loads((FIXTURES / case / "model.json").read_text())["modelTopology"]
        topo = topo.get("model_config", topo)  # the converter's {keras_version, backend, model_config}
        covered |= _classes(topo["config"]["layers"])
    # Every registered layer class but the model classes has a zoo model (older fixtures cover the rest).
    older = {"Dense", "Conv1D", "Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling1D",
             "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
             "GlobalMaxPooling1D", "GlobalMaxPooling2D", "LayerNormalization", "Embedding", "LSTM", "GRU", "SimpleRNN",
             "Permute", "InputLayer"}
    # tfjs' ConvLSTM2D does not save its cell; a ConvLSTM2DCell alone is refused (see REFUSED).
    refused = {"ConvLSTM2DCell"}
    missing = set(REGISTERED) - MODEL_CLASSES - covered - older - refused
    assert not missing, f"no zoo fixture uses {sorted(missing)}"
    assert len(REGISTERED) == 69 and "Subtract" not in REGISTERED and "EinsumDense" not in REGISTERED


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
    assert dir_bytes(tmp_path / "out") == model_files(FIXTURES / case)


# ---------------------------------------------------------------------------
# What cannot be expressed: refused by name, with the reason


def _edited(fixture_copy, case: str, index: int, cls: str | None = None, **config):
    folder = fixture_copy(case)
    path = folder / "model.json"
    doc = json.loads(path.read_text())
    layer = doc["modelTopology"]["config"]["layers"][index]
    if cls is not None:
        layer["class_name"] = cls
    layer["config"].update(config)
    path.write_text(json.dumps(doc))
    return folder


REFUSED = [
    pytest.param(
        "zoo_rnn_stacked", 0, "LSTMCell", {},
        "model.json: layer 'rnn_stack' (LSTMCell): is an RNN cell, not a layer of a model: tfjs_codec.torch builds it "
        "inside the RNN layer that holds it (its 'cell' option)",
        id="cell-as-layer",
    ),
    pytest.param(
        "zoo_conv_lstm2d", 0, "ConvLSTM2DCell", {},
        "model.json: layer 'convlstm_seq' (ConvLSTM2DCell): is an RNN cell, not a layer of a model: tfjs_codec.torch "
        "builds it inside the RNN layer that holds it (its 'cell' option)",
        id="convlstm-cell-as-layer",
    ),
    pytest.param(
        "zoo_rnn_cells", 1, None, {"cell": {"class_name": "ConvLSTM2DCell", "config": {"filters": 2}}},
        "model.json: layer 'rnn_lstm' (RNN): option 'cell' holds a 'ConvLSTM2DCell' cell; tfjs_codec.torch builds "
        "LSTMCell, GRUCell and SimpleRNNCell",
        id="rnn-with-convlstm-cell",
    ),
    pytest.param(
        "zoo_conv2d_channels_first", 0, "Conv1D", {"kernel_size": [3], "strides": [2], "dilation_rate": [1]},
        "model.json: layer 'c_same' (Conv1D): option 'data_format' = 'channels_first' is not supported by "
        "tfjs_codec.torch: tfjs-layers 4.22 cannot run it (shape mismatch in its conv1d), so there is no reference to follow",
        id="conv1d-channels-first",
    ),
    pytest.param(
        "zoo_separable_dilation", 0, None, {"data_format": "channels_first"},
        "model.json: layer 'sep_dil' (SeparableConv2D): option 'data_format' = 'channels_first' is not supported by "
        "tfjs_codec.torch: tfjs-layers 4.22 cannot run it (it adds the bias along the wrong axis)",
        id="separable-channels-first",
    ),
    pytest.param(
        "zoo_conv_lstm2d", 0, None, {"data_format": "channels_first"},
        "model.json: layer 'convlstm_seq' (ConvLSTM2D): option 'data_format' = 'channels_first' is not supported by "
        "tfjs_codec.torch (supported: 'channels_last', None)",
        id="convlstm-channels-first",
    ),
    pytest.param(
        "zoo_category_encoding_one_hot", 2, None, {"output_mode": "tf_idf"},
        "model.json: layer 'one_hot' (CategoryEncoding): option 'output_mode' = 'tf_idf' is not supported by "
        "tfjs_codec.torch (supported: 'multi_hot', 'one_hot', 'count'; tf_idf needs idf weights tfjs does not save)",
        id="category-encoding-tf-idf",
    ),
    pytest.param(
        "zoo_rescaling", 0, "RandomFlip", {"mode": "horizontal"},
        "model.json: layer 'rescale' (RandomFlip): RandomFlip is not a layer class tfjs-layers 4.22 can deserialize "
        "(tf.loadLayersModel fails with 'Unknown layer: RandomFlip'), so tfjs_codec.torch does not build it either",
        id="keras-random-flip",
    ),
    pytest.param(
        "zoo_rescaling", 0, "RandomHeight", {"factor": 0.2},
        "model.json: layer 'rescale' (RandomHeight): RandomHeight is not a layer class tfjs-layers 4.22 can deserialize "
        "(tf.loadLayersModel fails with 'Unknown layer: RandomHeight'), so tfjs_codec.torch does not build it either",
        id="random-height",
    ),
    pytest.param(
        "zoo_rescaling", 0, "EinsumDense", {"equation": "ab,bc->ac"},
        "model.json: layer 'rescale' (EinsumDense): EinsumDense is not a layer class tfjs-layers 4.22 can deserialize "
        "(tf.loadLayersModel fails with 'Unknown layer: EinsumDense'), so tfjs_codec.torch does not build it either",
        id="einsum-dense",
    ),
    pytest.param(
        "zoo_bidirectional_concat", 0, None, {"merge_mode": "max"},
        "model.json: layer 'bi_lstm' (Bidirectional): option 'merge_mode' = 'max' is not supported by tfjs_codec.torch "
        "(supported: 'concat', 'sum', 'ave', 'mul', None)",
        id="bidirectional-merge-mode",
    ),
    pytest.param(
        "zoo_bidirectional_concat", 0, None,
        {"layer": {"class_name": "LSTM", "config": {"name": "lstm", "units": 4, "return_state": True}}},
        "model.json: layer 'bi_lstm' (Bidirectional): option 'return_state' = True (of the wrapped layer) is not "
        "supported by tfjs_codec.torch",
        id="bidirectional-return-state",
    ),
    pytest.param(
        "zoo_rnn_stacked", 0, None, {"stateful": True},
        "model.json: layer 'rnn_stack' (RNN): option 'stateful' = True is not supported by tfjs_codec.torch",
        id="rnn-stateful",
    ),
    pytest.param(
        "zoo_softmax_axes", 1, None, {"axis": "last"},
        "model.json: layer 'softmax_last' (Softmax): option 'axis' = 'last' is not an integer or a list of integers",
        id="softmax-axis",
    ),
]


@pytest.mark.parametrize(("case", "index", "cls", "config", "message"), REFUSED)
def test_what_cannot_be_expressed_is_refused_with_the_reason(fixture_copy, case, index, cls, config, message):
    require_torch()
    from tfjs_codec import torch as tct

    with tc.load(_edited(fixture_copy, case, index, cls, **config)) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == message


# ---------------------------------------------------------------------------
# Where tfjs 4.22 contradicts its own layer definitions: the definition is followed


@pytest.mark.parametrize(
    ("case", "layer", "what"),
    [
        # tfjs' CPU batchNorm kernel indexes the parameters by flat position modulo their length,
        # i.e. as if the axis were the last one.
        ("zoo_discrepancy_batchnorm_axis1", "bn_axis1", "axis 1 of a 4-D input"),
        # tfjs' depthwiseConv2d kernel drops dilationRate: the output is even the undilated size.
        ("zoo_discrepancy_depthwise_dilation", "dw_dil", "dilation_rate 2"),
        # tfjs moves the width offset from (W - w) // 2 = 0 to 1 when W - w = 1.
        ("zoo_discrepancy_center_crop", "crop", "6x5 cropped to 3x4"),
    ],
)
def test_discrepancies_follow_the_layer_definition_not_tfjs(case, layer, what):
    require_torch()
    from tfjs_codec import torch as tct

    intended = json.loads((FIXTURES / case / "predict.json").read_text())
    tfjs = json.loads((FIXTURES / case / "tfjs_predict.json").read_text())
    assert intended["input"] == tfjs["input"]
    with tc.load(FIXTURES / case) as model:
        net = tct.to_module(model)
    assert layer in net.layers
    got = _run(net, _arrays(intended["input"], "input"))
    # The definition, as tfjs computes it with an equivalent model ...
    _close(got, _arrays(intended["output"], "output"))
    # ... is not what tfjs 4.22 computes for the layer itself.
    want_tfjs = _arrays(tfjs["output"], "output")[0]
    assert got[0].shape != want_tfjs.shape or float(np.abs(got[0] - want_tfjs).max()) > 0.1, what


def test_discrepancy_depthwise_dilation_tfjs_ignores_the_rate():
    tfjs = json.loads((FIXTURES / "zoo_discrepancy_depthwise_dilation" / "tfjs_predict.json").read_text())
    intended = json.loads((FIXTURES / "zoo_discrepancy_depthwise_dilation" / "predict.json").read_text())
    # 7x7 input, kernel 2: dilation 2 gives 5x5 (what the layer defines), tfjs gives the undilated 6x6.
    assert tfjs["output"]["shape"] == [2, 6, 6, 4] and intended["output"]["shape"] == [2, 5, 5, 4]


# ---------------------------------------------------------------------------
# Inference and training behaviour beyond the recorded predictions


def test_random_width_is_the_identity_in_eval_and_resizes_in_train_mode():
    torch = require_torch()
    from tfjs_codec import torch as tct

    tfjs = json.loads((FIXTURES / "zoo_random_width" / "tfjs_predict.json").read_text())
    x = _arrays(tfjs["input"], "input")[0]
    with tc.load(FIXTURES / "zoo_random_width") as model:
        net = tct.to_module(model)
    np.testing.assert_array_equal(_run(net, [x])[0], x)
    # tfjs 4.22 resizes at random in predict too: its recorded width is within the factor's range (0.5 of 4 columns).
    assert tfjs["output"]["shape"][:2] == [2, 3] and 2 <= tfjs["output"]["shape"][2] <= 6
    net.train()
    torch.manual_seed(0)
    widths = {net(torch.from_numpy(x)).shape[2] for _ in range(40)}
    assert widths <= set(range(2, 7)) and len(widths) > 1


def test_noise_layers_are_the_identity_in_eval_and_random_in_train_mode():
    torch = require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "zoo_noise") as model:
        net = tct.to_module(model)
    x = torch.randn(64, 4, 3)
    for key in ("gaussian_noise", "gaussian_dropout", "alpha_dropout", "dropout", "spatial_dropout"):
        layer = net.layers[key]
        layer.eval()
        assert torch.equal(layer(x), x)
        layer.train()
        torch.manual_seed(1)
        y = layer(x)
        assert y.shape == x.shape and not torch.equal(y, x), key
    # AlphaDropout keeps a standard normal input's mean and variance, as Keras defines it (tfjs 4.22's
    # dropped value has the wrong sign, which moves the mean by about 0.3 at rate 0.1).
    net.layers["alpha_dropout"].train()
    big = torch.randn(200_000)
    y = net.layers["alpha_dropout"](big)
    assert abs(float(y.mean())) < 0.02 and abs(float(y.std()) - 1) < 0.02


def test_mask_from_masking_keeps_the_previous_state_at_masked_steps():
    torch = require_torch()
    from tfjs_codec import torch as tct

    record = json.loads((FIXTURES / "zoo_masking_lstm" / "predict.json").read_text())
    x = _arrays(record["input"], "input")[0]
    with tc.load(FIXTURES / "zoo_masking_lstm") as model:
        net = tct.to_module(model)
    with torch.no_grad():
        y = net(torch.from_numpy(x)).numpy()
        unmasked = net.layers["lstm"](torch.from_numpy(x)).numpy()  # no Masking in front: no mask
    # Sample 0 has steps 1 and 4 masked: the output repeats the previous step's.
    np.testing.assert_array_equal(y[0, 1], y[0, 0])
    np.testing.assert_array_equal(y[0, 4], y[0, 3])
    assert not np.allclose(unmasked[0, 1], unmasked[0, 0])


# ---------------------------------------------------------------------------
# Fine-tune round trips: train in torch, save, tfjs in Node predicts what the module predicts


def _node_predict(folder: Path, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    import subprocess

    from conftest import JS, require_node

    node = require_node()
    inp, out = tmp_path / "input.json", tmp_path / "output.json"
    inp.write_text(json.dumps({"shape": list(x.shape), "data": x.reshape(-1).tolist()}))
    subprocess.run([node, str(JS / "predict.mjs"), str(folder), str(inp), str(out)], check=True, timeout=120)
    result = json.loads(out.read_text())
    return np.asarray(result["data"], dtype=np.float32).reshape(result["shape"])


@pytest.mark.parametrize("case", ["zoo_bidirectional_concat", "zoo_conv_upsampling"])
def test_fine_tuned_module_is_what_tfjs_loads(case, tmp_path):
    torch = require_torch()
    from tfjs_codec import torch as tct

    record = json.loads((FIXTURES / case / "predict.json").read_text())
    x = torch.from_numpy(_arrays(record["input"], "input")[0])
    torch.manual_seed(0)
    with tc.load(FIXTURES / case) as model:
        net = tct.to_module(model)
        with torch.no_grad():
            target = torch.rand_like(net(x))
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        for _ in range(4):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(x), target)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            mine = net(x).numpy()
        tct.save_module(tmp_path / "tuned", net, like=model)
        with tc.load(tmp_path / "tuned") as saved:
            changed = [n for n in model.specs if not np.array_equal(saved[n], model[n])]
    assert len(changed) == len(model.specs)  # every weight moved
    assert float(np.abs(mine - np.asarray(record["output"]["data"]).reshape(mine.shape)).max()) > 1e-3
    theirs = _node_predict(tmp_path / "tuned", x.numpy(), tmp_path)
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------
# tfjs' resize kernels, at any size (the fixtures hold a few)


def _tfjs_resize(x: np.ndarray, size: tuple[int, int], method: str, align: bool) -> np.ndarray:
    """tfjs-backend-cpu 4.22 ResizeBilinear / ResizeNearestNeighbor (halfPixelCenters false), loop for loop."""
    _, h, w, _ = x.shape
    nh, nw = size
    eff_in = ((h - 1) if align and nh > 1 else h, (w - 1) if align and nw > 1 else w)
    eff_out = ((nh - 1) if align and nh > 1 else nh, (nw - 1) if align and nw > 1 else nw)
    rr, cr = eff_in[0] / eff_out[0], eff_in[1] / eff_out[1]
    out = np.zeros((x.shape[0], nh, nw, x.shape[3]), np.float32)
    for r in range(nh):
        for c in range(nw):
            fr, fc = rr * r, cr * c
            if method == "nearest":
                pick = (lambda v: int(np.floor(v + 0.5))) if align else (lambda v: int(np.floor(v)))
                out[:, r, c] = x[:, min(h - 1, pick(fr)), min(w - 1, pick(fc))]
                continue
            r0, c0 = max(0, int(np.floor(fr))), max(0, int(np.floor(fc)))
            r1, c1 = min(h - 1, int(np.ceil(fr))), min(w - 1, int(np.ceil(fc)))
            top = x[:, r0, c0] + (x[:, r0, c1] - x[:, r0, c0]) * np.float32(fc - c0)
            bottom = x[:, r1, c0] + (x[:, r1, c1] - x[:, r1, c0]) * np.float32(fc - c0)
            out[:, r, c] = top + (bottom - top) * np.float32(fr - r0)
    return out


def test_resize_matches_tfjs_kernels_at_any_size():
    torch = require_torch()
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tfjs_codec.torch.pooling import resize_nhwc

    @settings(max_examples=60, deadline=None)
    @given(
        h=st.integers(1, 7), w=st.integers(1, 7), nh=st.integers(1, 11), nw=st.integers(1, 11),
        method=st.sampled_from(["bilinear", "nearest"]), align=st.booleans(), seed=st.integers(0, 2**16),
    )
    def check(h, w, nh, nw, method, align, seed):
        x = np.random.default_rng(seed).uniform(-1, 1, (2, h, w, 3)).astype(np.float32)
        got = resize_nhwc(torch.from_numpy(x), (nh, nw), method=method, align_corners=align).numpy()
        np.testing.assert_allclose(got, _tfjs_resize(x, (nh, nw), method, align), rtol=0, atol=1e-6)

    check()
