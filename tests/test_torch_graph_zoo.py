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

Outputs whose row order is decided by sorting scores (``SORTED_ROWS``: the detections of
faceboxes, handtrack, centernet and movenet-multipose, sorted by NMS or top-k) may come in another
order where two scores tie within the float bound: a convolution summed in another order on
another CPU moves a score by one ulp, and two detections one ulp apart trade places (faceboxes'
rows 127 and 128 do on AMD EPYC against the recording made on an Intel Xeon). Such rows are
paired one to one with tfjs' rows whose key equals theirs within the key's bound and whose every
element does too (``match_sorted_rows``), and the ordinary element-wise comparison then runs on
the paired rows. A row that pairs with no tfjs row, or a swap between keys that do not tie, still
fails. Every other output is compared in place.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, require_torch
from npm_models import FACE_API, HUMAN_MODELS, graph_models

ZOO = FIXTURES / "graph_zoo"
RECORDINGS = {pkg.slug: sorted((ZOO / pkg.slug).glob("*.json")) for pkg in (HUMAN_MODELS, FACE_API)}
#: How many times tfjs's own one-ulp output movement an ill-conditioned output may differ. Measured
#: (2-core x86, torch 2.13 CPU): the three blazepose segmentation outputs are the only ones whose
#: difference exceeds the base bound (blazepose-full: 2.6e-4 against a base of 2e-4), and they
#: differ by at most 0.2x their sensitivity; every other float output stays within 0.4x the base.
#: On AMD EPYC (AVX-512) the worst float output is selfie's at 0.48x the base bound, and faceboxes'
#: rows 127/128 trade places (a one-ulp score tie, paired back by SORTED_ROWS).
SENSITIVITY_FACTOR = 2.0
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
        return np.asarray(lo + (hi - lo) * u, dtype=np.float32)
    return np.asarray(lo + np.floor((hi - lo) * u), dtype=np.int32)


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


class SortedRows:
    """Outputs whose rows (along ``axis``) were ordered by sorting ``key``.

    ``key`` is ``(output name, column)``: the scores the model sorted by, ``column`` None for a
    [1, n] score vector or the column of a [1, n, k] detection table that holds the score.
    ``outputs`` are every output whose rows follow that order (the key's own output included).
    """

    def __init__(self, key: tuple[str, int | None], outputs: tuple[str, ...], axis: int = 1) -> None:
        self.key, self.outputs, self.axis = key, outputs, axis


#: model file -> the outputs a sort ordered. Found by reading the recordings: the score outputs are
#: sorted descending and every other output listed holds one row per detection.
SORTED_ROWS = {
    # NMS: 200 detections, scores descending, their boxes
    "faceboxes.json": SortedRows(("scores", None), ("scores", "boxes")),
    # NMS over 8 classes: scores (Identity_4) descending; classes, boxes, per-class scores, anchor ids
    "handtrack.json": SortedRows(
        ("Identity_4:0", None), ("Identity_4:0", "Identity_2:0", "Identity_1:0", "Identity_3:0", "Identity:0")
    ),
    # top-k of the heatmap: 100 detections [x1, y1, x2, y2, score, class]
    "centernet.json": SortedRows(("tower_0/detections", 4), ("tower_0/detections",)),
    # top-k of person centres: 6 people, 17 keypoints x 3 + box + score (column 55)
    "movenet-multipose.json": SortedRows(("Identity:0", 55), ("Identity:0",)),
}


def _row_bound(rec: dict) -> float:
    return tolerance(rec)[0] if rec["dtype"] == "float32" else 0.0


