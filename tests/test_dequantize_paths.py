"""The fast decoding paths give the reference table's values bit for bit.

``affine_decode`` gathers from tables it builds per weight (code pairs for big
uint8 weights, the expression per element for small uint16 ones) instead of
indexing :func:`lookup_table`; ``float16_to_float32`` gathers from a table
instead of numpy's cast. Both must equal the slow definitions for every code.
"""

from __future__ import annotations

import numpy as np
import pytest

from tfjs_codec.quantization import DECODE_CHUNK, affine_decode, dequantize, float16_to_float32, lookup_table

SCALE_MIN = [
    (0.0123, -1.7),
    (3.3e-7, 0.0),
    (1.0, 5.0),
    (2.0**-140, -(2.0**-130)),  # results in the float32 subnormal range
    (1e36, 3.0e38),  # overflows float32 (and float64 for uint16): +-inf
    (-1e300, 1e300),  # inf - inf territory
]


@pytest.mark.parametrize("qdtype,codes_dtype", [("uint8", "u1"), ("uint16", "<u2")])
@pytest.mark.parametrize("scale,lo", SCALE_MIN)
def test_affine_decode_equals_the_lookup_table_for_every_code(qdtype, codes_dtype, scale, lo):
    q = {"dtype": qdtype, "scale": scale, "min": lo}
    codes = np.arange(256 if qdtype == "uint8" else 65536).astype(codes_dtype)
    codes = np.concatenate([codes, codes[::-1]])  # more than one chunk for uint16
    with np.errstate(invalid="ignore"):
        got = affine_decode(codes, q, "float32")
        want = lookup_table(q, "float32")[codes]
    assert got.dtype == np.dtype("<f4")
    assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()


def test_affine_decode_keeps_the_shape_across_chunk_boundaries():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, size=(3, DECODE_CHUNK + 7), dtype=np.uint8)
    q = {"dtype": "uint8", "scale": 0.25, "min": -3.0}
    got = affine_decode(codes, q, "float32")
    assert got.shape == codes.shape
    assert np.array_equal(got, codes.astype(np.float64) * 0.25 - 3.0)
    assert affine_decode(codes[:0], q, "float32").shape == (0, DECODE_CHUNK + 7)


def test_affine_decode_int32_still_rounds_like_javascript():
    q = {"dtype": "uint8", "scale": 0.5, "min": -1.0}
    codes = np.array([0, 1, 2, 3, 5], dtype=np.uint8)  # -1, -0.5, 0, 0.5, 1.5
    assert affine_decode(codes, q, "int32").tolist() == [-1, 0, 0, 1, 2]


def test_float16_to_float32_equals_the_cast_for_every_bit_pattern():
    codes = np.arange(1 << 16, dtype=np.uint16).view("<f2")
    got = float16_to_float32(codes)
    assert got.dtype == np.dtype("<f4")
    assert got.view(np.uint32).tolist() == codes.astype(np.float32).view(np.uint32).tolist()
    shaped = codes[:12].reshape(3, 4)
    assert float16_to_float32(shaped).shape == (3, 4)
    assert dequantize(shaped, {"dtype": "float16"}).view(np.uint32).tolist() == shaped.astype(np.float32).view(np.uint32).tolist()


def test_quantized_weights_of_a_model_are_carved_from_shared_blocks_without_overlap(tmp_path):
    import gc

    import tfjs_codec as tc
    from tfjs_codec.arena import ALIGN

    rng = np.random.default_rng(9)
    weights = {f"w{i}": rng.standard_normal((i + 1, 37)).astype(np.float32) for i in range(6)}
    weights["ints"] = np.arange(12, dtype=np.int32).reshape(3, 4)
    weights["empty"] = np.zeros((0, 3), dtype=np.float32)
    tc.save(tmp_path, weights, quantize={"uint8": ["w0", "w1", "w2", "ints"], "float16": ["w3", "w4", "w5"]})
    model = tc.load(tmp_path)
    decoded = {n: model[n] for n in model}
    stored = {"uint8": "u1", "uint16": "<u2", "float16": "<f2"}
    for name, spec in model.specs.items():
        if spec.quantization is None:
            want = np.asarray(weights[name])
        else:
            codes = np.frombuffer(model.raw(name), dtype=stored[spec.quantization["dtype"]]).reshape(spec.shape)
            want = tc.dequantize(codes, spec.quantization, spec.dtype)
        assert decoded[name].dtype == want.dtype and decoded[name].shape == want.shape, name
        assert decoded[name].tobytes() == want.tobytes(), name
    carved = [decoded[f"w{i}"] for i in range(6)]

    blocks = {_root(a) for a in carved}
    assert len(blocks) == 1  # one block for this small model
    for i, a in enumerate(carved):
        assert a.flags.writeable and a.flags.c_contiguous
        assert a.__array_interface__["data"][0] % ALIGN == 0
        for b in carved[i + 1 :]:
            assert not np.shares_memory(a, b)
    model.close()
    del model
    gc.collect()
    carved[0][...] = 1.0  # still valid and private after close
    assert np.all(carved[0] == 1.0)
    assert not np.shares_memory(carved[0], carved[1])


def test_quantized_int32_weights_are_carved_too():
    from conftest import FIXTURES, expected_weights, same_bits

    import tfjs_codec as tc

    expected = expected_weights("tfjs_quantized_manual")
    with tc.load(FIXTURES / "tfjs_quantized_manual") as model:
        ints = [n for n, s in model.specs.items() if s.quantization is not None and s.dtype == "int32" and s.size]
        floats = [n for n, s in model.specs.items() if s.quantization is not None and s.dtype == "float32" and s.size]
        assert len(ints) >= 2 and floats
        decoded = {n: model[n] for n in ints + floats}
    for name, array in decoded.items():
        assert same_bits(array, expected[name]), name
        assert array.flags.writeable and array.flags.c_contiguous
    assert len({_root(a) for a in decoded.values()}) == 1  # one block holds the int32 and float32 outputs


def _root(a: np.ndarray) -> int:
    """Identity of the array that owns ``a``'s memory (its arena block)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return id(a)
