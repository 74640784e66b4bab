"""Models inside .zip / .tar / .tar.gz archives decode exactly as the unpacked fixtures do."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import DECODED, FIXTURES, dir_bytes, expected_weights, same_bits

import tfjs_codec as tc

SKIP = {"expected.json", "expected.bin", "predict.json", "writer_behaviour.json"}
KINDS = ["zip-stored", "zip-deflated", "tar", "tar.gz"]
SUFFIX = {"zip-stored": ".zip", "zip-deflated": ".zip", "tar": ".tar", "tar.gz": ".tar.gz"}


def model_files(case: str) -> dict[str, bytes]:
    return {n: b for n, b in dir_bytes(FIXTURES / case).items() if n not in SKIP and not n.endswith(".zip")}


def make_archive(path: Path, files: dict[str, bytes], kind: str) -> Path:
    if kind.startswith("zip"):
        method = zipfile.ZIP_STORED if kind == "zip-stored" else zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(path, "w", method) as z:
            for name, data in files.items():
                z.writestr(name, data)
    else:
        with tarfile.open(path, "w:gz" if kind == "tar.gz" else "w") as t:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return path


def check_decodes(model: tc.Model, case: str) -> None:
    expected = expected_weights(case)
    assert list(model.weights) == list(expected)
    for name, want in expected.items():
        assert same_bits(model[name], want), name


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", DECODED)
def test_archived_fixture_decodes_bit_exact(tmp_path, case, kind):
    files = {f"{case}/{n}": b for n, b in model_files(case).items()}  # in a folder, as zips of folders are
    archive = make_archive(tmp_path / f"m{SUFFIX[kind]}", files, kind)
    with tc.load(archive) as model:
        check_decodes(model, case)
        assert model.directory is None
        assert model.source is not None and model.source.endswith(f"!{case}/{model.file_name}")


def test_stored_zip_members_are_zero_copy_views_of_the_archive(tmp_path):
    case = "tfjs_converter_dense_float32"
    archive = make_archive(tmp_path / "m.zip", model_files(case), "zip-stored")
    raw = np.frombuffer(archive.read_bytes(), dtype=np.uint8)
    with tc.load(archive) as model:
        inside = [n for n in model.specs if len(model.shards_of(n)) == 1 and model.specs[n].nbytes]
        assert inside
        for name in inside:
            array = model[name]
            mapped = np.frombuffer(model.raw(name), dtype=np.uint8)
            # the bytes served are where the archive file has them
            start = archive.read_bytes().find(mapped.tobytes())
            assert start > 0 and np.array_equal(raw[start : start + mapped.size], mapped)
            assert array.flags.writeable
        name = inside[0]
        model[name][...] = 0  # copy-on-write: the archive is untouched
    assert np.array_equal(np.frombuffer(archive.read_bytes(), dtype=np.uint8), raw)


def test_deflated_zip_decompresses_per_weight_not_per_shard(tmp_path):
    case = "tfjs_converter_dense_float32"
    archive = make_archive(tmp_path / "m.zip", model_files(case), "zip-deflated")
    with tc.load(archive) as model:
        name = next(n for n in model.specs if model.specs[n].nbytes)
        buf = model.buffers[model.specs[name].group_index]
        streams = buf._archive._streams
        assert same_bits(model[name], expected_weights(case)[name])
        assert buf._archive._whole == {}  # no shard was inflated whole
        (stream,) = streams.values()
        assert stream.tell() == model.specs[name].offset + model.specs[name].nbytes


def test_teachable_machine_zip_keeps_metadata_json():
    folder = FIXTURES / "teachable_machine"
    archive = folder / "tm-my-image-model.zip"
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == ["metadata.json", "model.json", "weights.bin"]
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
        for name in z.namelist():
            assert z.read(name) == (folder / name).read_bytes()
    with tc.load(archive) as model:
        check_decodes(model, "teachable_machine")
        assert model.sidecars == {"metadata.json": (folder / "metadata.json").read_bytes()}


def test_save_to_zip_round_trips_with_sidecars(tmp_path):
    with tc.load(FIXTURES / "teachable_machine" / "tm-my-image-model.zip") as model:
        out = tc.save(tmp_path / "out.zip", model.weights, like=model)
    assert out == tmp_path / "out.zip"
    folder = FIXTURES / "teachable_machine"
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == ["model.json", "weights.bin", "metadata.json"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
        for name in z.namelist():
            assert z.read(name) == (folder / name).read_bytes(), name
    with tc.load(out) as again:
        check_decodes(again, "teachable_machine")
        assert again.sidecars == {"metadata.json": (folder / "metadata.json").read_bytes()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zip"]  # no temporary left


@pytest.mark.parametrize("suffix", [".zip", ".tar", ".tar.gz"])
def test_save_archive_of_a_bare_manifest_and_reload(tmp_path, suffix):
    case = "faceapi_tiny_face_detector"
    with tc.load(FIXTURES / case) as model:
        out = tc.save(tmp_path / f"faces{suffix}", model.weights, like=model)
    with tc.load(out) as again:
        assert again.is_bare_manifest
        assert again.file_name == "tiny_face_detector_model-weights_manifest.json"
        check_decodes(again, case)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    if suffix == ".zip":
        zipfile.ZipFile(out).extractall(unpacked)
    else:
        with tarfile.open(out) as t:
            t.extractall(unpacked, filter="data")
    assert dir_bytes(unpacked) == model_files(case)


def test_save_zip_is_deterministic(tmp_path):
    with tc.load(FIXTURES / "browser_dense") as model:
        a = tc.save(tmp_path / "a.zip", model.weights, like=model).read_bytes()
        b = tc.save(tmp_path / "b.zip", model.weights, like=model).read_bytes()
    assert a == b


def test_several_models_need_member(tmp_path):
    files = {f"a/{n}": b for n, b in model_files("browser_dense").items()}
    files.update({f"b/{n}": b for n, b in model_files("ml5_bundle").items()})
    archive = make_archive(tmp_path / "two.zip", files, "zip-deflated")
    with pytest.raises(tc.TfjsFormatError) as info:
        tc.load(archive)
    assert str(info.value) == "two.zip: several models in the archive (a/model.json, b/model.json); pass member= to choose one"
    with tc.load(archive, member="b/model.json") as model:
        check_decodes(model, "ml5_bundle")
        assert list(model.sidecars) == ["model_meta.json"]
    with pytest.raises(tc.TfjsFormatError) as info:
        tc.load(archive, member="c/model.json")
    assert str(info.value) == "c/model.json: missing member (not in two.zip)"


@pytest.mark.parametrize("bad", ["../evil.bin", "/etc/evil.bin", "a/../../evil.bin"])
@pytest.mark.parametrize("kind", ["zip-stored", "tar"])
def test_zip_slip_members_are_rejected(tmp_path, bad, kind):
    files = dict(model_files("browser_dense"))
    files[bad] = b"x"
    archive = make_archive(tmp_path / f"slip{SUFFIX[kind]}", files, kind)
    if kind == "zip-stored":
        # zipfile.writestr keeps the name as given; check it did
        assert bad in zipfile.ZipFile(archive).namelist()
    with pytest.raises(tc.TfjsFormatError) as info:
        tc.load(archive)
    assert str(info.value) == f"{archive.name}: member {bad!r} leaves the archive (absolute path or '..'); refusing the archive"


def test_missing_shard_member(tmp_path):
    files = model_files("tfjs_converter_dense_float32")
    shard = sorted(n for n in files if n.endswith(".bin"))[1]
    del files[shard]
    archive = make_archive(tmp_path / "m.tar", files, "tar")
    with pytest.raises(tc.TfjsFormatError) as info:
        tc.load(archive)
    assert str(info.value) == f"{shard}: missing shard file (not in m.tar)"


def test_no_model_in_archive(tmp_path):
    archive = make_archive(tmp_path / "empty.zip", {"readme.txt": b"hi", "__MACOSX/._model.json": b"\0"}, "zip-stored")
    with pytest.raises(tc.TfjsFormatError) as info:
        tc.load(archive)
    assert str(info.value) == (
        "empty.zip: no model.json, *weights_manifest.json or other JSON file with a weightsManifest in the archive"
    )


def test_not_an_archive(tmp_path):
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"this is not an archive at all" * 20)
    with pytest.raises(tc.TfjsFormatError) as info:
        tc.load(bogus)
    assert str(info.value) == "bogus.zip: not a readable zip archive: File is not a zip file"


def test_options_are_checked_by_kind(tmp_path):
    local = FIXTURES / "browser_dense"
    with pytest.raises(TypeError) as info:
        tc.load(local, member="model.json")
    assert str(info.value) == f"load(): member= applies to archives, not to {local}"
    archive = FIXTURES / "teachable_machine" / "tm-my-image-model.zip"
    with pytest.raises(TypeError) as info:
        tc.load(archive, timeout=3)
    assert str(info.value) == f"load(): timeout= applies to URLs, not to {archive}"
    with pytest.raises(TypeError) as info:
        tc.load("http://127.0.0.1:9/model.json", member="a/model.json")
    assert str(info.value) == "load(): member= applies to archives, not to http://127.0.0.1:9/model.json"


def test_cli_member_option(tmp_path):
    from tfjs_codec.cli import main as cli_main

    files = {f"a/{n}": b for n, b in model_files("browser_dense").items()}
    files.update({f"b/{n}": b for n, b in model_files("ml5_bundle").items()})
    archive = make_archive(tmp_path / "two.tar.gz", files, "tar.gz")
    out = io.StringIO()
    assert cli_main(["inspect", str(archive), "--member", "b/model.json", "--json"], out=out) == 0
    assert json.loads(out.getvalue())["sidecars"] == ["model_meta.json"]
    out = io.StringIO()
    assert cli_main(["verify", str(archive), "--member", "a/model.json"], out=out) == 0
    assert out.getvalue().endswith(f"OK: {len(expected_weights('browser_dense'))} weights decoded, 0 problem(s)\n")
