"""The public API's contract: Model is a read-only Mapping, arguments are type-checked, a directory's
model JSON is found whatever its name, and each I/O rule has one implementation (tested here)."""

from __future__ import annotations

import collections.abc
import contextlib
import io
import json
import os
import shutil
import zipfile
import zlib

import numpy as np
import pytest
from conftest import FIXTURES, expected_weights, same_bits
from hypothesis import given, settings
from hypothesis import strategies as st

import tfjs_codec as tc
from tfjs_codec.atomic import TEMP_PREFIX, atomic_file, write_atomic
from tfjs_codec.gzipped import gunzip
from tfjs_codec.manifest import group_nbytes, stored_nbytes
from tfjs_codec.progress import ProgressLine
from tfjs_codec.shards import MemoryGroup
from tfjs_codec.sources import option_problem
from tfjs_codec.sources.http_options import HttpOptions
from tfjs_codec.verify import verify

# --- Model is a read-only Mapping ------------------------------------------------------------


def test_model_is_a_read_only_mapping():
    want = expected_weights("browser_dense")
    with tc.load(FIXTURES / "browser_dense") as model:
        assert isinstance(model, collections.abc.Mapping)
        assert not isinstance(model, collections.abc.MutableMapping)
        assert list(model.keys()) == list(want) == list(model)
        assert len(model) == len(want)
        assert all(same_bits(v, want[k]) for k, v in model.items())
        assert all(same_bits(a, b) for a, b in zip(model.values(), want.values(), strict=True))
        as_dict = dict(model)
        assert list(as_dict) == list(want)
        assert model.get("missing") is None and "missing" not in model
        assert "bd_dense_1/kernel" in model
        with pytest.raises(KeyError):
            model["missing"]
        with pytest.raises(TypeError):
            model["bd_dense_1/kernel"] = 0  # type: ignore[index]
        assert model.weights is model
        assert {**model.weights}.keys() == as_dict.keys()
        # equal only to itself (comparing arrays would be ambiguous), and hashable
        with tc.load(FIXTURES / "browser_dense") as twin:
            assert model == model and model != twin
            assert len({model, twin}) == 2


# --- argument types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: tc.save({"a": np.zeros(1)}, "out"), "save(): out must be a path (str or os.PathLike), got dict"),
        (
            lambda: tc.save("out", [np.zeros(1)]),
            "save(): weights must be a mapping of name -> array (a dict, or a Model), got list",
        ),
        (lambda: tc.save("out", {}, like=3), "save(): like must be a Model, a path or None, got int"),
        (
            lambda: tc.save("out", {}, quantize=8),
            "save(): quantize must be None, a dtype name or a {dtype: patterns} mapping, got int",
        ),
        (lambda: tc.save("out", {}, shard_size=True), "save(): shard_size must be an int or None, got bool"),
        (lambda: tc.save("out", {}, shard_size=4.0), "save(): shard_size must be an int or None, got float"),
        (lambda: tc.save("out", {}, progress="yes"), "save(): progress must be callable, got str"),
        (
            lambda: tc.encode_weights([("a", np.zeros(1))]),
            "encode_weights(): weights must be a mapping of name -> array (a dict, or a Model), got list",
        ),
        (lambda: tc.load(42), "load(): path must be a path (str or os.PathLike), got int"),
        (lambda: tc.load(FIXTURES / "ml5_bundle", member=1), "load(): member must be a str or None, got int"),
        (lambda: tc.decode_weights([], b""), "decode_weights(): buffers must be a list of buffers, one per group, got bytes"),
        (lambda: verify(FIXTURES / "ml5_bundle", allow_nonfinite="no"), "verify(): allow_nonfinite must be a bool, got str"),
        (lambda: tc.load("http://127.0.0.1:9/model.json", timeout="3"), "timeout must be int or float, got str"),
        (lambda: tc.load("http://127.0.0.1:9/model.json", offline=1), "offline must be bool, got int"),
        (lambda: tc.load("http://127.0.0.1:9/model.json", http={"timeout": 3}), "load(): http must be an HttpOptions, got dict"),
    ],
)
def test_public_functions_check_argument_types(tmp_path, call, message):
    os.chdir(tmp_path)  # nothing may be written, but if it were, it would land here
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value) == message
    assert list(tmp_path.iterdir()) == []


