"""tfjs models converted to ONNX (tct.to_onnx, ``tfjs-codec convert MODEL out.onnx``) and run
with onnxruntime, compared with what tfjs computed: the published graph models against the
recordings of tests/test_torch_graph_zoo.py (same inputs, same bounds, same comparison code),
the layers fixtures against their recorded predictions (the bound of tests/test_torch_module.py).

Conversion is a few seconds to half a minute of single-threaded Python per model, so the models
are converted in worker processes, two at a time, into this run's temporary directory (nothing is
cached between runs). A model that does not convert is listed in ``DOES_NOT_CONVERT`` with the
error it stops on, and docs/onnx.md says why.
"""

from __future__ import annotations

import io
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, require_torch
from onnx_convert import convert
from test_torch_graph_zoo import ZOO, _cases, compare_arrays, make_input, read_recording
from test_torch_module import LAYERS_MODELS, TOLERANCE, _arrays, _prediction

#: model -> the start of the error its conversion stops on (why: docs/onnx.md).
DOES_NOT_CONVERT: dict[str, str] = {
    # TF1/TF2 control flow, run by the graph interpreter in Python
    "faceboxes": "TfjsFormatError: faceboxes.json: modelTopology: the graph has control flow (Enter node",
    "handtrack": "TfjsFormatError: handtrack.json: modelTopology: the graph has control flow (TensorListReserve node",
    "rvm": "TfjsFormatError: rvm.json: modelTopology: the graph has control flow (Switch node",
}

#: model -> the start of onnxruntime's error running a model that converts (a translation defect).
RUNS_WRONG: dict[str, str] = {}

WORKERS = 2


def _ort() -> Any:
    require_torch()
    return pytest.importorskip("onnxruntime", reason="onnxruntime is a test dependency (pip install -e '.[test]')")


def _convert_all(jobs: dict[str, tuple[str, Any]], out: Path) -> dict[str, dict[str, Any]]:
    # spawn, not fork: the workers must not inherit this process's torch threads
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {n: pool.submit(convert, src, str(out / f"{n}.onnx"), x) for n, (src, x) in jobs.items()}
        done = {n: f.result() for n, f in futures.items()}
    for n, r in done.items():
        r["path"] = out / f"{n}.onnx"
    return done


@pytest.fixture(scope="module")
def graph_conversions(npm_package_dirs, tmp_path_factory) -> dict[str, dict[str, Any]]:
    _ort()
    jobs = {}
    for slug, model in (p.values for p in _cases()):
        meta, _ = read_recording(ZOO / slug / f"{model}.json")
        feeds = {s["name"].split(":")[0]: make_input(s) for s in meta["inputs"]}
        jobs[model] = (str(npm_package_dirs[slug] / meta["model"]), feeds)
    return _convert_all(jobs, tmp_path_factory.mktemp("onnx_graph"))


@pytest.fixture(scope="module")
def layers_conversions(tmp_path_factory) -> dict[str, dict[str, Any]]:
    _ort()
    jobs = {c: (str(FIXTURES / c), _arrays(_prediction(c)["input"], "input")) for c in LAYERS_MODELS}
    return _convert_all(jobs, tmp_path_factory.mktemp("onnx_layers"))


def _run(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ort = _ort()
    options = ort.SessionOptions()
    options.intra_op_num_threads = WORKERS
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs, strict=True)))


def _converted(name: str, result: dict[str, Any]) -> None:
    expected = DOES_NOT_CONVERT.get(name)
    if expected is not None:
        assert result["error"] is not None, f"{name} converts now: remove it from DOES_NOT_CONVERT and docs/onnx.md"
        assert result["error"].startswith(expected), result["error"]
        pytest.xfail(f"{name} does not convert: {result['error']}")
    assert result["error"] is None, f"{name}: {result['error']}"


def _ref(name: str) -> str:
    return name if ":" in name else f"{name}:0"


