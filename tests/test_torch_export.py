"""tct.export: every supported operation and six architectures, loaded by tfjs 4.22 in Node.

All exports of this module are predicted by ONE Node process (js/predict_many.mjs),
so the module costs one tfjs start-up. Each export is compared with torch:
float32 exports with the module itself, uint8 / float16 ones with torch on the
dequantized weights (the written model rebuilt by ``to_module``), within
``1e-5 + 1e-5 * max|y|``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import JS, require_node, require_torch

import tfjs_codec as tc

QUANTIZED = ("uint8", "float16")


def _cases():
    require_torch()
    import export_cases

    return export_cases


def tolerance(want: np.ndarray) -> float:
    return 1e-5 + 1e-5 * float(np.abs(want).max(initial=0.0))


def tfjs_layout(x: np.ndarray, keras_shape: list[int]) -> np.ndarray:
    """``x`` (torch layout) in the layout of a tfjs tensor of shape ``[None, *keras_shape]``."""
    if list(x.shape[1:]) == keras_shape:
        return x
    cl = np.moveaxis(x, 1, -1)
    assert list(cl.shape[1:]) == keras_shape, (x.shape, keras_shape)
    return cl


def _input_shapes(path: Path) -> list[list[int]]:
    topo = json.loads(path.read_text())["modelTopology"]["config"]
    by_name = {layer["name"]: layer for layer in topo["layers"]}
    shapes = []
    for name, _, _ in topo["input_layers"]:
        assert by_name[name]["class_name"] == "InputLayer"
        shapes.append(by_name[name]["config"]["batch_input_shape"][1:])
    return shapes


def _input_shape(path: Path) -> list[int]:
    return _input_shapes(path)[0]


def _payload(xs: list[np.ndarray], single: bool) -> dict:
    items = [{"shape": list(x.shape), "data": x.astype(np.float32).reshape(-1).tolist()} for x in xs]
    return items[0] if single else {"inputs": items}


def _as_list(v) -> list:
    return list(v) if isinstance(v, (tuple, list)) else [v]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """key -> (written model.json, tfjs-layout inputs, expected outputs, export options, tfjs' result)."""
    torch = require_torch()
    node = require_node()
    from tfjs_codec import torch as tct

    ec = _cases()
    root = tmp_path_factory.mktemp("exports")
    plan = [(name, case, {}) for name, case in ec.CATALOGUE.items()]
    plan += [(name, case, {"quantize": q}) for name, case in ec.ARCHITECTURES.items() for q in (None, *QUANTIZED)]
    plan += [(name, case, options) for name, (case, options) in ec.OPTIONS.items()]
    jobs, entries = [], {}
    for name, case, options in plan:
        module, example = case()
        examples = _as_list(example)
        with torch.no_grad():
            wants = [w.numpy() for w in _as_list(module(*examples))]
        q = options.get("quantize")
        key = f"{name}-{q or 'float32'}"
        path = tct.export(root / key, module, example, **options)
        xin = [tfjs_layout(x.numpy(), shape) for x, shape in zip(examples, _input_shapes(path), strict=True)]
        if q is not None:  # torch on the dequantized weights: the written model rebuilt by to_module
            with tc.load(path) as model:
                assert {s.quantization["dtype"] for s in model.specs.values() if s.quantization} == {q}
                net = tct.to_module(model)
            with torch.no_grad():
                wants = [w.numpy() for w in _as_list(net(*[torch.from_numpy(x).float() for x in xin]))]
        entries[key] = (path, xin, wants, options)
        single = not isinstance(example, tuple)
        jobs.append({"dir": str(path.parent), "input": _payload(xin, single), "fit": key == "mlp_batchnorm-float32"})
    jobs_file, out_file = root / "jobs.json", root / "results.json"
    jobs_file.write_text(json.dumps(jobs))
    subprocess.run([node, str(JS / "predict_many.mjs"), str(jobs_file), str(out_file)], check=True, timeout=600)
    results = json.loads(out_file.read_text())
    return {key: (*entries[key], res) for key, res in zip(entries, results, strict=True)}


def _check(exported, key: str) -> None:
    path, _, wants, options, res = exported[key]
    assert "error" not in res, f"tfjs could not run {key}: {res.get('error')}"
    outs = res["output"]["outputs"] if "outputs" in res["output"] else [res["output"]]
    assert len(outs) == len(wants)
    for out, want in zip(outs, wants, strict=True):
        got = np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])
        if got.shape != want.shape and options.get("channels_last", True):
            want = np.moveaxis(want, 1, -1)  # image-shaped outputs are channels-last
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(want))


def _names(attr: str) -> list[str]:
    try:
        import export_cases
    except ImportError:  # no torch: the parametrized tests skip in the fixture
        return ["(torch missing)"]
    return list(getattr(export_cases, attr))


@pytest.mark.parametrize("name", _names("CATALOGUE"))
def test_every_supported_operation_runs_in_tfjs_like_torch(exported, name):
    _check(exported, f"{name}-float32")


@pytest.mark.parametrize("quantize", [None, *QUANTIZED])
@pytest.mark.parametrize("name", _names("ARCHITECTURES"))
def test_architectures_run_in_tfjs_like_torch(exported, name, quantize):
    _check(exported, f"{name}-{quantize or 'float32'}")


@pytest.mark.parametrize("name", _names("OPTIONS"))
def test_export_options_run_in_tfjs_like_torch(exported, name):
    _check(exported, f"{name}-float32")


def test_an_exported_model_trains_in_tfjs(exported):
    res = exported["mlp_batchnorm-float32"][-1]
    fit = res["fit"]  # two model.fit steps in tfjs (training mode: dropout, batch statistics)
    assert np.isfinite(fit["loss_first"]) and np.isfinite(fit["loss_second"])
    assert fit["prediction_change"] > 1e-4  # the weights moved


def test_written_files_are_a_tfjs_layers_model(exported):
    path = exported["resnet_basic-float32"][0]
    doc = json.loads(path.read_text())
    assert list(doc) == ["modelTopology", "format", "generatedBy", "convertedBy", "weightsManifest"]
    assert doc["format"] == "layers-model"
    assert doc["convertedBy"] == f"tfjs_codec {tc.__version__}"
    assert doc["generatedBy"].startswith("PyTorch ")
    topo = doc["modelTopology"]
    assert (topo["class_name"], topo["keras_version"], topo["backend"]) == ("Model", "tfjs-layers 4.22.0", "tensor_flow.js")
    names = [layer["name"] for layer in topo["config"]["layers"]]
    # Layers are named after the module's qualified names.
    assert {"stem_0", "layer1_0_conv1", "layer1_0_bn1", "layer2_0_shortcut_0", "fc"} <= set(names)
    assert _input_shape(path) == [16, 16, 3]  # NHWC
    with tc.load(path) as model:
        assert model["fc/kernel"].shape == (16, 5)  # Dense kernel (in, out)
        assert model["layer1_0_conv1/kernel"].shape == (3, 3, 8, 8)  # (kh, kw, in, out)
        assert model["stem_1/moving_variance"].shape == (8,)
