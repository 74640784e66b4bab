"""Round-trip properties over dtypes, shapes, shard sizes and quantization (hypothesis)."""

from __future__ import annotations

import warnings

import numpy as np
from conftest import same_bits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tfjs_codec as tc

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
numeric = st.sampled_from(["<f4", ">f4", "<i4", "?", "<c8"])


@st.composite
def weight_arrays(draw):
    dtype = draw(numeric | st.just("string"))
    shape = draw(shapes)
    if dtype == "string":
        values = draw(st.lists(st.binary(max_size=6), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return arr.reshape(shape)
    if dtype in ("<f4", ">f4"):
        # every bit pattern: NaN payloads, -0.0, subnormals, infinities
        bits = draw(hnp.arrays(np.uint32, shape))
        return bits.view("<f4").astype(dtype)
    if dtype == "<c8":
        bits = draw(hnp.arrays(np.uint64, shape))
        return bits.view("<c8")
    return draw(hnp.arrays(np.dtype(dtype), shape))


names = st.text(alphabet="abcdefghij/_0123456789", min_size=1, max_size=12)
weight_maps = st.dictionaries(names, weight_arrays(), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(weights=weight_maps, shard_size=st.integers(1, 64))
def test_encode_decode_is_bit_exact(weights, shard_size):
    manifest, buffers = tc.encode_weights(weights, shard_size=shard_size)
    assert all(len(b) == shard_size for b in buffers[0][:-1])
    decoded = tc.decode_weights(manifest, buffers)
    assert list(decoded) == list(weights)
    for name, want in weights.items():
        got = decoded[name]
        if want.dtype == object:
            assert got.shape == want.shape and list(got.reshape(-1)) == list(want.reshape(-1))
        else:
            assert same_bits(got, want.astype(want.dtype.newbyteorder("<"))), name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(weights=weight_maps, shard_size=st.integers(1, 64))
def test_save_load_save_is_byte_identical(tmp_path_factory, weights, shard_size):
    folder = tmp_path_factory.mktemp("m")
    tc.save(folder / "a", weights, shard_size=shard_size)
    with tc.load(folder / "a") as model:
        tc.save(folder / "b", model.weights, like=model)
    files_a = {p.name: p.read_bytes() for p in (folder / "a").iterdir()}
    files_b = {p.name: p.read_bytes() for p in (folder / "b").iterdir()}
    assert files_a == files_b


finite_floats = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=40),
    elements=st.floats(-1e6, 1e6, width=32),
)


@settings(max_examples=150, deadline=None)
@given(data=finite_floats, qdtype=st.sampled_from(["uint8", "uint16"]))
def test_affine_quantization_error_is_at_most_half_a_step(data, qdtype):
    q, meta = tc.quantize(data, qdtype)
    back = tc.dequantize(q, meta)
    assert back.shape == data.shape and back.dtype == np.float32
    step = meta["scale"]
    lo, hi = float(data.min()), float(data.max())
    if lo == hi:
        assert not q.any() and meta["scale"] == 1.0 and (back == data).all()
        return
    # the nudge can move the range by up to half a step; float32 rounding adds a little
    tol = step * 1.0 + 1e-6 * max(abs(lo), abs(hi))
    assert np.all(np.abs(back.astype(np.float64) - data) <= tol)
    if lo <= 0 <= hi:
        assert 0.0 in tc.dequantize(np.arange(256 if qdtype == "uint8" else 65536), meta)


@settings(max_examples=60, deadline=None)
@given(data=finite_floats, qdtype=st.sampled_from(["uint8", "uint16", "float16"]), shard_size=st.integers(1, 32))
def test_quantized_encode_decodes_to_dequantize(data, qdtype, shard_size):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tc.TfjsFormatWarning)
        q, meta = tc.quantize(data, qdtype)
        manifest, buffers = tc.encode_weights({"w": data}, quantize=qdtype, shard_size=shard_size)
    assert manifest[0]["weights"][0]["quantization"] == meta
    assert b"".join(buffers[0]) == q.astype(q.dtype.newbyteorder("<")).tobytes()
    assert same_bits(tc.decode_weights(manifest, buffers)["w"], tc.dequantize(q, meta))
