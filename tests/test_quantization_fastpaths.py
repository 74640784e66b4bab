"""Quantization shortcuts give the reference's bytes; table decoders give tfjs-core's values.

Recorded by the real tensorflowjs 4.22 (fixtures/make_quantize_fastpath_fixtures.py):
constant tensors (every code 0, no arithmetic) and tensors whose clip does or does
not change a code. The spelled-out reference formula is the oracle for the
randomised checks; ``lookup_table`` (one double expression per code, checked
against tfjs-core by the decode fixtures) is the oracle for the decoders.
"""

from __future__ import annotations

import json
import math
import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import FIXTURES, same_bits
from hypothesis import given, settings
from hypothesis import strategies as st

import tfjs_codec as tc
from tfjs_codec import quantization as Q

FOLDER = FIXTURES / "quantize_fastpaths"
CASES = json.loads((FOLDER / "cases.json").read_text())["cases"]


def reference_codes(data: np.ndarray, qdtype: str) -> np.ndarray:
    """tensorflowjs 4.22 ``quantize_weights`` under numpy 2, its float64 promotion spelled out."""
    lo, hi = np.float64(data.min()), np.float64(data.max())
    if lo == hi:
        return np.zeros(data.shape, dtype=qdtype)
    qmax = np.iinfo(qdtype).max
    scale = (hi - lo) / qmax
    if lo <= 0 <= hi:
        lo = -np.round((0 - lo) / scale) * scale
        hi = qmax * scale + lo
    return np.round((data.astype(np.float64).clip(lo, hi) - lo) / scale).astype(qdtype)


def path_of(data: np.ndarray, qdtype: str) -> str:
    """Which way :func:`tc.quantize` computes the codes of ``data``."""
    meta = Q.quantization_metadata(data, qdtype)
    assert meta.value_range is not None
    if meta.value_range[0] == meta.value_range[1]:
        return "constant"
    bounds = Q._clip_bounds(meta.value_range, meta["min"], meta["scale"], qdtype)
    return "clip" if Q._clip_needed(meta.value_range, bounds, meta["scale"]) else "no clip"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['case']}-{c['dtype']}")
def test_codes_and_metadata_equal_recorded_tensorflowjs(case):
    data = np.load(FOLDER / case["file"])
    source = data["input"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tc.TfjsFormatWarning)  # 3e38 and float32 lowest overflow float16
        q, meta = tc.quantize(source, case["dtype"])
    assert q.dtype == data["q"].dtype and q.shape == data["q"].shape
    assert q.tobytes() == data["q"].tobytes()
    want = {"dtype": case["dtype"], **case["metadata"], "original_dtype": source.dtype.name}
    assert meta == want
    assert json.dumps(meta) == json.dumps(want)  # key order, and -0.0 stays -0.0
    for key in ("min", "scale"):
        if key in want:
            assert math.copysign(1, meta[key]) == math.copysign(1, want[key])


def test_the_recordings_cover_every_shortcut():
    paths = {}
    for case in CASES:
        if case["dtype"] != "float16":
            paths[case["case"], case["dtype"]] = path_of(np.load(FOLDER / case["file"])["input"], case["dtype"])
    for (name, qdtype), path in paths.items():
        if name.startswith(("const_", "int32_const_")):
            assert path == "constant", name
        elif name.startswith("clip_"):
            assert path == "clip", (name, qdtype)
        else:
            assert path == "no clip", (name, qdtype)
    big = [np.load(FOLDER / c["file"])["input"].size for c in CASES if c["case"].endswith("_big")]
    assert max(big) > Q.CHUNK_ELEMENTS and min(big) > Q.ARITH_CHUNK  # several chunks and steps


