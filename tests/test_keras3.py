"""Keras 3 exports (fixtures/make_keras3_fixtures.py, by each tensorflowjs 4.22 route under Keras 3):
to_module matches Keras; tc.repair writes a model tfjs 4.22 loads and runs as Keras does, with the
shard files copied byte for byte; what tfjs cannot run is refused by name."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import FIXTURES, JS, require_node, require_torch

import tfjs_codec as tc
from tfjs_codec.cli import main as cli_main
from tfjs_codec.keras3 import keras3_signs

#: Every Keras 3 export with Keras' predictions.
CASES = sorted(p.parent.name for p in FIXTURES.glob("keras3_*/predict.json"))
#: Keras 2 (tf_keras) files of the shapes real models have, with tfjs 4.22's own predictions.
TF_KERAS = sorted(p.parent.name for p in FIXTURES.glob("tfkeras_*/predict_tfjs.json"))
#: Exports tfjs 4.22 cannot run even repaired: the fixture's model -> repair's message.
REFUSED = {
    "gru_reset_after": (
        "model.json: modelTopology: tfjs 4.22 cannot load this Keras 3 model even in the Keras 2 form (1 problem(s)): "
        "layer 'gru' (GRU): reset_after=True (Keras 3's default): tfjs 4.22's GRUCell does not support it; re-save the "
        "model with GRU(..., reset_after=False) (retrained: the weights differ), or build it with "
        'tfjs_codec.torch.to_module and export that with tfjs_codec.torch.export(..., format="graph")'
    ),
}


def _refused(case: str) -> str | None:
    return next((m for k, m in REFUSED.items() if case.endswith(k)), None)


def _quantized(model: tc.Model) -> bool:
    return any(spec.quantization for spec in model.specs.values())


def _arrays(record: dict, key: str) -> list[np.ndarray]:
    items = record[key + "s"] if key + "s" in record else [record]
    return [np.asarray(i["data"], dtype=np.float32).reshape(i["shape"]) for i in items]


def _record(case: str, name: str = "predict.json") -> tuple[list[np.ndarray], list[np.ndarray]]:
    record = json.loads((FIXTURES / case / name).read_text())
    return _arrays(record["input"], "input"), _arrays(record["output"], "output")


def _close(got: list[np.ndarray], want: list[np.ndarray], tol: float = 1e-5) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        bound = tol + tol * float(np.abs(w).max(initial=0.0))
        err = float(np.abs(g - w).max(initial=0.0))
        assert err <= bound, f"max |torch - keras| = {err:.3g} > {bound:.3g}"


def _torch_outputs(model: tc.Model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    torch = require_torch()
    from tfjs_codec import torch as tct

    net = tct.to_module(model)
    with torch.no_grad():
        out = net(*[torch.from_numpy(x) for x in inputs])
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def test_the_fixtures_cover_each_converter_route():
    routes = {c.split("_")[1] for c in CASES}
    assert {"sk", "h5", "kk"} <= routes, routes
    names = {c.split("_", 2)[2] for c in CASES}
    assert {"mobilenetv2", "mobilenetv3small", "transfer", "lstm", "gru_reset_after", "bidirectional_sum", "uint8"} <= names


@pytest.mark.parametrize("case", CASES)
def test_to_module_matches_keras(case):
    inputs, want = _record(case)
    with tc.load(FIXTURES / case) as model:
        assert keras3_signs(model.json, list(model.specs))
        got = _torch_outputs(model, inputs)
        # A quantized export runs dequantized weights: Keras' float model is only near it.
        _close(got, want, 2e-2 if _quantized(model) else 1e-5)


@pytest.fixture(scope="module")
def repaired(tmp_path_factory):
    """Every fixture tfjs can run once repaired, repaired, and run by tfjs 4.22 in one Node process."""
    node = require_node()
    root = tmp_path_factory.mktemp("repaired")
    jobs, cases = [], []
    for case in CASES:
        if _refused(case):
            continue
        done = tc.repair(FIXTURES / case, root / case)
        assert done.changed and done.path == root / case / "model.json"
        inputs, _ = _record(case)
        record = json.loads((FIXTURES / case / "predict.json").read_text())
        jobs.append({"dir": str(root / case), "input": record["input"]})
        cases.append(case)
    (root / "jobs.json").write_text(json.dumps(jobs))
    r = subprocess.run([node, str(JS / "predict_many.mjs"), str(root / "jobs.json"), str(root / "out.json")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads((root / "out.json").read_text())
    return root, dict(zip(cases, results, strict=True))


@pytest.mark.parametrize("case", [c for c in CASES if not _refused(c)])
def test_repaired_export_loads_in_tfjs_and_matches_keras(case, repaired):
    root, results = repaired
    result = results[case]
    assert "error" not in result, result.get("error")
    got = _arrays(result["output"], "output")
    inputs, want = _record(case)
    with tc.load(FIXTURES / case) as source, tc.load(root / case) as out:
        _close(got, want, 2e-2 if _quantized(source) else 1e-5)
        # tfjs and to_module run the same numbers (dequantized ones too).
        _close(_torch_outputs(out, inputs), got)
        # The shards are the source's, byte for byte; the weights only renamed.
        assert [g.paths for g in out.groups] == [g.paths for g in source.groups]
        for group in source.groups:
            for path in group.paths:
                assert (root / case / path).read_bytes() == (FIXTURES / case / path).read_bytes()
        assert [s.quantization for s in out.specs.values()] == [s.quantization for s in source.specs.values()]
        assert not keras3_signs(out.json, list(out.specs))


@pytest.mark.parametrize("case", ["keras3_converter_lstm", "keras3_converter_functional"])
def test_tfjs_itself_cannot_load_a_keras3_export_but_its_repair(case, tmp_path):
    node = require_node()
    shape = [1, 5, 3] if case.endswith("lstm") else [1, 4]
    (tmp_path / "in.json").write_text(json.dumps({"shape": shape, "data": [0.5] * int(np.prod(shape))}))

    def predict(folder):
        return subprocess.run(
            [node, str(JS / "predict.mjs"), str(folder), str(tmp_path / "in.json"), str(tmp_path / "out.json")],
            capture_output=True, text=True, timeout=120,
        )

    r = predict(FIXTURES / case)
    assert r.returncode != 0 and not (tmp_path / "out.json").exists()
    assert "An InputLayer should be passed either a `batchInputShape` or an `inputShape`." in r.stderr
    tc.repair(FIXTURES / case, tmp_path / "fixed")
    r = predict(tmp_path / "fixed")
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads((tmp_path / "out.json").read_text())
    with tc.load(tmp_path / "fixed") as model:
        x = np.full(shape, 0.5, dtype=np.float32)
        _close(_torch_outputs(model, [x]), [np.asarray(out["data"], np.float32).reshape(out["shape"])])


def test_a_file_tfjs_loads_is_written_byte_for_byte(tmp_path):
    case = FIXTURES / "tfjs_converter_layers_lstm"
    done = tc.repair(case, tmp_path / "out")
    assert not done.changed
    assert done.summary() == (
        f"{tmp_path / 'out' / 'model.json'}: already in the form tfjs 4.22 loads; written byte for byte as it was"
    )
    for name in ("model.json", "group1-shard1of1.bin"):
        assert (tmp_path / "out" / name).read_bytes() == (case / name).read_bytes()


def test_repair_refuses_what_tfjs_cannot_run_and_writes_nothing(tmp_path):
    cases = [c for c in CASES if _refused(c)]
    assert cases
    for case in cases:
        with pytest.raises(tc.TfjsFormatError) as err:
            tc.repair(FIXTURES / case, tmp_path / case)
        assert str(err.value) == _refused(case)
        assert not (tmp_path / case).exists()


def _edited(fixture_copy, case, edit):
    folder = fixture_copy(case)
    doc = json.loads((folder / "model.json").read_text())
    edit(doc)
    (folder / "model.json").write_text(json.dumps(doc))
    return folder


def test_repair_names_layer_classes_tfjs_lacks(fixture_copy, tmp_path):
    def make_mha(doc):
        layers = doc["modelTopology"]["model_config"]["config"]["layers"]
        layers[1]["class_name"] = "MultiHeadAttention"
        layers[2]["class_name"] = "Lambda"

    folder = _edited(fixture_copy, "keras3_converter_functional", make_mha)
    with pytest.raises(tc.TfjsFormatError) as err:
        tc.repair(folder, tmp_path / "out")
    assert str(err.value) == (
        "model.json: modelTopology: tfjs 4.22 cannot load this Keras 3 model even in the Keras 2 form (2 problem(s)): "
        "layer 'd1' (MultiHeadAttention): tfjs-layers 4.22 has no MultiHeadAttention layer; build it with "
        "tfjs_codec.torch.to_module and export that with tfjs_codec.torch.export(..., format=\"graph\") | "
        "layer 'd2' (Lambda): a Lambda layer holds Python code, which no tfjs model can; build it with "
        "tfjs_codec.torch.to_module and export that with tfjs_codec.torch.export(..., format=\"graph\")"
    )
    assert not (tmp_path / "out").exists()


def test_repair_will_not_write_over_its_source(fixture_copy):
    folder = fixture_copy("keras3_converter_lstm")
    before = (folder / "model.json").read_bytes()
    with pytest.raises(ValueError, match="write into another directory than the source's"):
        tc.repair(folder, folder)
    assert (folder / "model.json").read_bytes() == before


def test_cli_inspect_names_the_dialect_and_repair_fixes_it(tmp_path, capsys):
    case = FIXTURES / "keras3_converter_functional"
    assert cli_main(["inspect", str(case)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "Keras 3 export (keras_version '3.15.1'; InputLayer 'x' has batch_shape where Keras 2 writes "
        "batch_input_shape; inbound nodes are {args, kwargs} objects; dtypes are DTypePolicy objects): tfjs 4.22 "
        "cannot load it; run tfjs-codec repair"
    )
    assert cli_main(["repair", str(case), str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{tmp_path / 'out' / 'model.json'}: the Keras 3 export rewritten in the Keras 2 form tfjs "
                          "4.22 loads (0 weight(s) renamed, shards copied byte for byte)\n  it was a Keras 3 export: "
                          "keras_version '3.15.1'; ")
    assert cli_main(["inspect", str(tmp_path / "out")]) == 0
    assert "Keras 3 export" not in capsys.readouterr().out


@pytest.mark.parametrize("case", TF_KERAS)
def test_tf_keras_real_model_shapes_build_with_tfjs_predictions(case):
    inputs, want = _record(case, "predict_tfjs.json")
    with tc.load(FIXTURES / case) as model:
        _close(_torch_outputs(model, inputs), want)


def _functional(layers, outputs, name="m"):
    """A Keras 3 functional model.json document holding ``layers`` (entries as Keras 3 writes them)."""
    return {
        "format": "layers-model",
        "modelTopology": {"keras_version": "3.15.1", "backend": "tensorflow", "model_config": {
            "class_name": "Functional",
            "config": {"name": name, "trainable": True, "layers": layers,
                       "input_layers": ["x", 0, 0], "output_layers": outputs},
        }},
        "weightsManifest": [{"paths": [], "weights": []}],
    }


def _tensor(layer, node=0, shape=(None, 4)):
    return {"class_name": "__keras_tensor__", "config": {"shape": list(shape), "dtype": "float32",
                                                         "keras_history": [layer, node, 0]}}


def _op(cls, name, *args):
    return {"module": "keras.src.ops.numpy", "class_name": cls, "config": {"name": name}, "registered_name": cls,
            "name": name, "inbound_nodes": [{"args": list(args), "kwargs": {}}]}


INPUT = {"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "x"},
         "name": "x", "inbound_nodes": []}


def test_keras3_ops_become_the_tfjs_layers_that_compute_them():
    from tfjs_codec.keras3 import translate

    doc = _functional(
        [INPUT, _op("Subtract", "sub", 2.0, _tensor("x")), _op("Add", "both", _tensor("sub"), _tensor("x")),
         _op("TrueDivide", "half", _tensor("both"), 4.0)],
        ["half", 0, 0],
    )
    t = translate(doc, [])
    layers = {lc["name"]: lc for lc in t.document["modelTopology"]["model_config"]["config"]["layers"]}
    assert layers["sub"]["class_name"] == "Rescaling" and layers["sub"]["config"]["scale"] == -1.0
    assert layers["sub"]["config"]["offset"] == 2.0
    assert layers["both"]["class_name"] == "Add"
    assert layers["both"]["inbound_nodes"] == [[["sub", 0, 0, {}], ["x", 0, 0, {}]]]
    assert layers["half"]["config"]["scale"] == 0.25
    assert t.document["modelTopology"]["model_config"]["config"]["input_layers"] == [["x", 0, 0]]
    assert t.rewritten == [
        "layer 'sub' (Subtract): the Keras 3 op `2 - x` is a Rescaling layer (scale -1, offset 2)",
        "layer 'both' (Add): the Keras 3 op of two tensors is tfjs' Add layer",
        "layer 'half' (TrueDivide): the Keras 3 op `x / 4` is a Rescaling layer (scale 0.25, offset 0)",
    ]


@pytest.mark.parametrize("layers, message", [
    ([INPUT, _op("TrueDivide", "inv", 1.0, _tensor("x"))],
     "model.json: layer 'inv' (TrueDivide): is the Keras 3 op `1 / x`, which no tfjs layer computes"),
    ([INPUT, _op("TrueDivide", "ratio", _tensor("x"), _tensor("x"))],
     "model.json: layer 'ratio' (TrueDivide): is the Keras 3 op `x / y` of two tensors, which no tfjs layer computes"),
    ([INPUT, _op("Sin", "sin", _tensor("x"))],
     "model.json: layer 'sin' (Sin): is the Keras 3 op Sin, which no tfjs layer computes"),
])
def test_keras3_ops_no_tfjs_layer_computes_are_refused_by_name(layers, message):
    from tfjs_codec.keras3 import translate

    with pytest.raises(tc.TfjsFormatError) as err:
        translate(_functional(layers, [layers[-1]["name"], 0, 0]), [])
    assert str(err.value) == message


def test_repair_brings_the_sidecar_files(fixture_copy, tmp_path):
    folder = fixture_copy("keras3_sk_dense")
    meta = b'{"labels": ["a", "b", "c"], "tfjsVersion": "4.22.0"}'
    (folder / "metadata.json").write_bytes(meta)  # Teachable Machine's sidecar
    with tc.load(folder) as model:
        assert model.sidecars == {"metadata.json": meta}
    done = tc.repair(folder, tmp_path / "out")
    assert done.changed and (tmp_path / "out" / "metadata.json").read_bytes() == meta
    assert done.renamed == {
        "dense_net/dense/kernel": "dense/kernel", "dense_net/dense/bias": "dense/bias",
        "dense_net/dense_1/kernel": "dense_1/kernel", "dense_net/dense_1/bias": "dense_1/bias",
        "dense_net/dense_2/kernel": "dense_2/kernel", "dense_net/dense_2/bias": "dense_2/bias",
    }


def test_keras3_options_without_a_tfjs_form_are_refused_by_name(fixture_copy):
    require_torch()
    from tfjs_codec import torch as tct

    def rms(doc):
        for lc in doc["modelTopology"]["model_config"]["config"]["layers"]:
            if lc["class_name"] == "LayerNormalization":
                lc["config"]["rms_scaling"] = True
                break

    folder = _edited(fixture_copy, "keras3_sk_layernorm", rms)
    with tc.load(folder) as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.to_module(model)
    assert str(err.value) == (
        "model.json: layer 'layer_normalization' (LayerNormalization): rms_scaling=True (a Keras 3 option) is not "
        "supported: neither tfjs-layers 4.22 nor tfjs_codec.torch has it"
    )