def match_sorted_rows(
    rule: SortedRows, records: dict[str, dict], got: dict[str, np.ndarray], want: dict[str, np.ndarray]
) -> np.ndarray:
    """The pairing of torch's rows with tfjs' rows for outputs a sort ordered.

    Returns ``perm`` with torch row ``i`` paired to tfjs row ``perm[i]``: one to one, each pair with
    keys equal within the key output's bound and every element of every listed output within that
    output's bound, and tfjs' keys at positions ``i`` and ``perm[i]`` equal within the key's bound
    (rows trade places only where the sort keys tie). Rows pair with themselves where they can.

    Raises:
        AssertionError: when no such pairing exists (a wrong row, or a swap of keys that differ).
    """
    key_name, column = rule.key
    shaped_got = {n: np.moveaxis(got[n], rule.axis, 0) for n in rule.outputs}
    shaped_want = {n: np.moveaxis(want[n].reshape(records[n]["shape"]), rule.axis, 0) for n in rule.outputs}
    n = shaped_got[key_name].shape[0]
    kt, kf = shaped_got[key_name].reshape(n, -1), shaped_want[key_name].reshape(n, -1)
    kt, kf = (kt[:, 0], kf[:, 0]) if column is None else (kt[:, column], kf[:, column])
    bound = _row_bound(records[key_name])
    kt, kf = kt.astype(np.float64), kf.astype(np.float64)
    # torch row i may stand at tfjs position j only when its key equals tfjs' key there and tfjs'
    # keys at positions i and j tie: the sort order itself is still checked
    ok = (np.abs(kt[:, None] - kf[None, :]) <= bound) & (np.abs(kf[:, None] - kf[None, :]) <= bound)
    for name in rule.outputs:
        a = shaped_got[name].reshape(n, -1).astype(np.float64)
        b = shaped_want[name].reshape(n, -1).astype(np.float64)
        close = np.ones((n, n), dtype=bool)
        for lo in range(0, a.shape[1], 64):  # bounded memory for wide rows
            d = np.abs(a[:, None, lo : lo + 64] - b[None, :, lo : lo + 64])
            close &= (d <= _row_bound(records[name])).all(axis=2)
        ok &= close
    # Kuhn's augmenting paths, trying the row itself first
    owner = np.full(n, -1)

    def place(i: int, seen: np.ndarray) -> bool:
        for j in sorted(np.flatnonzero(ok[i]), key=lambda j: (j != i, abs(j - i))):
            if not seen[j]:
                seen[j] = True
                if owner[j] < 0 or place(int(owner[j]), seen):
                    owner[j] = i
                    return True
        return False

    for i in range(n):
        if not place(i, np.zeros(n, dtype=bool)):
            raise AssertionError(
                f"{key_name}: torch row {i} (key {kt[i]!r}) matches no tfjs row with a key tied to position {i} "
                f"within {bound:.3g} and every element of {list(rule.outputs)} within bounds"
            )
    perm = np.empty(n, dtype=np.int64)
    perm[owner] = np.arange(n)
    return perm


def _canon(name: str) -> str:
    node, sep, idx = name.rpartition(":")
    return name if sep and idx.isdigit() else f"{name}:0"


def compare_outputs(meta: dict, values: dict[str, np.ndarray], module, outs) -> dict[str, float]:
    """Assert torch's outputs match the recording; output name -> max |difference| (floats)."""
    outs = outs if isinstance(outs, tuple) else (outs,)
    by_ref = {_canon(r): o for r, o in zip(module.output_refs, outs, strict=True)}
    arrays = {}
    for rec in meta["outputs"]:
        got_t = by_ref.get(_canon(rec["name"]))
        assert got_t is not None, f"{meta['model']}: torch module has no output {rec['name']!r} (has {module.output_refs})"
        arrays[rec["name"]] = got_t.detach().cpu().numpy()
    return compare_arrays(meta, values, arrays)


def compare_arrays(meta: dict, values: dict[str, np.ndarray], arrays: dict[str, np.ndarray]) -> dict[str, float]:
    """Assert outputs (recorded output name -> array, from any engine) match the recording;
    output name -> max |difference| (floats). Rows a sort ordered are paired first (SORTED_ROWS)."""
    records = {rec["name"]: rec for rec in meta["outputs"]}
    for name, rec in records.items():
        got = arrays[name]
        assert list(got.shape) == rec["shape"], f"{meta['model']} {name}: shape {list(got.shape)} != tfjs {rec['shape']}"
    sort = SORTED_ROWS.get(meta["model"])
    if sort is not None:
        for name in sort.outputs:
            assert records[name]["stride"] == 1 and records[name]["count"] == arrays[name].size, (
                f"{meta['model']} {name}: a sorted output must be recorded whole"
            )
        perm = match_sorted_rows(sort, records, arrays, values)
        for name in sort.outputs:
            paired = np.empty_like(np.moveaxis(arrays[name], sort.axis, 0))
            paired[perm] = np.moveaxis(arrays[name], sort.axis, 0)
            arrays = {**arrays, name: np.moveaxis(paired, 0, sort.axis)}
    diffs = {}
    for rec in meta["outputs"]:
        name = rec["name"]
        got = arrays[name]
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


