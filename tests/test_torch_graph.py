"""Graph models (TensorFlow GraphDef + weights) as torch modules, against tfjs 4.22 and TensorFlow."""

from __future__ import annotations

import base64
import json
import re
import shutil
import time

import numpy as np
import pytest
from conftest import FIXTURES, dir_bytes, model_files, require_torch

import tfjs_codec as tc

CONVERTER_GRAPH = FIXTURES / "tfjs_converter_graph_model"
#: Graph models made by the tensorflowjs converter, with tfjs 4.22's outputs recorded
#: (fixtures/make_graph_fixtures.py, js/record_graph_fixtures.mjs).
GRAPH_FIXTURES = sorted(p.parent.name for p in FIXTURES.glob("graph_*/tfjs_outputs.json"))
_NP = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}


def _tct():
    require_torch()
    from tfjs_codec import torch as tct

    return tct


def test_converter_graph_model_matches_tensorflow():
    torch = require_torch()
    tct = _tct()
    rec = json.loads((CONVERTER_GRAPH / "predict.json").read_text())
    with tc.load(CONVERTER_GRAPH) as model:
        net = tct.to_module(model)
    assert net.input_names == ["keys", "x"]
    assert net.output_names == ["ids", "y"]
    x = torch.tensor(rec["input"]["data"], dtype=torch.float32).reshape(rec["input"]["shape"])
    with torch.no_grad():
        ids, y = net(rec["input_keys"], x)
    assert ids.dtype == torch.int32 and ids.tolist() == rec["output_ids"]
    want = np.asarray(rec["output"]["data"], dtype=np.float32).reshape(rec["output"]["shape"])
    assert np.abs(y.numpy() - want).max() <= 1e-4 + 1e-4 * np.abs(want).max()


def test_graph_weights_are_parameters_and_buffers():
    torch = require_torch()
    tct = _tct()
    with tc.load(CONVERTER_GRAPH) as model:
        net = tct.to_module(model)
        params = dict(net.named_parameters())
        buffers = dict(net.named_buffers())
        assert sorted(net.weight_names) == sorted(
            n for n, s in model.specs.items() if s.dtype != "string" and n not in ("482", "484")
        )
        for name, key in net.weight_names.items():
            value = getattr(net, key)
            assert np.array_equal(value.detach().numpy(), model.weights[name])
            assert (key in params) == (model.specs[name].dtype == "float32")
            assert (key in buffers) == (model.specs[name].dtype == "int32")
    assert all(p.dtype == torch.float32 and p.requires_grad for p in params.values())


def test_graph_gradients_reach_the_weights():
    torch = require_torch()
    tct = _tct()
    rec = json.loads((CONVERTER_GRAPH / "predict.json").read_text())
    with tc.load(CONVERTER_GRAPH) as model:
        net = tct.to_module(model)
    x = torch.tensor(rec["input"]["data"], dtype=torch.float32).reshape(rec["input"]["shape"]).requires_grad_()
    _, y = net(rec["input_keys"], x)
    y.square().sum().backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads.values())
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_graph_save_module_round_trip_is_byte_identical(tmp_path):
    tct = _tct()
    with tc.load(CONVERTER_GRAPH) as model:
        net = tct.to_module(model)
        out = tct.save_module(tmp_path / "out", net, like=model)
    assert out.name == "model.json"
    src = {k: v for k, v in dir_bytes(CONVERTER_GRAPH).items() if not k.startswith(("expected", "predict"))}
    assert dir_bytes(tmp_path / "out") == src


def test_graph_save_module_writes_fine_tuned_weights(tmp_path):
    torch = require_torch()
    tct = _tct()
    with tc.load(CONVERTER_GRAPH) as model:
        net = tct.to_module(model)
        key = net.weight_names["StatefulPartitionedCall/add/ReadVariableOp"]
        with torch.no_grad():
            getattr(net, key).add_(1.0)
        tct.save_module(tmp_path / "out", net, like=model)
        before = model.weights["StatefulPartitionedCall/add/ReadVariableOp"].copy()
    with tc.load(tmp_path / "out") as saved:
        assert np.array_equal(saved.weights["StatefulPartitionedCall/add/ReadVariableOp"], before + 1.0)
        assert saved.json["modelTopology"] == json.loads((CONVERTER_GRAPH / "model.json").read_text())["modelTopology"]


