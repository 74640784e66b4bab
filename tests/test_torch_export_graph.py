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
    return (
        t.float().numpy()
        if t.is_floating_point()
        else t.int().numpy()
        if t.dtype.is_signed or t.dtype.itemsize > 1
        else t.numpy()
    )


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
    subprocess.run(
        [node, str(JS / "predict_graph_export.mjs"), str(base / "jobs.json"), str(base / "out.json")], check=True, timeout=900
    )
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


# ------------------------------------------------------------------ the written model


def test_the_model_json_is_a_graph_model_with_module_names_and_an_open_batch(tmp_path: Path) -> None:
    torch = require_torch()
    from graph_export_cases import ZOO

    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    module, ex, _ = ZOO["efficientnet"]()
    path = tct.export(tmp_path / "m", module, ex, format="graph", quantize="uint8", shard_size=4096)
    doc = json.loads(path.read_text())
    assert doc["format"] == "graph-model"
    assert doc["generatedBy"] == f"PyTorch {torch.__version__}" and doc["convertedBy"].startswith("tfjs_codec ")
    assert doc["signature"]["inputs"] == {
        "x": {
            "name": "x:0",
            "dtype": "DT_FLOAT",
            "tensorShape": {"dim": [{"size": "-1"}, {"size": "20"}, {"size": "20"}, {"size": "3"}]},
        }
    }
    assert doc["signature"]["outputs"]["output"]["tensorShape"] == {"dim": [{"size": "-1"}, {"size": "7"}]}
    nodes = {n["name"]: n for n in doc["modelTopology"]["node"]}
    assert nodes["x"]["op"] == "Placeholder"
    assert nodes["stem.0/Conv2D"]["op"] == "Conv2D" and nodes["stem.0/Conv2D"]["input"] == ["stem.0/Pad", "stem.0.weight"]
    assert nodes["stem.0/Pad"]["input"][0] == "x"  # torch pads 1 / 1; SAME would pad 0 / 1 here
    assert nodes["blocks.1.dw.0/DepthwiseConv2dNative"]["attr"]["strides"] == {"list": {"i": ["1", "2", "2", "1"]}}
    ops = [n["op"] for n in nodes.values()]
    assert "Transpose" not in ops  # NHWC from the input to the convolutions, SE blocks included
    with tc.load(path) as model:
        consts = {n for n, d in nodes.items() if d["op"] == "Const"}
        assert set(model.specs) == consts  # every constant is a manifest weight
        assert model.specs["fc.weight"].quantization["dtype"] == "uint8"
        assert len(model.json["weightsManifest"][0]["paths"]) > 1  # shards of 4 KiB


@pytest.mark.parametrize("name", ["mobilenetv3", "resnext_block", "unet", "two_outputs"])
def test_conv_stacks_have_no_transposes(tmp_path: Path, name: str) -> None:
    require_torch()
    from graph_export_cases import ZOO

    from tfjs_codec import torch as tct

    module, ex, _ = ZOO[name]()
    path = tct.export(tmp_path / name, module, ex, format="graph")
    ops = [n["op"] for n in json.loads(path.read_text())["modelTopology"]["node"]]
    assert ops.count("Transpose") == 0


def test_channels_last_false_keeps_torch_layouts(tmp_path: Path) -> None:
    torch = require_torch()
    from graph_export_cases import ZOO

    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    module, ex, other = ZOO["two_outputs"]()
    path = tct.export(tmp_path / "m", module, ex, format="graph", channels_last=False)
    doc = json.loads(path.read_text())
    assert [d["size"] for d in doc["signature"]["inputs"]["x"]["tensorShape"]["dim"]] == ["-1", "3", "8", "8"]
    with tc.load(path) as model:
        net = tct.to_module(model)
    with torch.no_grad():
        got, want = net(other[0]), module(other[0])
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-4 + 1e-4 * float(w.abs().max()))


# ------------------------------------------------------------------ refusals