def test_url_options_are_keywords_or_one_http_object():
    base = HttpOptions(timeout=5.0, retries=0)
    assert base.updated({"retries": 3}) == HttpOptions(timeout=5.0, retries=3)
    with pytest.raises(TypeError, match=r"^unknown URL option\(s\): colour$"):
        base.updated({"colour": 1})


@pytest.mark.parametrize(
    "path, options, spelled, message",
    [
        ("m/model.json", ["member"], "=", "member= applies to archives, not to m/model.json"),
        ("http://h/model.json", ["member"], "--", "--member applies to archives, not to http://h/model.json"),
        ("m.zip", ["timeout"], "=", "timeout= applies to URLs, not to m.zip"),
        ("m/model.json", ["offline", "cache_dir"], "--", "--cache-dir, --offline apply to URLs, not to m/model.json"),
        ("m.zip", ["member"], "=", None),
        ("https://h/model.json", ["timeout", "http"], "=", None),
    ],
)
def test_one_option_rule_for_load_and_the_command_line(path, options, spelled, message):
    spell = (lambda n: f"{n}=") if spelled == "=" else (lambda n: "--" + n.replace("_", "-"))
    assert option_problem(path, options, spell) == message


# --- a directory's model JSON, whatever its name ----------------------------


def copy_model(src: str, dst, json_name: str):
    shutil.copytree(FIXTURES / src, dst, ignore=shutil.ignore_patterns("expected.*", "predict.json"))
    if json_name != "model.json":
        (dst / "model.json").rename(dst / json_name)
    return dst


def test_a_directory_whose_model_json_has_another_name(tmp_path):
    folder = copy_model("browser_dense", tmp_path / "m", "ux.json")
    (folder / "package.json").write_text('{"name": "not a model"}')
    (folder / "broken.json").write_text("{")
    (folder / "model_meta.json").write_text('{"weightsManifest": "a sidecar is never the model"}')
    with tc.load(folder) as model:
        assert model.path.name == "ux.json"
        assert all(same_bits(model[k], v) for k, v in expected_weights("browser_dense").items())
    assert verify(folder).ok


def test_a_bare_manifest_is_found_in_its_directory():
    with tc.load(FIXTURES / "faceapi_tiny_face_detector") as model:
        assert model.path.name == "tiny_face_detector_model-weights_manifest.json"


def test_several_candidate_jsons_are_an_error_listing_them(tmp_path):
    folder = copy_model("browser_dense", tmp_path / "m", "a.json")
    shutil.copy(folder / "a.json", folder / "b.json")
    (folder / "c-weights_manifest.json").write_text("[]")
    with pytest.raises(tc.TfjsFormatError) as info:
        tc.load(folder)
    assert str(info.value) == f"{folder}: several models in the directory (a.json, b.json, c-weights_manifest.json); name one"
    with tc.load(folder / "b.json") as model:  # naming one works
        assert len(model) == 4
    (folder / "model.json").write_bytes((folder / "a.json").read_bytes())
    with tc.load(folder) as model:  # model.json first, as before
        assert model.path.name == "model.json"


def test_no_candidate_says_what_was_looked_for(tmp_path):
    (tmp_path / "metadata.json").write_text("{}")
    with pytest.raises(tc.TfjsFormatError) as info:
        tc.load(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}: no model.json, *weights_manifest.json or other JSON file with a weightsManifest in the directory"
    )


def test_an_archive_whose_model_json_has_another_name(tmp_path):
    folder = FIXTURES / "browser_dense"
    archive = tmp_path / "ux.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(folder / "model.json", "ux.json")
        z.write(folder / "model.weights.bin", "model.weights.bin")
        z.writestr("metadata.json", '{"weightsManifest": []}')
    with tc.load(archive) as model:
        assert model.source == f"{archive}!ux.json"
        assert len(model) == 4


# --- one rule each ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 9), min_size=1, max_size=6),
    data=st.data(),
)
def test_byte_ranges_over_shards(sizes, data):
    blob = bytes(range(sum(sizes)))
    parts, pos = [], 0
    for n in sizes:
        parts.append(blob[pos : pos + n])
        pos += n
    group = MemoryGroup(parts)
    offset = data.draw(st.integers(0, len(blob)))
    nbytes = data.draw(st.integers(0, len(blob) - offset))
    assert bytes(group.view(offset, nbytes)) == blob[offset : offset + nbytes]
    pieces = list(group.pieces(offset, nbytes))
    assert b"".join(parts[i][lo:hi] for i, lo, hi in pieces) == blob[offset : offset + nbytes]
    assert [i for i, _, _ in pieces] == list(group.shard_span(offset, nbytes))
    with pytest.raises(tc.TfjsFormatError) as info:
        group.view(len(blob), 1)
    assert str(info.value) == f"range [{len(blob)}, {len(blob) + 1}) is outside the group's {len(blob)} bytes"