def _edit_graph(tmp_path, edit):
    dst = tmp_path / "model"
    shutil.copytree(CONVERTER_GRAPH, dst)
    doc = json.loads((dst / "model.json").read_text())
    edit(doc)
    (dst / "model.json").write_text(json.dumps(doc))
    return dst


def test_unsupported_ops_are_listed_at_build(tmp_path):
    tct = _tct()

    def edit(doc):
        for node in doc["modelTopology"]["node"]:
            if node["op"] == "_FusedMatMul":
                node["op"] = "FancyMatMul"
            if node["op"] == "AddV2":
                node["op"] = "Frobnicate"

    with tc.load(_edit_graph(tmp_path, edit)) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == (
        "model.json: modelTopology: the graph uses 2 ops tfjs_codec.torch does not support: "
        "FancyMatMul (nodes 'StatefulPartitionedCall/Relu', 'StatefulPartitionedCall/add_1'); "
        "Frobnicate (node 'StatefulPartitionedCall/add_2')"
    )


def test_unsupported_op_options_are_listed_with_unsupported_ops(tmp_path):
    tct = _tct()

    def edit(doc):
        for node in doc["modelTopology"]["node"]:
            if node["name"] == "StatefulPartitionedCall/Relu":
                node["attr"]["fused_ops"]["list"]["s"][1] = "VGFuaA=="  # Tanh
            if node["op"] == "AddV2":
                node["op"] = "Frobnicate"

    with tc.load(_edit_graph(tmp_path, edit)) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == (
        "model.json: modelTopology: the graph uses 1 op tfjs_codec.torch does not support: "
        "Frobnicate (node 'StatefulPartitionedCall/add_2'); and has node options tfjs_codec.torch does not support: "
        "node 'StatefulPartitionedCall/Relu' (_FusedMatMul): fused activation 'tanh' "
        "(tfjs knows relu, relu6, elu, prelu, leakyrelu, sigmoid)"
    )


def _inputs(case):
    torch = require_torch()
    recs = json.loads((FIXTURES / case / "inputs.json").read_text())["inputs"]
    names = [r["name"] for r in recs]
    return names, [torch.tensor(np.asarray(r["data"], dtype=_NP[r["dtype"]]).reshape(r["shape"])) for r in recs]


def _tfjs_outputs(case):
    outs = json.loads((FIXTURES / case / "tfjs_outputs.json").read_text())["outputs"]
    return [(o["name"], np.frombuffer(base64.b64decode(o["data_b64"]), dtype=_NP[o["dtype"]]).reshape(o["shape"])) for o in outs]


def _close(got, want):
    """tfjs' tolerance: 1e-4 + 1e-4 * max|y| for floats, exact for int32 / bool."""
    assert got.shape == want.shape and got.dtype == want.dtype
    if want.dtype != np.float32:
        return np.array_equal(got, want)
    if not want.size:
        return True
    return float(np.abs(got - want).max()) <= 1e-4 + 1e-4 * float(np.abs(want).max())


def test_graph_fixtures_are_there():
    assert GRAPH_FIXTURES == [
        "graph_convnet",
        "graph_convnet_float16",
        "graph_convnet_uint8",
        "graph_more_ops",
        "graph_nchw",
        "graph_resize",
        "graph_shapes",
    ]


@pytest.mark.parametrize("case", GRAPH_FIXTURES)
def test_graph_fixture_matches_tfjs(case):
    torch = require_torch()
    tct = _tct()
    with tc.load(FIXTURES / case) as model:
        net = tct.to_module(model)
    names, xs = _inputs(case)
    assert net.input_names == names
    want = _tfjs_outputs(case)
    assert [r.rsplit(":", 1)[0] for r in net.output_refs] == [n for n, _ in want]
    with torch.no_grad():
        ys = net(*xs)
    ys = ys if isinstance(ys, tuple) else (ys,)
    bad = [n for (n, w), y in zip(want, ys, strict=True) if not _close(y.numpy(), w)]
    assert bad == []


