"""The contiguous mapping of a group's shards (tfjs_codec/shards.py).

When every shard but the last is a multiple of the page size, the shards are
mapped back to back into one reserved address range, so weights straddling a
shard boundary are views too. These tests check that they are, that they hold
the same values as the per-shard path, that writes stay private, and that odd
shard sizes fall back to copying.
"""

from __future__ import annotations

import gc
import mmap
import os
import weakref

import numpy as np
import pytest
from conftest import dir_bytes, same_bits

import tfjs_codec as tc
from tfjs_codec import shards

PAGE = mmap.PAGESIZE

pytestmark = pytest.mark.skipif(shards._LIBC is None, reason="contiguous mapping needs POSIX mmap through ctypes")


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    return {
        # 3 * PAGE + 12 bytes: straddles the first boundary of 2-page shards
        "a": rng.standard_normal(3 * PAGE // 4 + 3).astype(np.float32),
        "b": rng.integers(-(2**31), 2**31 - 1, size=(7, 5), dtype=np.int32),
        "c": rng.standard_normal((PAGE // 8, 5)).astype(np.float32),
        "d": (rng.standard_normal(PAGE // 2) + 1j * rng.standard_normal(PAGE // 2)).astype(np.complex64),
        "e": rng.standard_normal(11).astype(np.float32),
    }


@pytest.fixture
def model_dir(tmp_path):
    tc.save(tmp_path, _weights(), shard_size=2 * PAGE)
    return tmp_path


def _region_bytes(model: tc.Model) -> np.ndarray:
    buf = model.buffers[0]
    return np.frombuffer(buf.view(0, buf.total), dtype=np.uint8)


def test_straddling_weights_are_views_of_one_mapping(model_dir):
    with tc.load(model_dir) as model:
        buf = model.buffers[0]
        assert buf.contiguous
        assert len(buf.sizes) > 3
        straddling = [n for n in model if len(model.shards_of(n)) > 1]
        assert set(straddling) >= {"a", "c", "d"}
        region = _region_bytes(model)
        for name in model:
            array = model[name]
            assert not array.flags.owndata
            assert array.flags.writeable
            assert np.shares_memory(array, region), name
            spec = model.specs[name]
            start = region.__array_interface__["data"][0] + spec.offset
            assert array.__array_interface__["data"][0] == start, name
            raw = np.frombuffer(model.raw(name), dtype=np.uint8)
            assert np.shares_memory(raw, array)


def test_values_equal_the_per_shard_path_and_the_saved_arrays(model_dir, monkeypatch):
    expected = _weights()
    with tc.load(model_dir) as model:
        contiguous = {n: model[n].copy() for n in model}
    monkeypatch.setattr(shards, "MAP_CONTIGUOUS", False)
    with tc.load(model_dir) as model:
        assert not model.buffers[0].contiguous
        per_shard = {n: model[n].copy() for n in model}
    with tc.load(model_dir, mmap=False) as model:
        assert not model.buffers[0].contiguous
        in_memory = {n: model[n].copy() for n in model}
    assert list(contiguous) == list(expected)
    for name, value in expected.items():
        assert same_bits(contiguous[name], value), name
        assert same_bits(per_shard[name], value), name
        assert same_bits(in_memory[name], value), name


def test_writes_stay_in_memory_and_never_reach_the_files(model_dir):
    before = dir_bytes(model_dir)
    with tc.load(model_dir) as model:
        a = model["a"]
        a[:] = 7.0  # crosses the boundary between shards 1 and 2
        assert np.all(model["a"] == 7.0)
        assert model.raw("a").tobytes() == np.full(a.shape, 7.0, "<f4").tobytes()
    assert dir_bytes(model_dir) == before
    with tc.load(model_dir) as model:
        assert same_bits(model["a"], _weights()["a"])


def test_odd_shard_size_falls_back_to_copying_straddlers(tmp_path):
    tc.save(tmp_path, _weights(), shard_size=1000)
    with tc.load(tmp_path) as model:
        buf = model.buffers[0]
        assert not buf.contiguous
        maps = [np.frombuffer(buf._shard(i), dtype=np.uint8) for i in range(len(buf.sizes))]
        straddling = [n for n in model if len(model.shards_of(n)) > 1]
        assert set(straddling) >= {"a", "c", "d"}
        for name in model:
            array = model[name]
            assert same_bits(array, _weights()[name]), name
            shared = [i for i, m in enumerate(maps) if np.shares_memory(array, m)]
            if name in straddling:
                assert shared == [], name
            else:
                assert len(shared) == 1, name


def test_only_an_odd_last_shard_keeps_the_mapping_contiguous(tmp_path):
    weights = {"w": np.arange(2 * PAGE + 5, dtype=np.float32)}  # 8 * PAGE + 20 bytes
    tc.save(tmp_path, weights, shard_size=3 * PAGE)
    with tc.load(tmp_path) as model:
        buf = model.buffers[0]
        assert buf.sizes == [3 * PAGE, 3 * PAGE, 2 * PAGE + 20]
        assert buf.contiguous
        w = model["w"]
        assert not w.flags.owndata
        assert same_bits(w, weights["w"])


def test_reading_one_weight_maps_only_its_shards(model_dir):
    with tc.load(model_dir) as model:
        buf = model.buffers[0]
        assert buf._mapped == set()
        model["e"]
        span = set(buf.shard_span(model.specs["e"].offset, model.specs["e"].nbytes))
        assert buf._mapped == span
        assert len(span) < len(buf.sizes)


def test_arrays_stay_valid_after_close_and_the_range_is_freed_with_the_last(model_dir):
    expected = _weights()
    model = tc.load(model_dir)
    a = model["a"]
    reservation = weakref.ref(model.buffers[0]._reservation)
    model.close()
    gc.collect()
    assert reservation() is not None
    assert same_bits(a, expected["a"])
    del a
    gc.collect()
    assert reservation() is None
    # the model maps its files again on the next access
    assert same_bits(model["c"], expected["c"])
    model.close()


def test_a_shard_truncated_after_open_is_refused_before_any_view(model_dir):
    with tc.load(model_dir) as model:
        name = model.groups[0].paths[1]
        size = model.buffers[0].sizes[1]
        os.truncate(model_dir / name, size - 4)
        with pytest.raises(tc.TfjsFormatError) as info:
            model["a"]
        assert str(info.value) == f"{name}: file changed size since the model was opened ({size} -> {size - 4} bytes)"
        assert same_bits(model["e"], _weights()["e"])  # the last shard is intact


def test_a_shard_removed_after_open_is_refused(model_dir):
    with tc.load(model_dir) as model:
        name = model.groups[0].paths[-1]
        os.unlink(model_dir / name)
        with pytest.raises(tc.TfjsFormatError) as info:
            model["e"]
        assert str(info.value) == f"{name}: missing shard file"
