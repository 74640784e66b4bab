"""save(like=...) keeps everything that did not change, byte for byte."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from conftest import DECODED, FIXTURES, dir_bytes, expected_weights, model_files, same_bits

import tfjs_codec as tc


@pytest.mark.parametrize("case", DECODED)
def test_noop_round_trip_is_byte_identical(case, tmp_path):
    source = FIXTURES / case
    with tc.load(source) as model:
        written = tc.save(tmp_path / "out", model.weights, like=model)
    assert written.name == model.path.name
    assert dir_bytes(tmp_path / "out") == model_files(source)


@pytest.mark.parametrize("case", ["tfjs_converter_dense_uint8", "ml5_bundle", "py_write_weights_all_dtypes"])
def test_saving_over_the_mapped_files_keeps_them(case, fixture_copy):
    folder = fixture_copy(case)
    before = model_files(folder)
    with tc.load(folder) as model:
        arrays = dict(model.weights)
        tc.save(folder, model.weights, like=model)
        # the arrays handed out before the save still hold the same values
        for name, want in expected_weights(case).items():
            assert same_bits(arrays[name], want)
    assert dir_bytes(folder) == before


def test_changed_weight_is_requantized_and_the_rest_passed_through(tmp_path):
    source = FIXTURES / "tfjs_converter_dense_uint8"
    with tc.load(source) as model:
        weights = dict(model.weights)
        weights["dense_1/kernel"] = weights["dense_1/kernel"] * 2
        tc.save(tmp_path, weights, like=model)
        old_entries = {e["name"]: e for g in model.json["weightsManifest"] for e in g["weights"]}
    with tc.load(tmp_path) as new:
        new_entries = {e["name"]: e for g in new.json["weightsManifest"] for e in g["weights"]}
        for name, entry in new_entries.items():
            if name == "dense_1/kernel":
                q = entry["quantization"]
                assert q["dtype"] == "uint8" and q["scale"] != old_entries[name]["quantization"]["scale"]
                assert q == tc.quantize(weights[name].astype(np.float32), "uint8")[1]
                np.testing.assert_allclose(new[name], weights[name], atol=q["scale"])
            else:
                assert entry == old_entries[name]
                assert bytes(new.raw(name)) == bytes(tc.load(source).raw(name))
        assert new.json["modelTopology"] == json.loads((source / "model.json").read_text())["modelTopology"]
        # same byte size: same paths and cut points
        assert [g.paths for g in new.groups] == [g.paths for g in tc.load(source).groups]


def test_a_group_whose_size_changed_is_recut_at_the_first_shard_size(tmp_path):
    source = FIXTURES / "tfjs_converter_dense_float32"
    with tc.load(source) as model:
        first = model.buffers[0].sizes[0]
        tc.save(tmp_path, model.weights, like=model, quantize="float16")
        total = sum(s.size * 2 for s in model.specs.values())
    with tc.load(tmp_path) as new:
        sizes = new.buffers[0].sizes
        assert first < total  # the re-cut must give several shards, or any size would pass
        assert sizes == [first] * (total // first) + ([total % first] if total % first else [])
        n = len(sizes)
        assert list(new.groups[0].paths) == [f"group1-shard{i}of{n}.bin" for i in range(1, n + 1)]
        assert all(s.quantization["dtype"] == "float16" for s in new.specs.values())


def test_explicit_shard_size_overrides_like(tmp_path):
    with tc.load(FIXTURES / "browser_dense") as model:
        tc.save(tmp_path, model.weights, like=model, shard_size=100)
        total = model.buffers[0].total
    with tc.load(tmp_path) as new:
        assert new.buffers[0].sizes == [100] * (total // 100) + ([total % 100] if total % 100 else [])


def test_single_shard_browser_file_stays_one_file_when_its_size_changes(tmp_path):
    source = FIXTURES / "ml5_bundle"
    with tc.load(source) as model:
        tc.save(tmp_path, model.weights, like=model, quantize="uint8")
    assert sorted(os.listdir(tmp_path)) == ["model.json", "model.weights.bin", "model_meta.json"]
    assert (tmp_path / "model_meta.json").read_bytes() == (source / "model_meta.json").read_bytes()
    with tc.load(tmp_path) as new:
        assert new.groups[0].paths == ("./model.weights.bin",)


def test_optimizer_weights_keep_their_group(tmp_path):
    with tc.load(FIXTURES / "browser_dense_optimizer") as model:
        weights = {k: v.copy() for k, v in model.weights.items()}
        weights["iter"] = np.array(99, dtype=np.int32)
        tc.save(tmp_path, weights, like=model)
    with tc.load(tmp_path) as new:
        assert new["iter"] == 99 and new.specs["iter"].group == "optimizer"
        assert [s.group for s in new.specs.values()] == [
            s.group for s in tc.load(FIXTURES / "browser_dense_optimizer").specs.values()
        ]


def test_like_rejects_missing_extra_reshaped_and_retyped_weights(tmp_path):
    with tc.load(FIXTURES / "browser_dense") as model:
        names = list(model.specs)
        weights = dict(model.weights)
        missing = {k: v for k, v in weights.items() if k != names[1]}
        with pytest.raises(tc.TfjsFormatError, match=rf"^weight '{names[1]}': missing from the weights to save"):
            tc.save(tmp_path, missing, like=model)
        with pytest.raises(tc.TfjsFormatError, match=r"^weight 'surprise': is not in the model given as like="):
            tc.save(tmp_path, {**weights, "surprise": np.zeros(1, np.float32)}, like=model)
        shape = model.specs[names[0]].shape
        with pytest.raises(tc.TfjsFormatError) as err:
            tc.save(tmp_path, {**weights, names[0]: np.zeros(shape[::-1] + (1,), np.float32)}, like=model)
        assert str(err.value) == f"weight '{names[0]}': shape: shape {shape[::-1] + (1,)} does not match the model's {shape}"
        with pytest.raises(tc.TfjsFormatError) as err:
            tc.save(tmp_path, {**weights, names[0]: np.zeros(shape, np.float64)}, like=model)
        assert (
            str(err.value)
            == f"weight '{names[0]}': dtype: dtype float64 does not match the model's float32; convert it explicitly"
        )
    assert not any(tmp_path.iterdir())


def test_lossless_widening_is_accepted_and_lossy_casts_refused(tmp_path):
    tc.save(tmp_path, {"h": np.ones(3, np.float16), "b": np.arange(3, dtype=np.int8)})
    with tc.load(tmp_path) as m:
        assert m["h"].dtype == np.float32 and m["b"].dtype == np.int32
    with pytest.raises(tc.TfjsFormatError) as err:
        tc.save(tmp_path, {"x": np.ones(3, np.float64)})
    assert str(err.value) == (
        "weight 'x': dtype: dtype float64 has no lossless TensorFlow.js dtype; "
        "convert it explicitly (for example .astype('float32') or .astype('int32'))"
    )


def test_failed_save_leaves_previous_model_and_no_temporary_files(fixture_copy):
    folder = fixture_copy("tfjs_converter_dense_float32")
    before = dir_bytes(folder)

    class Boom(Exception):
        pass

    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == 3:
            raise Boom

    with tc.load(folder) as model:
        weights = {k: v * 2 for k, v in model.weights.items()}
        with pytest.raises(Boom):
            tc.save(folder, weights, like=model, progress=progress)
    assert dir_bytes(folder) == before


def test_changed_shards_get_fresh_names_and_old_ones_are_removed(fixture_copy):
    folder = fixture_copy("tfjs_converter_dense_float32")
    with tc.load(folder) as model:
        old_paths = list(model.groups[0].paths)
        weights = dict(model.weights)
        weights["dense_2/bias"] = weights["dense_2/bias"] + 1  # last shard changes
        tc.save(folder, weights, like=model)
    with tc.load(folder) as new:
        paths = list(new.groups[0].paths)
        assert paths[:-1] == old_paths[:-1]
        assert paths[-1] != old_paths[-1] and paths[-1].startswith(old_paths[-1][: -len(".bin")] + "-")
        assert same_bits(new["dense_2/bias"], weights["dense_2/bias"])
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".bin") == sorted(paths)


def test_save_without_like_writes_a_plain_manifest(tmp_path):
    weights = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.array(["x", "yz"], dtype=object)}
    path = tc.save(tmp_path / "m" / "model.json", weights)
    doc = json.loads(path.read_text())
    assert doc["weightsManifest"] == [
        {
            "paths": ["group1-shard1of1.bin"],
            "weights": [
                {"name": "a", "shape": [2, 3], "dtype": "float32"},
                {"name": "s", "shape": [2], "dtype": "string"},
            ],
        }
    ]
    assert doc["convertedBy"].startswith("tfjs_codec ")
    with tc.load(path) as m:
        assert list(m["s"]) == [b"x", b"yz"]


@pytest.mark.parametrize("shard_size", [0, -4])
def test_shard_size_must_be_positive_with_or_without_like(tmp_path, shard_size):
    message = f"^shard_size must be a positive number of bytes, got {shard_size}$"
    with pytest.raises(ValueError, match=message):
        tc.encode_weights({"w": np.ones(2, np.float32)}, shard_size=shard_size)
    with tc.load(FIXTURES / "browser_dense") as model:
        with pytest.raises(ValueError, match=message):
            tc.save(tmp_path / "out", model.weights, like=model, shard_size=shard_size)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_save_works_in_a_forked_child_after_the_parent_saved(tmp_path):
    weights = {"w": np.arange(10, dtype=np.float32)}
    tc.save(tmp_path / "parent", weights, shard_size=8)  # starts the parent's fsync thread
    pid = os.fork()
    if pid == 0:  # the child: a save must not wait on the parent's (absent) thread
        try:
            tc.save(tmp_path / "child", weights, shard_size=8)
            os._exit(0)
        except BaseException:
            os._exit(1)
    deadline = 30
    start = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("save in a forked child hung")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
    with tc.load(tmp_path / "child") as child:
        assert same_bits(child["w"], weights["w"])