def test_quantized_graph_weights_are_dequantized_as_tfjs_does():
    tct = _tct()
    for case in ("graph_convnet_uint8", "graph_convnet_float16"):
        expected = json.loads((FIXTURES / case / "expected.json").read_text())["weights"]
        blob = (FIXTURES / case / "expected.bin").read_bytes()
        with tc.load(FIXTURES / case) as model:
            net = tct.to_module(model)
            assert {s.quantization["dtype"] for s in model.specs.values() if s.quantization} == {case.rsplit("_", 1)[1]}
        state = net.tfjs_state()
        for e in expected:
            want = np.frombuffer(blob, dtype=_NP[e["dtype"]], count=int(np.prod(e["shape"])), offset=e["offset"])
            assert np.array_equal(state[e["name"]].reshape(-1), want), e["name"]


def test_graph_module_runs_under_no_grad_and_trains():
    torch = require_torch()
    tct = _tct()
    with tc.load(FIXTURES / "graph_convnet") as model:
        net = tct.to_module(model)
    _, (x,) = _inputs("graph_convnet")
    with torch.no_grad():
        ref = net(x)
    assert all(not y.requires_grad for y in ref)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = sum(y.float().square().mean() for y in net(x))
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[2] < losses[0]
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("case", ["graph_convnet_uint8", "graph_shapes"])
def test_graph_save_module_unchanged_is_byte_identical(case, tmp_path):
    tct = _tct()
    with tc.load(FIXTURES / case) as model:
        net = tct.to_module(model)
        tct.save_module(tmp_path / "out", net, like=model)
    assert dir_bytes(tmp_path / "out") == model_files(FIXTURES / case)


def test_graph_module_structure():
    torch = require_torch()
    tct = _tct()
    from tfjs_codec.torch.graph import GraphModule, supported_ops

    with tc.load(FIXTURES / "graph_convnet") as model:
        net = tct.to_module(model)
    assert isinstance(net, GraphModule) and isinstance(net, torch.nn.Module) and not net.training
    assert net.input_shapes == [[1, 12, 12, 3]] and net.input_dtypes == ["DT_FLOAT"]
    assert str(net) == (
        "GraphModule(inputs=['image'], outputs=['batchnorm', 'deconv', 'dense_relu', 'dense_sigmoid', 'elu', 'leaky', "
        "'maxpool', 'plain_convs', 'prelu', 'softmax', 'softplus_tanh'], weights=39)"
    )
    lines = net.code.splitlines()
    assert lines[0] == "def forward(self, image):" and lines[1] == "    image = as_image(image)"
    calls = [line for line in lines[2:] if "  # " in line and ".reshape(" not in line]
    called = {re.sub(r"_\d+$", "", line.split(" = ")[1].split("(")[0]) for line in calls}
    assert called == {
        "Mul",
        "Add",
        "AddV2",
        "_FusedConv2D",
        "FusedDepthwiseConv2dNative",
        "DepthwiseConv2dNative",
        "MaxPool",
        "AvgPool",
        "Conv2DBackpropInput",
        "StridedSlice",
        "_FusedMatMul",
        "Softmax",
        "Sigmoid",
        "Softplus",
        "Tanh",
    }  # no Identity: aliased at build time; Reshape with a constant shape is the tensor method:
    assert "    v_reshape = v_strided_slice.reshape([1, 36])  # PartitionedCall/Reshape" in lines
    assert sum("  # " in line for line in lines) == 26 and sum(line.startswith("    del ") for line in lines) > 5
    assert {"Conv2D", "MatMul", "ResizeBilinear", "StridedSlice"} <= set(supported_ops())
    with pytest.raises(TypeError) as err:
        net()
    assert str(err.value) == "the graph takes 1 input(s) (image), got 0"
    with pytest.raises(TypeError) as err:
        net(torch.zeros(1, 12, 12, 3, dtype=torch.int32))
    assert str(err.value) == "input 'image' must be float32, got int32"
    x64 = np.random.default_rng(0).standard_normal((1, 12, 12, 3))
    with torch.no_grad():
        a, b = net(x64), net(torch.from_numpy(x64.astype(np.float32)))
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