def test_gunzip_is_bounded_and_says_why():
    data = os.urandom(3000)
    packed = zlib.compress(data, wbits=31)
    assert gunzip(packed, limit=3000, file="x") == data
    assert gunzip(packed + packed, limit=6000, file="x") == data + data  # several members
    with pytest.raises(tc.TfjsFormatError, match=r"^x: too big$"):
        gunzip(packed, limit=2999, file="x", too_big="too big")
    with pytest.raises(tc.TfjsFormatError, match=r"^x: gzip data end early \(truncated file\?\)$"):
        gunzip(packed[:-20], limit=3000, file="x")
    with pytest.raises(EOFError):  # a caller that can fetch again chooses its own error
        gunzip(packed[:-20], limit=3000, file="x", truncated=EOFError("again"))
    with pytest.raises(tc.TfjsFormatError, match=r"^x: gzip data expand to 3000 bytes, but the gzip trailer says 7$"):
        gunzip(packed, limit=3000, file="x", expect=7)


def test_atomic_write_replaces_or_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    write_atomic(target, b"one")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert len(synced) == 2  # the file, then its directory
    with pytest.raises(RuntimeError), atomic_file(target) as f:
        f.write(b"half")
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)] != []
        raise RuntimeError
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_the_progress_line(monkeypatch):
    from tfjs_codec import progress

    clock = iter([10.0, 10.05, 10.2, 10.25, 10.3])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    line = ProgressLine("writing x", stream=out, enabled=True)
    line(1 << 20, 3 << 20)  # shown
    line(2 << 20, 3 << 20)  # 0.05 s later: skipped
    line(512, 2048)  # shown
    line(2048, 2048)  # done: always shown, with a newline
    line(100, 100)
    assert out.getvalue() == (
        "\rwriting x: 1.0 / 3.0 MiB ( 33.3%)\rwriting x: 0.5 / 2.0 KiB ( 25.0%)"
        "\rwriting x: 2.0 / 2.0 KiB (100.0%)\n\rwriting x: 100 / 100 B (100.0%)\n"
    )
    quiet = io.StringIO()
    ProgressLine("x", 10, stream=quiet, enabled=True, min_total=11)(10)
    ProgressLine("x", 10, stream=quiet)(10)  # not a terminal: off
    assert quiet.getvalue() == ""


def test_stored_sizes():
    def entry(dtype, shape, q=None):
        return {"name": "w", "dtype": dtype, "shape": shape, **({"quantization": {"dtype": q}} if q else {})}

    assert stored_nbytes(entry("float32", [3, 4])) == 48
    assert stored_nbytes(entry("complex64", [2])) == 16
    assert stored_nbytes(entry("bool", [5])) == 5
    assert stored_nbytes(entry("float32", [3, 4], "uint8")) == 12
    assert stored_nbytes(entry("float32", [3], "float16")) == 6
    assert stored_nbytes(entry("string", [2])) is None
    assert stored_nbytes(entry("string", [0, 2])) == 0
    assert group_nbytes([entry("int32", [2]), entry("float32", [1], "uint16")]) == 10
    assert group_nbytes([entry("int32", [2]), entry("string", [1])]) is None
    # what the manifest alone says is what the layout finds in the shards
    for case in ("py_write_weights_all_dtypes", "tfjs_converter_dense_mixed"):
        with tc.load(FIXTURES / case) as model:
            for spec in model.specs.values():
                assert stored_nbytes(spec.entry) in (spec.nbytes, None)


def test_manifest_of_a_saved_model_is_json(tmp_path):
    path = tc.save(tmp_path / "m", {"a": np.arange(3, dtype="<f4")})
    doc = json.loads(path.read_text())
    assert doc["convertedBy"] == f"tfjs_codec {tc.__version__}"


def test_the_version_lives_in_one_place():
    import tomllib
    from conftest import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tfjs_codec._version.__version__"}
    from tfjs_codec._version import __version__

    assert tc.__version__ == __version__
    from tfjs_codec.cli import build_parser

    with pytest.raises(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:
        build_parser().parse_args(["--version"])
    assert out.getvalue() == f"tfjs-codec {__version__}\n"