def _refusal_modules() -> dict:
    torch = require_torch()
    import torch.nn.functional as F
    from torch import nn

    class Spectral(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, s, _ = torch.linalg.svd(self.proj(x))
            return s + torch.linalg.det(x)[:, None]

    class Branchy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:
                return x * 2
            return x

    class Warp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.warp = nn.Upsample(scale_factor=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            grid = torch.zeros(x.shape[0], 3, 3, 2)
            return F.grid_sample(x, grid, align_corners=False)

    return {
        "spectral": (Spectral(), torch.randn(2, 4, 4)),
        "branchy": (Branchy(), torch.randn(2, 3)),
        "warp": (Warp(), torch.randn(2, 3, 4, 4)),
    }


REFUSALS = {
    "spectral": (
        "Spectral cannot be exported as a TensorFlow.js graph model: 2 operations without an exact tfjs translation:\n"
        "- aten._linalg_svd.default in the top-level forward (test_torch_export_graph.py:{svd}: _, s, _ = "
        "torch.linalg.svd(self.proj(x))): no TensorFlow.js op computes a singular value decomposition\n"
        "- aten._linalg_det.default in the top-level forward (test_torch_export_graph.py:{det}: return s + "
        "torch.linalg.det(x)[:, None]): no TensorFlow.js op computes a determinant"
    ),
    "branchy": (
        "Branchy's forward depends on tensor values in Python (an if / while / int() on a tensor): a graph model has one "
        "fixed sequence of ops, so torch.export refuses it: Could not guard on data-dependent expression Eq(u0, 1) "
        "(unhinted: Eq(u0, 1)).  (Size-like symbols: none)"
    ),
    "warp": (
        "Warp cannot be exported as a TensorFlow.js graph model: 1 operation without an exact tfjs translation:\n"
        "- aten.grid_sampler_2d.default in the top-level forward (test_torch_export_graph.py:{grid}: return "
        "F.grid_sample(x, grid, align_corners=False)): tfjs 4.22 has no grid sampling op"
    ),
}


def _line(text: str) -> int:
    """The line of this file holding ``text`` (the refusal messages quote the source lines)."""
    for i, line in enumerate(Path(__file__).read_text().splitlines(), 1):
        if text in line and "REFUSALS" not in line and '"' not in line.split(text)[0][-2:]:
            return i
    raise AssertionError(text)


@pytest.mark.parametrize("name", list(REFUSALS))
def test_refusals_list_every_unsupported_node_and_write_nothing(tmp_path: Path, name: str) -> None:
    require_torch()
    from tfjs_codec import TfjsFormatError
    from tfjs_codec import torch as tct

    module, x = _refusal_modules()[name]
    want = REFUSALS[name].format(
        svd=_line("_, s, _ = torch.linalg.svd"),
        det=_line("return s + torch.linalg.det"),
        grid=_line("return F.grid_sample(x, grid"),
    )
    with pytest.raises(TfjsFormatError) as info:
        tct.export(tmp_path / name, module, x, format="graph")
    assert str(info.value) == want
    assert not (tmp_path / name).exists() or not list((tmp_path / name).iterdir())


def test_format_is_checked(tmp_path: Path) -> None:
    torch = require_torch()
    from torch import nn

    from tfjs_codec import torch as tct

    with pytest.raises(ValueError, match=r"^format must be 'layers' or 'graph', not 'saved_model'$"):
        tct.export(tmp_path / "a", nn.Linear(2, 2), torch.zeros(1, 2), format="saved_model")
    with pytest.raises(ValueError, match=r"^ml5= and labels= describe layers models: use format='layers'$"):
        tct.export(tmp_path / "b", nn.Linear(2, 3), torch.zeros(1, 2), format="graph", labels=["a", "b", "c"])


def test_int64_ids_must_fit_int32(tmp_path: Path) -> None:
    torch = require_torch()
    from graph_export_cases import ZOO

    from tfjs_codec import TfjsFormatError
    from tfjs_codec import torch as tct

    module, ex, _ = ZOO["gru_text"]()
    with pytest.raises(TfjsFormatError, match=r"^an integer input holds values outside int32 \(tfjs has no int64\)$"):
        tct.export(tmp_path / "m", module, torch.full((1, 7), 2**33), format="graph")


CLI_BUILD = """
from torch import nn

class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        self.rnn = nn.GRU(8, 8, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(16, 4)

    def forward(self, ids):
        out, _ = self.rnn(self.emb(ids))
        return self.fc(out[:, -1])

def build():
    return Tagger()
"""


def test_export_command_format_graph(tmp_path: Path) -> None:
    torch = require_torch()
    import io

    import tfjs_codec as tc
    from tfjs_codec import torch as tct
    from tfjs_codec.cli import main

    (tmp_path / "net.py").write_text(CLI_BUILD)
    out = io.StringIO()
    code = main(
        [
            "export",
            f"{tmp_path / 'net.py'}:build",
            str(tmp_path / "web"),
            "--input-shape",
            "1,9",
            "--input-dtype",
            "int64",
            "--format",
            "graph",
            "--quantize",
            "float16",
        ],
        out=out,
    )
    assert code == 0
    assert out.getvalue() == f"wrote {tmp_path / 'web' / 'model.json'}\n"
    with tc.load(tmp_path / "web") as model:
        assert model.format == "graph-model"
        assert model.json["signature"]["inputs"]["ids"]["dtype"] == "DT_INT32"
        assert [d["size"] for d in model.json["signature"]["inputs"]["ids"]["tensorShape"]["dim"]] == ["-1", "9"]
        assert model.specs["rnn.weight_ih_l0_reverse"].quantization["dtype"] == "float16"
        net = tct.to_module(model)
    assert net(torch.zeros(5, 9, dtype=torch.int32)).shape == (5, 4)