# npm_package_dirs (package slug -> its extracted model directory) is in conftest.py.


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


def load_case(slug: str, model: str, npm_package_dirs: dict[str, Path]) -> tuple[dict, dict[str, np.ndarray], object, list]:
    """One recorded model: (recording metadata, recorded outputs, its torch module, the recorded
    inputs as tensors in the module's input order). The model files are checked against the
    recording's digests."""
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
    return meta, values, module, feeds


@pytest.mark.parametrize("slug,model", _cases())
def test_graph_model_matches_tfjs(slug, model, npm_package_dirs):
    """torch outputs == tfjs 4.22's recorded outputs for the recorded seeded input."""
    torch = require_torch()
    meta, values, module, feeds = load_case(slug, model, npm_package_dirs)
    with torch.no_grad():
        outs = module(*feeds)
    compare_outputs(meta, values, module, outs)


def _recorded_arrays(model: str) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """tfjs' own recorded outputs as engine outputs (only those recorded whole)."""
    meta, values = read_recording(ZOO / "human-models" / f"{model}.json")
    meta = {**meta, "outputs": [o for o in meta["outputs"] if o["stride"] == 1 and o["count"] == math.prod(o["shape"])]}
    arrays = {o["name"]: values[o["name"]].reshape(o["shape"]).copy() for o in meta["outputs"]}
    return meta, values, arrays


def test_sorted_rows_accept_a_swap_of_tied_scores():
    """faceboxes' rows 127 and 128 (scores one ulp apart) swapped, as torch on another CPU sorts
    them: the comparison pairs them back and passes."""
    meta, values, arrays = _recorded_arrays("faceboxes")
    scores, boxes = arrays["scores"], arrays["boxes"]
    assert abs(float(scores[0, 127]) - float(scores[0, 128])) < 1e-7
    scores[0, [127, 128]] = scores[0, [128, 127]]
    boxes[0, [127, 128]] = boxes[0, [128, 127]]
    assert not np.array_equal(boxes.reshape(-1), values["boxes"])
    diffs = compare_arrays(meta, values, arrays)
    assert diffs["boxes"] == 0.0 and diffs["scores"] == 0.0


def test_sorted_rows_reject_a_wrong_box():
    """One coordinate of one detection off by 0.01: no tfjs row pairs with it, the test fails."""
    meta, values, arrays = _recorded_arrays("faceboxes")
    arrays["boxes"][0, 128, 2] += 0.01
    with pytest.raises(AssertionError, match=r"scores: torch row 128 \(key .*\) matches no tfjs row"):
        compare_arrays(meta, values, arrays)


def test_sorted_rows_reject_a_swap_of_different_scores():
    """Rows whose scores differ beyond the bound (0 and 1 of faceboxes: 0.139 and 0.136) may not
    trade places, even with their boxes: the order of the sort is still checked."""
    meta, values, arrays = _recorded_arrays("faceboxes")
    for name in ("scores", "boxes"):
        arrays[name][0, [0, 1]] = arrays[name][0, [1, 0]]
    with pytest.raises(AssertionError, match="scores: torch row 0 .* matches no tfjs row"):
        compare_arrays(meta, values, arrays)


def test_sorted_rows_rule_covers_a_detection_table():
    """centernet's detections sort by column 4: a swap of two rows with tied scores passes, a
    changed class (column 5) in a tied row fails."""
    meta, values, arrays = _recorded_arrays("centernet")
    det = arrays["tower_0/detections"][0]
    ties = [i for i in range(len(det) - 1) if abs(det[i, 4] - det[i + 1, 4]) <= tolerance(meta["outputs"][0])[0]]
    assert ties, "the recording has tied scores to swap"
    i = ties[0]
    det[[i, i + 1]] = det[[i + 1, i]]
    compare_arrays(meta, values, dict(arrays))
    det[i, 5] += 1.0
    with pytest.raises(AssertionError, match="matches no tfjs row"):
        compare_arrays(meta, values, arrays)


# --------------------------------------------------------------------------
# the dynamic-shape ops on hand-made cases (ties, flipped and empty boxes, soft-NMS, padding,
# top-k's partition path), against tfjs-core's kernels (record_graph_models.mjs --dynamic-ops)

DYNAMIC = json.loads((ZOO / "dynamic_ops.json").read_text())["cases"]


