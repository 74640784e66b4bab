"""Bad files get a TfjsFormatError naming file, weight and field; never a crash."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import tfjs_codec as tc
from tfjs_codec.verify import verify


def write_model(folder, weights, shards, *, extra=None):
    """A model.json with one group; ``shards`` maps file name -> bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"format": "layers-model", "weightsManifest": [{"paths": list(shards), "weights": weights}]}
    doc.update(extra or {})
    (folder / "model.json").write_text(json.dumps(doc))
    for name, data in shards.items():
        if ".." not in name and not name.startswith(("/", "http", "C:")):
            (folder / name).write_bytes(data)
    return folder


F32 = {"name": "w", "shape": [2], "dtype": "float32"}


def error_of(path):
    with pytest.raises(tc.TfjsFormatError) as err:
        with tc.load(path) as m:
            for n in m.specs:
                m[n]
    return str(err.value)


def test_missing_shard(tmp_path):
    folder = write_model(tmp_path, [F32], {"a.bin": b""})
    (folder / "a.bin").unlink()
    assert error_of(folder) == "a.bin: missing shard file"


def test_short_shard(tmp_path):
    folder = write_model(tmp_path, [F32, {"name": "v", "shape": [3], "dtype": "int32"}], {"a.bin": bytes(8), "b.bin": bytes(4)})
    assert (
        error_of(folder)
        == (
            "model.json: weight 'v': shape: needs 12 bytes at offset 8 of group 0, but its shards (a.bin, b.bin) hold "
            "12 bytes in all"
        )
    )


def test_trailing_bytes_warn_on_load_and_fail_verify(tmp_path):
    folder = write_model(tmp_path, [F32], {"a.bin": bytes(10)})
    with pytest.warns(tc.TfjsFormatWarning, match=r"^model.json: group 0 has 2 trailing bytes after its last weight$"):
        tc.load(folder).close()
    report = verify(folder)
    assert not report.ok and report.problems == ["model.json: group 0 has 2 trailing bytes after its last weight"]


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            {"name": "w", "shape": [2], "dtype": "float64"},
            "model.json: weight 'w': dtype: unknown dtype 'float64'; expected one of float32, int32, bool, complex64, string",
        ),
        ({"name": "w", "shape": [-2], "dtype": "float32"}, "model.json: weight 'w': shape: dimension -2 is negative"),
        ({"name": "w", "shape": [2.0], "dtype": "float32"}, "model.json: weight 'w': shape: dimension 2.0 is not an integer"),
        ({"name": "w", "shape": "2", "dtype": "float32"}, "model.json: weight 'w': shape: must be a list of integers, got '2'"),
        (
            {"name": "w", "shape": [1 << 20, 1 << 20], "dtype": "float32"},
            "model.json: weight 'w': shape: needs 4398046511104 bytes at offset 0 of group 0, but its shards (a.bin) "
            "hold 8 bytes in all",
        ),
        (
            {"name": "w", "shape": [2], "dtype": "float32", "quantization": {"dtype": "int4"}},
            "model.json: weight 'w': quantization.dtype: unknown quantization dtype 'int4'; expected one of uint8, "
            "uint16, float16",
        ),
        (
            {"name": "w", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint8", "min": 0}},
            "model.json: weight 'w': quantization.scale: uint8 quantization needs both 'min' and 'scale'; 'scale' is missing",
        ),
        (
            {"name": "w", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 1}},
            "model.json: weight 'w': quantization.min: uint8 quantization needs both 'min' and 'scale'; 'min' is missing",
        ),
        (
            {"name": "w", "shape": [2], "dtype": "int32", "quantization": {"dtype": "float16"}},
            "model.json: weight 'w': dtype: float16 quantization only supports weights of type float32, not int32",
        ),
        (
            {"name": "w", "shape": [2], "dtype": "bool", "quantization": {"dtype": "uint8", "scale": 1, "min": 0}},
            "model.json: weight 'w': dtype: uint8 quantization supports weights of type float32 or int32, not bool",
        ),
        (
            {"name": 7, "shape": [2], "dtype": "float32"},
            "model.json: weightsManifest[0].weights[0].name: must be a string, got 7",
        ),
    ],
)
def test_bad_weight_entries(tmp_path, entry, message):
    assert error_of(write_model(tmp_path, [entry], {"a.bin": bytes(8)})) == message


def test_string_length_past_the_end(tmp_path):
    data = (3).to_bytes(4, "little") + b"abc" + (100).to_bytes(4, "little") + b"xy"
    folder = write_model(tmp_path, [{"name": "s", "shape": [2], "dtype": "string"}], {"a.bin": data})
    assert (
        error_of(folder)
        == "model.json: weight 's': data: string 1 of 100 bytes at offset 11 runs past the end of the data (13 bytes in a.bin)"
    )


