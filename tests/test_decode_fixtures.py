"""Every fixture decodes to exactly the values tfjs-core 4.22 decoded from it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DECODED, FIXTURES, expected_weights, same_bits

import tfjs_codec as tc


def test_there_are_fixtures_from_both_reference_implementations():
    assert any(c.startswith("browser_") for c in DECODED)
    assert any(c.startswith("tfjs_converter_") for c in DECODED)
    assert any(c.startswith("py_write_weights") for c in DECODED)
    assert len(DECODED) >= 30


@pytest.mark.parametrize("case", DECODED)
def test_fixture_decodes_bit_exact(case):
    expected = expected_weights(case)
    with tc.load(FIXTURES / case) as model:
        assert list(model.weights) == list(expected)
        for name, want in expected.items():
            got = model[name]
            assert got.dtype.kind == want.dtype.kind and got.dtype.itemsize == want.dtype.itemsize, name
            assert same_bits(got, want), name


@pytest.mark.parametrize("case", DECODED)
def test_decode_weights_in_memory_matches_files(case):
    with tc.load(FIXTURES / case) as model:
        manifest = model.json if isinstance(model.json, list) else model.json["weightsManifest"]
        buffers = [[(model.directory / p).read_bytes() for p in g.paths] for g in model.groups]
    decoded = tc.decode_weights(manifest, buffers)
    for name, want in expected_weights(case).items():
        assert same_bits(decoded[name], want), name


def test_unquantized_weights_are_writable_zero_copy_views():
    folder = FIXTURES / "tfjs_converter_dense_float32"
    with tc.load(folder) as model:
        straddling = 0
        for name in model.specs:
            array = model[name]
            assert array.flags.writeable
            shares = np.shares_memory(array, np.frombuffer(model.raw(name), dtype=np.uint8))
            # inside one shard: a view of the mapping; across shards: its own copy
            assert shares == (len(model.shards_of(name)) == 1), name
            straddling += len(model.shards_of(name)) > 1
        assert straddling > 0
        name = next(iter(model.specs))
        shard = folder / model.shards_of(name)[0]
        before = shard.read_bytes()
        model[name][...] = 0  # copy-on-write: the file is untouched
        assert shard.read_bytes() == before
        assert not model[name].any()


def test_specs_give_group_offsets_and_lengths():
    with tc.load(FIXTURES / "browser_dense_optimizer") as model:
        specs = list(model.specs.values())
        assert specs[0].offset == 0
        for a, b in zip(specs, specs[1:], strict=False):
            assert b.offset == a.offset + a.nbytes
        groups = {s.group for s in specs}
        assert "optimizer" in groups
        iter_spec = model.specs["iter"]
        assert iter_spec.shape == () and iter_spec.dtype == "int32" and iter_spec.group == "optimizer"
        assert model.json["format"] == "layers-model"


def test_string_weights_are_object_arrays_of_bytes():
    with tc.load(FIXTURES / "tfjs_encode_all_dtypes") as model:
        strings = [n for n, s in model.specs.items() if s.dtype == "string"]
        assert strings
        for n in strings:
            arr = model[n]
            assert arr.dtype == object
            assert all(isinstance(x, bytes) for x in arr.reshape(-1))


def test_graph_model_keeps_its_json():
    with tc.load(FIXTURES / "tfjs_converter_graph_model") as model:
        assert model.format == "graph-model"
        assert "node" in json.dumps(model.json["modelTopology"])[:100000]


def test_ml5_bundle_sidecar_is_read():
    with tc.load(FIXTURES / "ml5_bundle") as model:
        assert "model_meta.json" in model.sidecars
        assert json.loads(model.sidecars["model_meta.json"])["isNormalized"] is True


def test_bare_manifest_directory_and_file():
    folder = FIXTURES / "py_write_weights_all_dtypes"
    with tc.load(folder) as a, tc.load(folder / "weights_manifest.json") as b:
        assert a.is_bare_manifest and list(a.specs) == list(b.specs)
        assert len(a.groups) == 2