def test_graph_module_deepcopies_and_moves():
    import copy

    torch = require_torch()
    tct = _tct()
    with tc.load(CONVERTER_GRAPH) as model:
        net = tct.to_module(model)
    twin = copy.deepcopy(net)
    key = net.weight_names["StatefulPartitionedCall/add_1/ReadVariableOp"]
    with torch.no_grad():
        getattr(twin, key).add_(1.0)
        x = torch.zeros(1, 6)
        (_, y0), (_, y1) = net(["a"], x), twin(["a"], x)
    assert torch.allclose(y1 - y0, torch.ones(1, 3))
    half = copy.deepcopy(net).to(torch.float64)
    assert getattr(half, key).dtype == torch.float64 and getattr(net, key).dtype == torch.float32


def test_graph_model_build_time_figure(tmp_path, capsys):
    """A synthetic 10 MB graph (a chain of 40 256x256 fused matmuls): built and run; build time reported."""
    torch = require_torch()
    tct = _tct()
    rng = np.random.default_rng(5)
    weights, nodes = {}, [{"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}}}]
    prev = "x"
    for i in range(40):
        weights[f"w{i}"] = (rng.standard_normal((256, 256)) / 16).astype(np.float32)
        weights[f"b{i}"] = (rng.standard_normal(256) / 16).astype(np.float32)
        for w in (f"w{i}", f"b{i}"):
            nodes.append({"name": w, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}})
        fused = [base64.b64encode(b).decode() for b in (b"BiasAdd", b"Relu")]
        attr = {"T": {"type": "DT_FLOAT"}, "fused_ops": {"list": {"s": fused}}, "num_args": {"i": "1"}}
        nodes.append({"name": f"fc{i}", "op": "_FusedMatMul", "input": [prev, f"w{i}", f"b{i}"], "attr": attr})
        prev = f"fc{i}"
    path = tc.save(tmp_path / "big", weights)
    doc = json.loads(path.read_text())
    doc = {"format": "graph-model", "modelTopology": {"node": nodes}, **doc}
    path.write_text(json.dumps(doc))
    with tc.load(tmp_path / "big") as model:
        start = time.perf_counter()
        net = tct.to_module(model)
        built = time.perf_counter() - start
    x = rng.standard_normal((2, 256)).astype(np.float32)
    want = x
    for i in range(40):
        want = np.maximum(want @ weights[f"w{i}"] + weights[f"b{i}"], 0)
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() <= 1e-4 + 1e-4 * np.abs(want).max()
    with capsys.disabled():
        print(f"\n[graph build] 10.5 MB graph, 121 nodes: to_module in {built * 1000:.0f} ms")


def test_docs_op_table_lists_every_supported_op():
    require_torch()
    from conftest import ROOT

    from tfjs_codec.torch.graph import supported_ops

    page = (ROOT / "docs" / "graph-models.md").read_text()
    start = page.index("Supported ops (`tfjs_codec.torch.graph.supported_ops()`):")
    table = page[start : page.index("\n## ", start)]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| family")]
    listed = {name for row in rows for name in re.findall(r"`([A-Za-z0-9_]+)`", row.split(" | ", 1)[1])}
    assert listed - {"SAME", "VALID", "EXPLICIT", "batch_dims"} == set(supported_ops()) | {"Const", "Placeholder", "NoOp"}


def test_graph_conv_filters_are_held_for_the_kernel_and_saved_in_tfjs_order(tmp_path):
    """A convolution filter keeps its tfjs shape and values, in the memory order torch's conv
    kernel reads (no copy per call; depthwise filters as they are); edited in place, it is saved
    in tfjs' order."""
    torch = require_torch()
    tct = _tct()
    conv, depthwise = "PartitionedCall/Conv2D/filter", "PartitionedCall/depthwise/filter_in"
    with tc.load(FIXTURES / "graph_convnet") as model:
        net = tct.to_module(model)
        w, dw = getattr(net, net.weight_names[conv]), getattr(net, net.weight_names[depthwise])
        assert np.array_equal(w.detach().numpy(), model.weights[conv])
        assert np.array_equal(dw.detach().numpy(), model.weights[depthwise])
        assert dw.is_contiguous()
        assert w.permute(3, 2, 0, 1).is_contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            w.mul_(2.0)
        tct.save_module(tmp_path / "out", net, like=model)
        want = model.weights[conv] * np.float32(2.0)
    with tc.load(tmp_path / "out") as saved:
        assert np.array_equal(saved.weights[conv], want)
