"""``tfjs-codec inspect`` on graph models: inputs, outputs and the op histogram."""

from __future__ import annotations

import io
import json

from tfjs_codec.cli import main


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def _node(name, op, *inputs, **attr):
    return {"name": name, "op": op, "input": list(inputs), "attr": attr}


NODES = [
    _node("image", "Placeholder", dtype={"type": "DT_FLOAT"}, shape={"shape": {"dim": [{"size": "-1"}, {"size": "4"}]}}),
    _node("ids", "Placeholder", dtype={"type": "DT_UINT8"}, shape={"shape": {"unknownRank": True}}),
    _node("w", "Const", dtype={"type": "DT_FLOAT"}),
    _node("mm", "MatMul", "image", "w"),
    _node("relu", "Relu", "mm"),
    _node("sig", "Sigmoid", "mm"),
    _node("cast", "Cast", "ids", "^relu"),
    _node("out", "Identity", "relu"),
]
WEIGHTS = [{"paths": ["w.bin"], "weights": [{"name": "w", "shape": [4, 2], "dtype": "float32"}]}]


def _write(tmp_path, signature=None):
    doc = {"format": "graph-model", "modelTopology": {"node": NODES}, "weightsManifest": WEIGHTS}
    if signature is not None:
        doc["signature"] = signature
    (tmp_path / "model.json").write_text(json.dumps(doc))
    (tmp_path / "w.bin").write_bytes(bytes(32))
    return tmp_path / "model.json"


def test_inspect_graph_without_signature(tmp_path):
    """No signature: the Placeholders are the inputs, the nodes nothing consumes the outputs;
    ops by node count, most used first."""
    path = _write(tmp_path)
    code, text = run("inspect", str(path))
    assert code == 0
    tail = text.splitlines()[4:]
    assert tail == [
        "1 weights, 8 elements, 32 bytes in 1 shard file(s), 1 group(s)",
        "graph: 8 nodes, 7 ops",
        "        name   tensor   dtype    shape",
        "------  -----  -------  -------  ------",
        "input   image  image:0  float32  [-1,4]",
        "input   ids    ids:0    uint8    ?",
        "output  sig    sig:0    ?        ?",
        "output  cast   cast:0   ?        ?",
        "output  out    out:0    ?        ?",
        "op           nodes",
        "-----------  -----",
        "Placeholder  2",
        "Cast         1",
        "Const        1",
        "Identity     1",
        "MatMul       1",
        "Relu         1",
        "Sigmoid      1",
    ]


def test_inspect_graph_signature_json(tmp_path):
    """With a signature, its entries are the inputs and outputs (key, tensor, dtype, shape)."""
    signature = {
        "inputs": {"pixels": {"name": "image:0", "dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "-1"}, {"size": "4"}]}}},
        "outputs": {"score": {"name": "sig:0", "dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "-1"}, {"size": "2"}]}}},
    }
    path = _write(tmp_path, signature)
    code, text = run("inspect", "--json", str(path))
    assert code == 0
    graph = json.loads(text)["graph"]
    assert graph == {
        "nodes": 8,
        "inputs": [{"name": "pixels", "tensor": "image:0", "dtype": "DT_FLOAT", "shape": [-1, 4]}],
        "outputs": [{"name": "score", "tensor": "sig:0", "dtype": "DT_FLOAT", "shape": [-1, 2]}],
        "ops": {"Placeholder": 2, "Cast": 1, "Const": 1, "Identity": 1, "MatMul": 1, "Relu": 1, "Sigmoid": 1},
        "functions": [],
    }


def test_inspect_layers_model_has_no_graph_section():
    """A layers model's inspect output has no graph part (JSON: no "graph" key)."""
    from conftest import FIXTURES

    code, text = run("inspect", "--json", str(FIXTURES / "tfjs_converter_dense_uint8"))
    assert code == 0 and "graph" not in json.loads(text)
    code, text = run("inspect", str(FIXTURES / "tfjs_converter_dense_uint8"))
    assert "graph:" not in text