def _node(op: str, **attrs) -> object:
    from tfjs_codec.torch.graph.registry import Node

    enc = {k: {"b": v} if isinstance(v, bool) else {"i": str(v)} for k, v in attrs.items()}
    return Node({"name": f"test/{op}", "op": op, "attr": enc}, file="dynamic_ops.json")


def _dynamic_id(case: dict) -> str:
    keys = [k for k in ("max", "iou", "score", "pad", "sigma", "shape", "k", "sorted") if k in case]
    return case["op"] + "-" + "-".join(f"{k}={case[k]}" for k in keys)


@pytest.mark.parametrize("case", DYNAMIC, ids=[_dynamic_id(c) for c in DYNAMIC])
def test_dynamic_op_matches_tfjs(case):
    """NMS V3/V4/V5, TopKV2 and Where give tfjs-core's outputs exactly (indices, order of ties,
    soft-NMS scores, padding, partition order of unsorted top-k)."""
    torch = require_torch()
    from tfjs_codec.torch.graph import OPS
    from tfjs_codec.torch.graph.module import _load_ops

    _load_ops()
    op = case["op"]
    f32 = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    if op.startswith("NonMaxSuppression"):
        boxes = f32(case["boxes"]).reshape(-1, 4)
        args = [boxes, f32(case["scores"]), torch.tensor(case["max"], dtype=torch.int32), f32(case["iou"]), f32(case["score"])]
        if op == "NonMaxSuppressionV5":
            args.append(f32(case["sigma"]))
        attrs = {"pad_to_max_output_size": case["pad"]} if op == "NonMaxSuppressionV4" else {}
        out = OPS[op](_node(op, **attrs), *args)
    elif op == "TopKV2":
        x = f32(case["x"]).reshape(case["shape"])
        out = OPS[op](_node(op, sorted=case["sorted"]), x, torch.tensor(case["k"], dtype=torch.int32))
    else:
        x = torch.tensor(case["x"], dtype=torch.bool).reshape(case["shape"])
        out = OPS[op](_node(op), x)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    assert len(outs) == len(case["outputs"])
    for got, want in zip(outs, case["outputs"], strict=True):
        assert list(got.shape) == want["shape"]
        dtype = {"float32": torch.float32, "int32": torch.int32}[want["dtype"]]
        assert got.dtype == dtype
        expected = torch.tensor(want["values"], dtype=dtype).reshape(want["shape"])
        assert torch.equal(got, expected), f"{got.tolist()} != {expected.tolist()}"


def test_nms_rejects_what_tfjs_rejects():
    """tfjs's nonMaxSuppSanityCheck errors, naming the node."""
    torch = require_torch()
    from tfjs_codec.errors import TfjsFormatError
    from tfjs_codec.torch.graph.ops_dynamic import non_max_suppression_v3

    boxes, scores = torch.zeros(3, 4), torch.zeros(3)
    node = _node("NonMaxSuppressionV3")
    with pytest.raises(TfjsFormatError, match=r"iouThreshold must be in \[0, 1\], but was '1.5'"):
        non_max_suppression_v3(node, boxes, scores, torch.tensor(2), torch.tensor(1.5), torch.tensor(0.0))
    with pytest.raises(TfjsFormatError, match="boxes must have 4 columns, but 2nd dimension was 3"):
        non_max_suppression_v3(node, torch.zeros(3, 3), scores, torch.tensor(2), torch.tensor(0.5), torch.tensor(0.0))
    with pytest.raises(TfjsFormatError, match="scores has incompatible shape with boxes. Expected 3, but was 2"):
        non_max_suppression_v3(node, boxes, torch.zeros(2), torch.tensor(2), torch.tensor(0.5), torch.tensor(0.0))


# --------------------------------------------------------------------------
# TF1 control flow on small hand-written graphs (the zoo's faceboxes, handtrack and rvm run it
# on real models above)


def _const(name: str, value, dtype: str = "DT_INT32", control: str | None = None) -> dict:
    field = {"DT_INT32": "intVal", "DT_FLOAT": "floatVal", "DT_BOOL": "boolVal"}[dtype]
    node = {
        "name": name,
        "op": "Const",
        "attr": {"dtype": {"type": dtype}, "value": {"tensor": {"dtype": dtype, "tensorShape": {}, field: [value]}}},
    }
    if control:
        node["input"] = [f"^{control}"]
    return node