def test_duplicate_names_across_groups(tmp_path):
    (tmp_path / "a.bin").write_bytes(bytes(8))
    doc = {"weightsManifest": [{"paths": ["a.bin"], "weights": [F32]}, {"paths": ["a.bin"], "weights": [F32]}]}
    (tmp_path / "model.json").write_text(json.dumps(doc))
    assert error_of(tmp_path) == "model.json: weight 'w': name: duplicate name (first in weightsManifest[0])"


@pytest.mark.parametrize(
    "text, message",
    [
        (b"{\"weightsManifest\": [", "model.json: malformed JSON: Expecting value at line 1 column 22"),
        (b"\xff\xfe{}", "model.json: not UTF-8 text (byte 0)"),
        (b"{}", "model.json: weightsManifest: no 'weightsManifest' in the model"),
        (b"42", "model.json: expected a JSON object or a list of weight groups, got int"),
    ],
)
def test_malformed_json(tmp_path, text, message):
    (tmp_path / "model.json").write_bytes(text)
    assert error_of(tmp_path) == message


@pytest.mark.parametrize(
    "path, message",
    [
        ("../outside.bin", "path '../outside.bin' leaves the model's directory"),
        ("a/../../outside.bin", "path 'a/../../outside.bin' leaves the model's directory"),
        ("/etc/passwd", "absolute path '/etc/passwd' is not allowed; shard paths are relative to the model"),
        ("C:\\x.bin", "absolute path 'C:\\\\x.bin' is not allowed; shard paths are relative to the model"),
        (
            "https://example.com/x.bin",
            "URL 'https://example.com/x.bin' is not allowed in a local model; shard paths are relative to the model",
        ),
    ],
)
def test_paths_that_leave_the_directory_are_never_opened(tmp_path, path, message):
    folder = tmp_path / "model"
    write_model(folder, [F32], {path: b""})
    (tmp_path / "outside.bin").write_bytes(bytes(8))
    assert error_of(folder) == f"model.json: weightsManifest[0].paths[0]: {message}"


def test_symlink_out_of_the_directory_is_refused(tmp_path):
    folder = tmp_path / "model"
    write_model(folder, [F32], {"a.bin": b""})
    (folder / "a.bin").unlink()
    (tmp_path / "secret.bin").write_bytes(bytes(8))
    os.symlink(tmp_path / "secret.bin", folder / "a.bin")
    assert error_of(folder) == (
        "model.json: weightsManifest[0].paths[0]: path 'a.bin' resolves outside the model's directory (through a symbolic link)"
    )


def test_every_path_spelling_the_writers_use(tmp_path):
    for i, path in enumerate(["./model.weights.bin", "weights.bin", "group1-shard1of1.bin"]):
        folder = write_model(tmp_path / str(i), [F32], {path: np.array([1, 2], "<f4").tobytes()})
        with tc.load(folder) as m:
            assert m["w"].tolist() == [1.0, 2.0]


def test_decode_weights_checks_buffers_too():
    with pytest.raises(tc.TfjsFormatError, match=r"^manifest: 1 groups in the manifest but 2 buffers given$"):
        tc.decode_weights([{"paths": [], "weights": []}], [b"", b""])
    with pytest.raises(tc.TfjsFormatError) as err:
        tc.decode_weights([{"paths": ["x"], "weights": [F32]}], [[bytes(4)]])
    assert (
        str(err.value)
        == "manifest: weight 'w': shape: needs 8 bytes at offset 0 of group 0, but its shards (x) hold 4 bytes in all"
    )


def test_error_is_a_value_error_with_location_attributes(tmp_path):
    folder = write_model(tmp_path, [{"name": "w", "shape": [-1], "dtype": "float32"}], {"a.bin": b""})
    with pytest.raises(ValueError) as err:
        tc.load(folder)
    assert isinstance(err.value, tc.TfjsFormatError)
    assert (err.value.file, err.value.weight, err.value.field, err.value.reason) == (
        "model.json",
        "w",
        "shape",
        "dimension -1 is negative",
    )


def test_short_group_of_many_shards_names_the_first_and_last(tmp_path):
    shards = {f"s{i}.bin": bytes(4) for i in range(1, 6)}
    folder = write_model(tmp_path, [{"name": "w", "shape": [6], "dtype": "float32"}], shards)
    assert error_of(folder) == (
        "model.json: weight 'w': shape: needs 24 bytes at offset 0 of group 0, but its shards (s1.bin .. s5.bin, 5 "
        "files) hold 20 bytes in all"
    )
