"""Quantization equals tensorflowjs 4.22 (numpy 2); dequantization equals tfjs-core."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from conftest import FIXTURES, expected_weights, same_bits

import tfjs_codec as tc
from tfjs_codec.quantization import js_round_to_int32

CASES = json.loads((FIXTURES / "quantize" / "cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['case']}-{c['dtype']}")
def test_quantize_equals_recorded_tensorflowjs_output(case):
    if case.get("error"):  # the reference refuses it (float16 of int32 data): so do we
        sibling = next(c for c in CASES if c["case"] == case["case"] and c.get("file"))
        with pytest.raises(ValueError, match="^float16 quantization takes float32 data, not int32$"):
            tc.quantize(np.load(FIXTURES / "quantize" / sibling["file"])["input"], case["dtype"])
        return
    data = np.load(FIXTURES / "quantize" / case["file"])
    source = data["input"]
    if case["dtype"] == "float16" and source.dtype != np.float32:
        pytest.skip("the reference refuses float16 quantization of int32 data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tc.TfjsFormatWarning)
        q, meta = tc.quantize(source, case["dtype"])
    assert q.dtype == data["q"].dtype and q.shape == data["q"].shape
    assert q.tobytes() == data["q"].tobytes()
    want = {"dtype": case["dtype"], **case["metadata"], "original_dtype": source.dtype.name}
    assert meta == want
    # floats compare by bits (the reference's min can be -0.0)
    for key in ("min", "scale"):
        if key in want:
            assert math.copysign(1, meta[key]) == math.copysign(1, want[key])


def test_writer_matches_write_weights_manifest_and_bytes():
    """The converter's write_weights over the same inputs: same entries, same shard bytes."""
    folder = FIXTURES / "quantize"
    manifest = json.loads((folder / "weights_manifest.json").read_text())
    inputs = {f"{c['case']}_{c['dtype']}": np.load(folder / c["file"])["input"] for c in CASES if c.get("file")}
    qmap = {"uint8": ["*_uint8"], "uint16": ["*_uint16"], "float16": ["*_float16"]}
    for group in manifest:
        weights = {e["name"]: inputs[e["name"]] for e in group["weights"]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tc.TfjsFormatWarning)
            ours, buffers = tc.encode_weights(weights, quantize=qmap)
        assert ours[0]["weights"] == group["weights"]
        assert json.dumps(ours[0]["weights"]) == json.dumps(group["weights"])  # key order and float spelling
        assert b"".join(buffers[0]) == b"".join((folder / p).read_bytes() for p in group["paths"])


@pytest.mark.parametrize(
    "values, int_expected",
    [
        ([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], [-2, -1, 0, 1, 2, 3]),
        ([0.49999999999999994, -0.49999999999999994], [0, 0]),
        ([2**31, -(2**31) - 1, 2**32 + 5], [-(2**31), 2**31 - 1, 5]),
    ],
)
def test_js_math_round_and_int32_store(values, int_expected):
    assert js_round_to_int32(np.array(values)).tolist() == int_expected


def test_dequantize_int32_ties_go_toward_positive_infinity():
    q = np.arange(6, dtype=np.uint8)
    out = tc.dequantize(q, {"dtype": "uint8", "scale": 1.0, "min": -2.5}, dtype="int32")
    assert out.dtype == np.int32 and out.tolist() == [-2, -1, 0, 1, 2, 3]  # numpy's round would give -2, -2, 0, 0, 2, 2


def test_dequantize_float32_rounds_once_from_double():
    q = np.array([0, 1, 255], dtype=np.uint8)
    meta = {"dtype": "uint8", "scale": 0.1, "min": -0.30000000000000004}
    out = tc.dequantize(q, meta)
    want = (q.astype(np.float64) * 0.1 + -0.30000000000000004).astype(np.float32)
    assert out.tobytes() == want.tobytes()


def test_float16_keeps_nan_inf_and_warns_about_overflow():
    data = np.array([np.nan, np.inf, -np.inf, 1.0, 70000.0, -1e6], dtype=np.float32)
    with pytest.warns(tc.TfjsFormatWarning, match=r"^2 value\(s\) beyond the float16 range \(\+-65504\) become \+-Inf$"):
        q, meta = tc.quantize(data, "float16")
    assert meta == {"dtype": "float16", "original_dtype": "float32"}
    back = tc.dequantize(q, meta)
    assert np.isnan(back[0]) and back[1:].tolist() == [np.inf, -np.inf, 1.0, np.inf, -np.inf]


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_affine_quantization_refuses_what_it_cannot_represent(dtype):
    with pytest.raises(ValueError, match=f"^{dtype} quantization cannot represent NaN or infinite values$"):
        tc.quantize(np.array([1.0, np.nan], np.float32), dtype)
    with pytest.raises(ValueError, match=f"^{dtype} quantization needs at least one value$"):
        tc.quantize(np.zeros((0, 3), np.float32), dtype)


def test_save_leaves_unrepresentable_weights_unquantized_with_a_warning(tmp_path):
    weights = {
        "ok": np.linspace(-1, 1, 10, dtype=np.float32),
        "nan": np.array([1.0, np.nan], np.float32),
        "empty": np.zeros((0, 4), np.float32),
    }
    with pytest.warns(tc.TfjsFormatWarning) as record:
        tc.save(tmp_path, weights, quantize="uint8")
    assert sorted(str(w.message) for w in record) == [
        "weight 'empty' is left unquantized: uint8 quantization needs at least one value",
        "weight 'nan' is left unquantized: uint8 quantization cannot represent NaN or infinite values",
    ]
    with tc.load(tmp_path) as m:
        assert m.specs["ok"].quantization["dtype"] == "uint8"
        assert m.specs["nan"].quantization is None and m.specs["empty"].quantization is None
        assert same_bits(m["nan"], weights["nan"])


def test_quantize_map_patterns_and_fallthrough(tmp_path):
    w = {
        "d/kernel": np.array([[1, 2], [1, 2]], np.float32),
        "d/bias": np.arange(2, dtype=np.float32),
        "n": np.arange(3, dtype=np.int32),
    }
    tc.save(tmp_path, w, quantize={"uint8": ["*/kernel"], "float16": True})
    with tc.load(tmp_path) as m:
        kinds = {n: (s.quantization or {}).get("dtype") for n, s in m.specs.items()}
    assert kinds == {"d/kernel": "uint8", "d/bias": "float16", "n": None}
    with pytest.raises(ValueError, match=r"^two quantization dtypes, 'uint8' and 'uint16', match weight 'd/kernel'$"):
        tc.save(tmp_path, w, quantize={"uint8": "*/kernel", "uint16": ["d/*"]})


def test_quantized_fixtures_from_the_browser_decode_like_tfjs():
    """uint8/uint16 with int32 dtype, .5 ties, float16 specials: all bit-exact (recorded by tfjs-core)."""
    expected = expected_weights("tfjs_quantized_manual")
    with tc.load(FIXTURES / "tfjs_quantized_manual") as m:
        kinds = {(s.quantization["dtype"], s.dtype) for s in m.specs.values() if s.quantization}
        assert {("uint8", "int32"), ("uint16", "int32"), ("uint8", "float32"), ("float16", "float32")} <= kinds
        for name, want in expected.items():
            assert same_bits(m[name], want), name