def _n(name: str, op: str, *inputs: str, **attr) -> dict:
    return {"name": name, "op": op, "input": list(inputs), "attr": attr}


def _frame(**extra) -> dict:
    import base64

    return {"frame_name": {"s": base64.b64encode(b"loop").decode()}, **extra}


def _write_graph(folder: Path, nodes: list[dict], outputs: dict[str, str]) -> Path:
    doc = {
        "format": "graph-model",
        "modelTopology": {"node": nodes},
        "signature": {"outputs": {k: {"name": v} for k, v in outputs.items()}},
        "weightsManifest": [],
    }
    path = folder / "model.json"
    path.write_text(json.dumps(doc))
    return path


def _while_graph() -> list[dict]:
    """acc = sum(i * x for i < n); every i * x written to a TensorArray, gathered after the loop."""
    f = {"type": "DT_FLOAT"}
    return [
        _n("x", "Placeholder", dtype=f, shape={"shape": {}}),
        _n("n", "Placeholder", dtype={"type": "DT_INT32"}, shape={"shape": {}}),
        _const("zero_i", 0),
        _const("zero_f", 0.0, "DT_FLOAT"),
        _n("ta", "TensorArrayV3", "n", dtype=f, dynamic_size={"b": False}, clear_after_read={"b": True}),
        _n("e_i", "Enter", "zero_i", **_frame()),
        _n("e_acc", "Enter", "zero_f", **_frame()),
        _n("e_flow", "Enter", "ta:1", **_frame()),
        _n("e_ta", "Enter", "ta", **_frame(is_constant={"b": True})),
        _n("e_n", "Enter", "n", **_frame(is_constant={"b": True})),
        _n("e_x", "Enter", "x", **_frame(is_constant={"b": True})),
        _n("m_i", "Merge", "e_i", "ni_i"),
        _n("m_acc", "Merge", "e_acc", "ni_acc"),
        _n("m_flow", "Merge", "e_flow", "ni_flow"),
        _n("less", "Less", "m_i", "e_n", T={"type": "DT_INT32"}),
        _n("cond", "LoopCond", "less"),
        _n("s_i", "Switch", "m_i", "cond"),
        _n("s_acc", "Switch", "m_acc", "cond"),
        _n("s_flow", "Switch", "m_flow", "cond"),
        _n("id_i", "Identity", "s_i:1"),
        _n("id_acc", "Identity", "s_acc:1"),
        _n("id_flow", "Identity", "s_flow:1"),
        _const("one", 1, control="id_i"),
        _n("i1", "AddV2", "id_i", "one", T={"type": "DT_INT32"}),
        _n("fi", "Cast", "id_i", SrcT={"type": "DT_INT32"}, DstT=f),
        _n("prod", "Mul", "fi", "e_x", T=f),
        _n("acc1", "AddV2", "id_acc", "prod", T=f),
        _n("w", "TensorArrayWriteV3", "e_ta", "id_i", "prod", "id_flow", T=f),
        _n("ni_i", "NextIteration", "i1"),
        _n("ni_acc", "NextIteration", "acc1"),
        _n("ni_flow", "NextIteration", "w"),
        _n("ex_acc", "Exit", "s_acc"),
        _n("ex_flow", "Exit", "s_flow"),
        _n("size", "TensorArraySizeV3", "ta", "ex_flow"),
        _const("r0", 0),
        _const("r1", 1),
        _n("range", "Range", "r0", "size", "r1", Tidx={"type": "DT_INT32"}),
        _n("gather", "TensorArrayGatherV3", "ta", "range", "ex_flow", dtype=f),
    ]


def test_while_loop_with_tensor_array(tmp_path):
    """A TF1 while loop (Enter/Merge/Switch/NextIteration/Exit) writing a TensorArray runs every
    iteration; loop-invariant Enters (is_constant) are visible in every iteration."""
    torch = require_torch()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    path = _write_graph(tmp_path, _while_graph(), {"acc": "ex_acc:0", "items": "gather:0"})
    with tc.load(path) as m:
        net = tct.to_module(m)
    assert net.input_names == ["x", "n"]
    acc, items = net(torch.tensor(2.0), torch.tensor(5, dtype=torch.int32))
    assert acc.item() == 20.0
    assert items.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    acc, items = net(torch.tensor(-1.5), torch.tensor(0, dtype=torch.int32))
    assert acc.item() == 0.0
    assert list(items.shape) == [0]


