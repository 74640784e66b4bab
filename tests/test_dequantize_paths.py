"""The fast decoding paths give the reference table's values bit for bit.

``affine_decode`` evaluates ``q * scale + min`` per element in chunks instead of
gathering from :func:`lookup_table`; ``float16_to_float32`` gathers from a table
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