def test_constant_tensors_are_written_without_arithmetic():
    data = np.full((Q.CHUNK_ELEMENTS + 5,), -2.5, np.float32)
    meta = Q.quantization_metadata(data, "uint16")
    chunks = list(Q.iter_quantized(data, meta))
    assert [c.size for c in chunks] == [Q.CHUNK_ELEMENTS, 5]
    assert all(not c.flags.writeable and not c.any() and c.dtype == np.dtype("<u2") for c in chunks)
    assert dict(meta) == {"dtype": "uint16", "min": -2.5, "scale": 1.0, "original_dtype": "float32"}


def test_a_plain_dict_of_metadata_gives_the_same_codes():
    rng = np.random.default_rng(3)
    data = rng.standard_normal(Q.ARITH_CHUNK + 11).astype(np.float32)
    data[:2] = [-1.0, 1.0]
    for qdtype in ("uint8", "uint16"):
        meta = Q.quantization_metadata(data, qdtype)
        plain = dict(meta)  # no remembered range: iter_quantized scans the data itself
        assert b"".join(c.tobytes() for c in Q.iter_quantized(data, plain)) == reference_codes(data, qdtype).tobytes()


def test_writer_matches_write_weights_manifest_and_bytes():
    manifest = json.loads((FOLDER / "weights_manifest.json").read_text())
    inputs = {f"{c['case']}_{c['dtype']}": np.load(FOLDER / c["file"])["input"] for c in CASES}
    qmap = {"uint8": ["*_uint8"], "uint16": ["*_uint16"], "float16": ["*_float16"]}
    for group in manifest:
        weights = {e["name"]: inputs[e["name"]] for e in group["weights"]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tc.TfjsFormatWarning)
            ours, buffers = tc.encode_weights(weights, quantize=qmap)
        assert json.dumps(ours[0]["weights"]) == json.dumps(group["weights"])
        assert b"".join(buffers[0]) == b"".join((FOLDER / p).read_bytes() for p in group["paths"])


def test_random_tensors_take_both_clip_paths_and_match_the_reference_formula():
    rng = np.random.default_rng(20261127)
    seen = {"clip": 0, "no clip": 0}
    for i in range(1500):
        n = int(rng.integers(1, 40))
        # few distinct values, extremes often exactly +-1 or 0: the nudge then moves them off the grid
        pool = np.concatenate([rng.uniform(-3, 3, 4), [-1.0, 1.0, 0.0, 0.5]]).astype(np.float32)
        if i % 5 == 0:
            data = (rng.choice(pool, n) * 10.0 ** rng.integers(0, 9)).astype(np.int32)
        else:
            data = rng.choice(pool, n) * np.float32(10.0 ** rng.integers(-20, 20))
        for qdtype in ("uint8", "uint16"):
            path = path_of(data, qdtype)
            seen[path] = seen.get(path, 0) + 1
            q, _ = tc.quantize(data, qdtype)
            assert q.tobytes() == reference_codes(data, qdtype).tobytes(), (data.tolist(), qdtype)
    assert seen["clip"] > 20 and seen["no clip"] > 20 and seen["constant"] > 0


@settings(max_examples=120, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=6),
    picks=st.lists(st.integers(0, 5), min_size=1, max_size=60),
    qdtype=st.sampled_from(["uint8", "uint16"]),
)
def test_codes_equal_the_reference_formula(values, picks, qdtype):
    data = np.array([values[i % len(values)] for i in picks], dtype=np.float32)
    with np.errstate(over="ignore"):
        if not np.isfinite(np.float64(data.max()) - np.float64(data.min())):
            return
        want = reference_codes(data, qdtype)
    q, _ = tc.quantize(data, qdtype)
    assert q.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_uint8_pair_table_decodes_every_pair_of_codes(dtype):
    scale, lo = (0.0123, -1.7) if dtype == "float32" else (0.5, -64.25)
    q = {"dtype": "uint8", "scale": scale, "min": lo}
    pairs = np.arange(1 << 16, dtype="<u2").view(np.uint8)  # every (c0, c1) once
    table = Q.lookup_table(q, dtype)
    for codes in (pairs, pairs[:-1], pairs[1:], np.concatenate([pairs, pairs[:3]])):
        got = Q.affine_decode(codes, q, dtype)
        assert got.size >= Q.BIG_TABLE_MIN
        assert same_bits(got, table[codes])


