"""Graph models (TensorFlow GraphDef + weights) as torch modules, against tfjs 4.22 and TensorFlow."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import FIXTURES, dir_bytes, require_torch

import tfjs_codec as tc

CONVERTER_GRAPH = FIXTURES / "tfjs_converter_graph_model"


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
