"""Groups past 4 GiB without 4 GiB of RAM or disk: sparse shard files.

The manifest is written by hand; the shards are sparse files (``truncate``)
with real bytes written only where the weights read here live. Offsets and byte
counts pass 2**32, and one weight straddles two shards at that offset. Reading
it must touch only its own bytes: Python allocations stay in megabytes.
"""

from __future__ import annotations

import json
import os
import tracemalloc
import warnings

import numpy as np
import pytest

import tfjs_codec as tc

GIB = 1 << 30
#: First shard: 4 GiB + one page, so everything after it sits past 2**32.
FIRST = 4 * GIB + 4096


def sparse_model(folder, *, first: int = FIRST) -> dict[str, np.ndarray]:
    """Two groups: group 0 = [first shard | second shard], weights pad, span, tail;
    group 1 = one small shard. Returns the values written for span and tail."""
    folder.mkdir()
    pad_elems = (first - 8) // 4  # pad ends 8 bytes before the first shard's end
    span = np.array([1.5, -2.25, 3.0, 2.0**100], dtype="<f4")  # 8 bytes in each shard
    tail = np.array([2**31 - 1, -(2**31), 7], dtype="<i4")
    small = np.array([0.5, 0.25], dtype="<f4")
    span_bytes, tail_bytes = span.tobytes(), tail.tobytes()
    with open(folder / "big-1.bin", "wb") as f:
        f.truncate(first)
        f.seek(first - 8)
        f.write(span_bytes[:8])
    with open(folder / "big-2.bin", "wb") as f:
        f.write(span_bytes[8:] + tail_bytes)
    (folder / "small.bin").write_bytes(small.tobytes())
    doc = {
        "format": "graph-model",
        "weightsManifest": [
            {
                "paths": ["big-1.bin", "big-2.bin"],
                "weights": [
                    {"name": "pad", "shape": [pad_elems], "dtype": "float32"},
                    {"name": "span", "shape": [2, 2], "dtype": "float32"},
                    {"name": "tail", "shape": [3], "dtype": "int32"},
                ],
            },
            {"paths": ["small.bin"], "weights": [{"name": "small", "shape": [2], "dtype": "float32"}]},
        ],
    }
    (folder / "model.json").write_text(json.dumps(doc))
    return {"span": span.reshape(2, 2), "tail": tail, "small": small}


@pytest.fixture
def big(tmp_path):
    folder = tmp_path / "big"
    try:
        values = sparse_model(folder)
    except OSError as exc:  # a file system without sparse files or large files
        pytest.skip(f"cannot make a sparse 4 GiB file here: {exc}")
    if os.stat(folder / "big-1.bin").st_blocks * 512 > 64 << 20:
        pytest.skip("the file system does not keep sparse files sparse")
    return folder, values


def test_offsets_past_4_gib(big):
    folder, values = big
    tracemalloc.start()
    try:
        with tc.load(folder) as model:
            spec = model.specs["span"]
            assert spec.offset == FIRST - 8 and spec.offset > 2**32
            assert model.specs["tail"].offset == FIRST + 8
            assert model.buffers[0].total == FIRST + 8 + 12 > 2**32
            assert model.specs["pad"].nbytes == FIRST - 8 > 2**32
            assert model.shards_of("span") == ["big-1.bin", "big-2.bin"]
            for name, want in values.items():
                got = model[name]
                assert got.dtype == want.dtype and got.shape == want.shape
                assert got.tobytes() == want.tobytes(), name
            # the last element of the 4 GiB weight, through a view: no copy of it
            pad = model["pad"]
            assert pad.size == (FIRST - 8) // 4
            assert pad[-1] == 0.0 and pad[2**30 + 5] == 0.0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"{peak} bytes allocated: something copied the group"


def test_short_big_shard_is_refused_before_any_view(big):
    folder, _ = big
    os.truncate(folder / "big-2.bin", 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(tc.TfjsFormatError) as info:
            tc.load(folder)
    assert str(info.value) == (
        f"model.json: weight 'tail': shape: needs 12 bytes at offset {FIRST + 8} of group 0, "
        f"but its shards (big-1.bin, big-2.bin) hold {FIRST + 12} bytes in all"
    )


def test_shard_truncated_after_load_past_4_gib(big):
    folder, values = big
    with tc.load(folder) as model:
        assert model["small"].tobytes() == values["small"].tobytes()
        os.truncate(folder / "big-2.bin", 4)
        with pytest.raises(tc.TfjsFormatError) as info:
            model["tail"]
    assert str(info.value) == "big-2.bin: file changed size since the model was opened (20 -> 4 bytes)"