def test_while_loop_gradient(tmp_path):
    """Gradients flow through the loop to the inputs (d acc / d x = 0 + 1 + ... + n-1)."""
    torch = require_torch()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    path = _write_graph(tmp_path, _while_graph(), {"acc": "ex_acc:0", "items": "gather:0"})
    with tc.load(path) as m:
        net = tct.to_module(m)
    x = torch.tensor(3.0, requires_grad=True)
    acc, _ = net(x, torch.tensor(4, dtype=torch.int32))
    acc.backward()
    assert x.grad.item() == 6.0


def _cond_graph() -> list[dict]:
    f = {"type": "DT_FLOAT"}
    return [
        _n("x", "Placeholder", dtype=f, shape={"shape": {}}),
        _n("pred", "Placeholder", dtype={"type": "DT_BOOL"}, shape={"shape": {}}),
        _n("sw", "Switch", "x", "pred"),
        _const("two", 2.0, "DT_FLOAT"),
        _n("then", "Mul", "sw:1", "two", T=f),
        _n("else", "AddV2", "sw:0", "two", T=f),
        _n("merge", "Merge", "else", "then"),
        _n("only_then", "Identity", "then"),
    ]


def test_cond_takes_one_branch(tmp_path):
    """Switch sends its data down the branch the predicate picks; Merge forwards it."""
    torch = require_torch()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    path = _write_graph(tmp_path, _cond_graph(), {"y": "merge:0"})
    with tc.load(path) as m:
        net = tct.to_module(m)
    assert net(torch.tensor(5.0), torch.tensor(True)).item() == 10.0
    assert net(torch.tensor(5.0), torch.tensor(False)).item() == 7.0


def test_output_of_untaken_branch_is_an_error(tmp_path):
    """An output on the branch not taken never gets a value: an error naming it, not a wrong answer."""
    torch = require_torch()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct
    from tfjs_codec.errors import TfjsFormatError

    path = _write_graph(tmp_path, _cond_graph(), {"y": "only_then:0"})
    with tc.load(path) as m:
        net = tct.to_module(m)
    assert net(torch.tensor(5.0), torch.tensor(True)).item() == 10.0
    with pytest.raises(TfjsFormatError) as e:
        net(torch.tensor(5.0), torch.tensor(False))
    assert str(e.value) == (
        "model.json: modelTopology: cannot compute the outputs ['only_then:0'] from the inputs: "
        "the control flow never reached them"
    )


def test_tensor_array_misuse_names_the_node(tmp_path):
    """Writing past a fixed-size TensorArray fails as tfjs does, naming the node."""
    torch = require_torch()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct
    from tfjs_codec.errors import TfjsFormatError

    nodes = _while_graph()
    for node in nodes:
        if node["name"] == "ta":
            node["input"] = ["r1"]  # size 1, the loop writes n elements
    path = _write_graph(tmp_path, nodes, {"acc": "ex_acc:0", "items": "gather:0"})
    with tc.load(path) as m:
        net = tct.to_module(m)
    with pytest.raises(TfjsFormatError) as e:
        net(torch.tensor(1.0), torch.tensor(3, dtype=torch.int32))
    assert str(e.value) == (
        "model.json: node 'w' (TensorArrayWriteV3): Tried to write to index 1, but array is not resizeable and size is: 1"
    )


def test_functional_control_flow_matches_tfjs():
    """TF2 control flow (StatelessWhile / StatelessIf with a function library, made by the
    tensorflowjs converter with control_flow_v2) runs its functions and matches tfjs 4.22;
    gradients reach the input through the loop and the branch."""
    torch = require_torch()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    folder = ZOO / "converter"
    meta, values = read_recording(folder / "recorded" / "tf2_control_flow.json")
    with tc.load(folder / "tf2_control_flow.json") as m:
        net = tct.to_module(m)
    assert {n.op for n in net.graph_def.nodes.values()} >= {"StatelessWhile", "StatelessIf"}
    feeds = {spec["name"]: torch.from_numpy(make_input(spec)) for spec in meta["inputs"]}
    assert int(feeds["n"]) == 83  # the recorded input: 83 loop iterations
    x = feeds["x"].clone().requires_grad_(True)
    outs = net(feeds["n"], x)
    compare_outputs(meta, values, net, outs)
    outs[0].sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0