@pytest.mark.parametrize("slug,model", _cases())
def test_graph_model_onnx_matches_tfjs(slug, model, graph_conversions):
    result = graph_conversions[model]
    _converted(model, result)
    meta, values = read_recording(ZOO / slug / f"{model}.json")
    outs = _run(result["path"], result["inputs"])
    by_ref = {_ref(r): o for r, o in zip(result["output_refs"], outs, strict=True)}
    arrays = {rec["name"]: by_ref[_ref(rec["name"])] for rec in meta["outputs"]}
    compare_arrays(meta, values, arrays)


@pytest.mark.parametrize("case", LAYERS_MODELS)
def test_layers_model_onnx_matches_recorded_predictions(case, layers_conversions):
    result = layers_conversions[case]
    _converted(case, result)
    if case in RUNS_WRONG:
        with pytest.raises(Exception) as e:
            _run(result["path"], result["inputs"])
        assert RUNS_WRONG[case] in str(e.value)
        pytest.xfail(f"{case}: onnxruntime: {e.value}")
    got = _run(result["path"], result["inputs"])
    want = _arrays(_prediction(case)["output"], "output")
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=TOLERANCE)


def test_onnx_names_order_and_dynamic_batch(tmp_path):
    """The ONNX inputs/outputs are the tfjs model's, in its order, under its names; the batch
    dimension tfjs leaves open stays open (the file runs at batch 1 and 3)."""
    _ort()
    import onnx

    import tfjs_codec as tc
    from tfjs_codec.torch.onnx_export import OPSET, to_onnx

    case = "browser_layers_functional"  # two inputs, two outputs
    with tc.load(FIXTURES / case) as model:
        from tfjs_codec.torch import to_module

        net = to_module(model)
        to_onnx(model, tmp_path / "m.onnx")
    m = onnx.load(str(tmp_path / "m.onnx"))
    assert [i.name for i in m.graph.input] == net.input_names
    assert [o.name for o in m.graph.output] == net.output_names
    assert m.opset_import[0].version == OPSET
    assert all(i.type.tensor_type.shape.dim[0].dim_param for i in m.graph.input)
    inputs = _arrays(_prediction(case)["input"], "input")
    for n in (1, 3):
        batch = [np.repeat(x[:1], n, axis=0) for x in inputs]
        assert all(o.shape[0] == n for o in _run(tmp_path / "m.onnx", batch))


def test_cli_convert_onnx_and_pt2(tmp_path):
    torch = require_torch()
    _ort()
    from tfjs_codec.cli import main

    case = "browser_dense"
    inputs = _arrays(_prediction(case)["input"], "input")
    want = _arrays(_prediction(case)["output"], "output")
    out = io.StringIO()
    assert main(["convert", str(FIXTURES / case), str(tmp_path / "m.onnx")], out=out) == 0
    assert out.getvalue().startswith(f"wrote {tmp_path / 'm.onnx'} (opset 18; inputs ")
    np.testing.assert_allclose(_run(tmp_path / "m.onnx", inputs)[0], want[0], rtol=0, atol=TOLERANCE)
    assert main(["convert", str(FIXTURES / case), str(tmp_path / "m.pt2")], out=io.StringIO()) == 0
    program = torch.export.load(str(tmp_path / "m.pt2"))
    got = program.module()(*[torch.from_numpy(x) for x in inputs])
    np.testing.assert_allclose(got.detach().numpy(), want[0], rtol=0, atol=TOLERANCE)


def test_missing_onnx_extra_is_named(monkeypatch, tmp_path):
    require_torch()
    import importlib.util

    import tfjs_codec as tc
    from tfjs_codec.torch import onnx_export

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    with tc.load(FIXTURES / "browser_dense") as model, pytest.raises(ImportError) as e:
        onnx_export.to_onnx(model, tmp_path / "m.onnx")
    assert str(e.value) == 'writing ONNX needs onnxscript, which is not installed: pip install "tfjs-codec[onnx]"'