def test_int32_decodes_of_uint16_use_the_table_bit_for_bit():
    q = {"dtype": "uint16", "scale": 0.25, "min": -8192.5}
    codes = np.arange(1 << 16, dtype="<u2")
    assert same_bits(Q.affine_decode(codes, q, "int32"), Q.lookup_table(q, "int32")[codes])
    # -8192.5, -8192.0, -8191.5, -8191.0: Math.round takes ties toward +infinity
    assert Q.affine_decode(codes[[0, 2, 4, 6]], q, "int32").tolist() == [-8192, -8192, -8191, -8191]


@settings(max_examples=40, deadline=None)
@given(
    qdtype=st.sampled_from(["uint8", "uint16"]),
    dtype=st.sampled_from(["float32", "int32"]),
    scale=st.floats(1e-30, 1e30),
    lo=st.floats(-1e30, 1e30),
    size=st.sampled_from([1, 2, 3, Q.BIG_TABLE_MIN - 1, Q.BIG_TABLE_MIN, Q.BIG_TABLE_MIN + 1, 3 * Q.DECODE_CHUNK + 7]),
    offset=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_decoders_equal_the_per_code_table(qdtype, dtype, scale, lo, size, offset, seed):
    """Any scale/min, sizes on both sides of the table switch, codes at unaligned addresses."""
    q = {"dtype": qdtype, "scale": scale, "min": lo}
    itemsize = 1 if qdtype == "uint8" else 2
    raw = np.random.default_rng(seed).integers(0, 256, size * itemsize + offset, dtype=np.uint8)
    codes = np.frombuffer(raw.tobytes()[offset:], dtype=Q.DTYPES[qdtype].numpy)
    out = np.empty(size, dtype=Q.DTYPES[dtype].numpy)
    assert Q.affine_decode(codes, q, dtype, out=out) is out
    assert same_bits(out, Q.lookup_table(q, dtype)[codes])


def test_decode_into_a_wrong_out_is_refused():
    codes = np.zeros(10, np.uint8)
    q = {"dtype": "uint8", "scale": 1.0, "min": 0.0}
    with pytest.raises(ValueError, match=r"^out must be a contiguous float32 array of 10 elements$"):
        Q.affine_decode(codes, q, "float32", out=np.empty(9, np.float32))
    with pytest.raises(ValueError, match=r"^out must be a contiguous float32 array of 10 elements$"):
        Q.float16_to_float32(codes.view(np.float16)[:5].repeat(2), out=np.empty(10, np.int32))


def test_decoding_a_big_weight_allocates_only_its_output():
    codes = np.random.default_rng(1).integers(0, 256, 4 << 20, dtype=np.uint8)
    q = {"dtype": "uint8", "scale": 0.01, "min": -1.0}
    for qcodes, meta in ((codes, q), (codes.view("<u2"), {**q, "dtype": "uint16"}), (codes.view("<f2"), {"dtype": "float16"})):
        tracemalloc.start()
        try:
            out = tc.dequantize(qcodes, meta)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak <= out.nbytes + (2 << 20), meta["dtype"]  # tables and the index step: about 1 MiB


def test_float16_overflow_warning_is_decided_by_the_range():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tc.quantize(np.array([65519.99, -65519.99, 1.0], np.float32), "float16")  # round to +-65504: no warning
    with pytest.warns(tc.TfjsFormatWarning, match=r"^1 value\(s\) beyond the float16 range \(\+-65504\) become \+-Inf$"):
        q, _ = tc.quantize(np.array([-65520.0, 3.0], np.float32), "float16")
    assert np.isneginf(q[0])
    with pytest.warns(tc.TfjsFormatWarning, match=r"^1 value\(s\) beyond"):
        tc.quantize(np.array([np.nan, 1e5], np.float32), "float16")  # NaN hides the range: counted
