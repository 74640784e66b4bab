"""tct.export(..., format="graph"): torch modules become TensorFlow.js graph models that tfjs 4.22 runs.

Every case of tests/graph_export_cases.py (whole architectures and one-op modules) is exported
(the export's own verify step compares the graph interpreter with torch), then run in Node with
tf.loadGraphModel + executeAsync at the example batch and at another batch, in float32 and
re-saved uint8 / float16 quantized. float32 outputs are compared with the torch module, quantized
ones with the graph interpreter on the quantized model (the module with tfjs' dequantized
weights), within 1e-4 + 1e-4 * max|y|; integer outputs exactly. One Node process runs them all.
"""

from __future__ import annotations

import base64
import functools
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import JS, require_node, require_torch

QUANT = ("float32", "uint8", "float16")


def _cases() -> dict:
    require_torch()
    from graph_export_cases import OPS, ZOO

    return {**ZOO, **OPS}


def _names() -> list[str]:
    try:
        from graph_export_cases import OPS, ZOO
    except ImportError:  # no torch: every test skips
        return ["vit"]
    return [*ZOO, *OPS]


def _blob(x: np.ndarray, name: str) -> dict:
    x = np.ascontiguousarray(x)
    dtype = "int32" if x.dtype.kind in "iub" else "float32"
    raw = x.astype("<i4" if dtype == "int32" else "<f4").tobytes()
    return {"name": name, "dtype": dtype, "shape": list(x.shape), "b64": base64.b64encode(raw).decode()}


def _array(out: dict) -> np.ndarray:
    raw = base64.b64decode(out["b64"])
    dt = {"float32": "<f4", "int32": "<i4", "bool": "u1"}[out["dtype"]]
    return np.frombuffer(raw, dtype=dt).reshape(out["shape"])


def _tfjs(x: object) -> np.ndarray:
    """A torch tensor in the tfjs model's layout (4-D: NHWC) and dtype (int64 -> int32)."""
    t = x.detach()  # type: ignore[attr-defined]
    if t.dim() == 4:
        t = t.permute(0, 2, 3, 1)
    return t.float().numpy() if t.is_floating_point() else t.int().numpy() if t.dtype.is_signed or t.dtype.itemsize > 1 else t.numpy()


@functools.cache
def _exported(root: str) -> dict:
    """Export every case once (float32 with verify; uint8 / float16 re-saved) and run all in one Node process."""
    torch = require_torch()
    node = require_node()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    base = Path(root)
    jobs, meta = [], []
    for name, case in _cases().items():
        module, ex, other = case()
        path = tct.export(base / name / "float32", module, ex, format="graph")
        with tc.load(path) as model:
            weights = {k: model.weights[k] for k in model.specs}
            doc = model.json
        with torch.no_grad():
            wants = [module(*ex), module(*other)]
        inputs = [[_tfjs(x) for x in ex], [_tfjs(x) for x in other]]
        torch_outs = [[_tfjs(y) for y in (w if isinstance(w, tuple) else (w,))] for w in wants]
        in_names = list(doc["signature"]["inputs"])
        for q in QUANT:
            d = base / name / q
            if q != "float32":
                tc.save(d, weights, like=path, quantize=q)
            if q == "float32":
                refs = torch_outs
            else:
                with tc.load(d) as qm:
                    net = tct.to_module(qm)
                with torch.no_grad():
                    refs = []
                    for ins in inputs:
                        got = net(*[torch.from_numpy(np.array(x)) for x in ins])
                        refs.append([g.numpy() for g in (got if isinstance(got, tuple) else (got,))])
            jobs.append({"dir": str(d), "runs": [[_blob(x, n) for x, n in zip(ins, in_names, strict=True)] for ins in inputs]})
            meta.append((name, q, refs))
    (base / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([node, str(JS / "predict_graph_export.mjs"), str(base / "jobs.json"), str(base / "out.json")], check=True,
                   timeout=900)
    results = json.loads((base / "out.json").read_text())
    return {(name, q): (res, refs) for (name, q, refs), res in zip(meta, results, strict=True)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _exported(str(tmp_path_factory.mktemp("graph_export")))


@pytest.mark.parametrize("quant", QUANT)
@pytest.mark.parametrize("case", _names())
def test_tfjs_runs_the_export_like_torch(exported: dict, case: str, quant: str) -> None:
    res, refs = exported[(case, quant)]
    assert "error" not in res, res.get("error")
    for batch, (outs, wants) in enumerate(zip(res["outputs"], refs, strict=True)):
        assert len(outs) == len(wants)
        for out, want in zip(outs, wants, strict=True):
            got = _array(out)
            assert list(got.shape) == list(want.shape), (case, quant, batch)
            if want.dtype.kind in "iub":
                np.testing.assert_array_equal(got, want, err_msg=f"{case} {quant} run {batch}")
            else:
                bound = 1e-4 + 1e-4 * float(np.abs(want).max()) if want.size else 0.0
                np.testing.assert_allclose(got, want, rtol=0, atol=bound, err_msg=f"{case} {quant} run {batch}")
