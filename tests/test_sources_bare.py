"""Bare weights manifests (face-api.js layout) through load, save and the CLI."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from conftest import FIXTURES, dir_bytes, expected_weights, same_bits

import tfjs_codec as tc
from tfjs_codec.cli import main as cli_main

CASE = "faceapi_tiny_face_detector"
MANIFEST = "tiny_face_detector_model-weights_manifest.json"


def model_files() -> dict[str, bytes]:
    return {n: b for n, b in dir_bytes(FIXTURES / CASE).items() if not n.startswith("expected.")}


@pytest.mark.parametrize("where", ["directory", "manifest"])
def test_faceapi_manifest_decodes_bit_exact(where):
    path = FIXTURES / CASE if where == "directory" else FIXTURES / CASE / MANIFEST
    expected = expected_weights(CASE)
    with tc.load(path) as model:
        assert model.is_bare_manifest and model.file_name == MANIFEST
        assert model.format is None
        assert list(model.groups[0].paths) == ["tiny_face_detector_model-shard1", "tiny_face_detector_model-shard2"]
        quantized = [n for n, s in model.specs.items() if s.quantization]
        assert quantized and all(model.specs[n].quantization["dtype"] == "uint8" for n in quantized)
        assert any(len(model.shards_of(n)) == 2 for n in model.specs)  # a weight straddles the two shards
        for name, want in expected.items():
            assert same_bits(model[name], want), name


def test_faceapi_round_trips_byte_identical(tmp_path):
    with tc.load(FIXTURES / CASE) as model:
        written = tc.save(tmp_path / "out", model.weights, like=model)
    assert written == tmp_path / "out" / MANIFEST
    assert dir_bytes(tmp_path / "out") == model_files()


def test_cli_inspect_and_verify_a_bare_manifest():
    out = io.StringIO()
    assert cli_main(["inspect", str(FIXTURES / CASE / MANIFEST)], out=out) == 0
    first = out.getvalue().splitlines()[0]
    assert first == f"{FIXTURES / CASE / MANIFEST}: weights manifest"
    row = out.getvalue().splitlines()[3].split()
    assert row == ["conv0/filters", "[3,3,3,16]", "float32", "uint8", "-", "tiny_face_detector_model-shard1", "432"]
    out = io.StringIO()
    assert cli_main(["verify", str(FIXTURES / CASE)], out=out) == 0
    assert out.getvalue().splitlines()[-1] == f"OK: {len(expected_weights(CASE))} weights decoded, 0 problem(s)"


def test_cli_convert_through_npz_and_back_is_byte_identical(tmp_path):
    npz = tmp_path / "faces.npz"
    assert cli_main(["convert", str(FIXTURES / CASE), str(npz), "-q"], out=io.StringIO()) == 0
    out = io.StringIO()
    assert cli_main(["convert", str(npz), str(tmp_path / "back"), "--like", str(FIXTURES / CASE / MANIFEST), "-q"], out=out) == 0
    assert out.getvalue() == f"wrote {tmp_path / 'back' / MANIFEST} ({len(expected_weights(CASE))} weights)\n"
    assert dir_bytes(tmp_path / "back") == model_files()


def test_cli_convert_a_bare_manifest_into_a_zip_and_inspect_it(tmp_path):
    target = tmp_path / "faces.zip"
    assert cli_main(["convert", str(FIXTURES / CASE), str(target), "-q"], out=io.StringIO()) == 0
    with zipfile.ZipFile(target) as z:
        assert {n: z.read(n) for n in z.namelist()} == model_files()
    out = io.StringIO()
    assert cli_main(["inspect", str(target), "--json"], out=out) == 0
    info = json.loads(out.getvalue())
    assert info["path"] == f"{target}!{MANIFEST}" and info["kind"] == "weights manifest"
    out = io.StringIO()
    assert cli_main(["verify", str(target)], out=out) == 0
    assert out.getvalue().endswith("OK: 10 weights decoded, 0 problem(s)\n")
