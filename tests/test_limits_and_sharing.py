"""Two safety holes, closed: a save never deletes a shard another manifest needs, and the manifest
size limit holds for every source (local file, zip, tar, HTTP), read with a bound, same message."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import shutil
import tarfile
import threading
import tracemalloc
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, same_bits

import tfjs_codec as tc
from tfjs_codec import gzipped
from tfjs_codec.verify import verify

LIMIT = gzipped.MAX_MANIFEST_BYTES


def too_big(limit: int) -> str:
    return f"model.json: larger than {limit} bytes, the limit for a manifest (pass max_manifest_bytes= to read a larger one)"


# --- a shard shared by two manifests -------------------------------------------------------


def two_manifests_one_shard(folder: Path) -> dict[str, np.ndarray]:
    """model.json and other.json in one directory, both naming ./model.weights.bin."""
    shutil.copytree(FIXTURES / "browser_dense", folder)
    for extra in ("expected.json", "expected.bin", "predict.json", "writer_behaviour.json"):
        (folder / extra).unlink(missing_ok=True)
    shutil.copy(folder / "model.json", folder / "other.json")
    with tc.load(folder / "other.json") as other:
        return {k: np.array(v) for k, v in other.items()}


def test_a_shard_named_by_another_manifest_survives_a_save(tmp_path):
    folder = tmp_path / "m"
    before = two_manifests_one_shard(folder)
    shard = (folder / "model.weights.bin").read_bytes()
    with tc.load(folder / "model.json") as model:
        changed = {k: v * np.float32(2) for k, v in model.items()}
        tc.save(folder / "model.json", changed, like=model)
    # the new shard took a fresh name; the old one, still named by other.json, is untouched
    assert (folder / "model.weights.bin").read_bytes() == shard
    with tc.load(folder / "other.json") as other:
        assert all(same_bits(other[k], before[k]) for k in before)
    with tc.load(folder / "model.json") as model:
        assert model.groups[0].paths[0] != "./model.weights.bin"
        assert all(same_bits(model[k], changed[k]) for k in changed)
    # neither model reports the other's shard as an orphan
    assert verify(folder / "model.json").notes == []
    assert verify(folder / "other.json").notes == []


def test_leftovers_are_what_verify_lists_and_what_the_next_save_removes(tmp_path):
    folder = tmp_path / "m"
    two_manifests_one_shard(folder)
    with tc.load(folder / "other.json") as other:
        weights = dict(other)
    tc.save(folder / "third.json", weights, shard_size=1000)  # group1-shard*of*.bin, named by third.json
    (folder / "model.weights-1a2b3c4d.bin").write_bytes(b"left by a save that died")
    (folder / "group1-shard1of9.bin").write_bytes(b"also")
    (folder / ".tfjs_codec-0a0b0c0d-0-0.tmp").write_bytes(b"temp")
    (folder / "notes.bin").write_bytes(b"not ours: never touched")
    listed = [n.split(":")[0] for n in verify(folder / "model.json").notes]
    assert listed == [".tfjs_codec-0a0b0c0d-0-0.tmp", "group1-shard1of9.bin", "model.weights-1a2b3c4d.bin"]
    with tc.load(folder / "model.json") as model:
        tc.save(folder / "model.json", dict(model), like=model)  # identical bytes: the shard stays as it is
    assert verify(folder / "model.json").notes == []
    names = sorted(p.name for p in folder.iterdir())
    assert "notes.bin" in names and "model.weights.bin" in names
    assert [n for n in names if n.startswith("group1-")] == sorted(
        p for g in tc.load(folder / "third.json").groups for p in g.paths
    )


def test_a_json_file_that_cannot_be_judged_stops_every_removal_but_temp_files(tmp_path):
    folder = tmp_path / "m"
    two_manifests_one_shard(folder)
    (folder / "other.json").unlink()
    (folder / "model.weights-1a2b3c4d.bin").write_bytes(b"orphan")
    (folder / ".tfjs_codec-0a0b0c0d-0-0.tmp").write_bytes(b"temp")
    with open(folder / "big.json", "wb") as f:  # over the manifest limit (sparse): what it names is unknown
        f.truncate(LIMIT + 1)
    assert [n.split(":")[0] for n in verify(folder / "model.json").notes] == [".tfjs_codec-0a0b0c0d-0-0.tmp"]
    with tc.load(folder / "model.json") as model:
        tc.save(folder / "model.json", {k: v + 1 for k, v in model.items()}, like=model)
    names = sorted(p.name for p in folder.iterdir())
    assert "model.weights.bin" in names and "model.weights-1a2b3c4d.bin" in names  # kept: big.json may name them
    assert not any(n.startswith(".tfjs_codec-") for n in names)


# --- the manifest limit, for every source ----------------------------------------------------


def huge_manifest(size: int) -> bytes:
    """A model.json of exactly ``size`` bytes (valid JSON: a weights manifest and padding)."""
    head = b'{"weightsManifest":[],"pad":"'
    return head + b" " * (size - len(head) - 2) + b'"}'


@pytest.fixture(scope="module")
def over_limit() -> bytes:
    return huge_manifest(LIMIT + (1 << 20))  # 65 MiB


def peak_while(fn) -> tuple[BaseException, int]:
    tracemalloc.start()
    try:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 (returned to the test)
            return exc, tracemalloc.get_traced_memory()[1]
        pytest.fail("no error")
    finally:
        tracemalloc.stop()


def test_over_limit_manifest_in_a_zip_a_tar_and_a_directory_same_message(tmp_path, over_limit):
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "model.json").write_bytes(over_limit)
    deflated = tmp_path / "m.zip"
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.json", over_limit)
    assert deflated.stat().st_size < 200_000  # a "67 KB zip holding a 65 MiB model.json"
    tgz = tmp_path / "m.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        info = tarfile.TarInfo("model.json")
        info.size = len(over_limit)
        t.addfile(info, io.BytesIO(over_limit))
    for place in (folder, deflated, tgz):
        error, peak = peak_while(lambda p=place: tc.load(p))
        assert isinstance(error, tc.TfjsFormatError)
        assert str(error) == too_big(LIMIT), place
        assert peak < 8 << 20, (place, peak)  # refused from the stated size: nothing read


def test_max_manifest_bytes_is_per_call_on_every_source(tmp_path):
    text = json.dumps({"weightsManifest": [{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [2], "dtype": "float32"}]}]})
    text = text[:-1] + ', "pad": "' + " " * 3000 + '"}'
    w = np.array([1.5, -2], "<f4").tobytes()
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "model.json").write_text(text)
    (folder / "w.bin").write_bytes(w)
    stored = tmp_path / "s.zip"
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as z:
        z.writestr("model.json", text)
        z.writestr("w.bin", w)
    tar = tmp_path / "t.tar"
    with tarfile.open(tar, "w") as t:
        for name, data in (("model.json", text.encode()), ("w.bin", w)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    for place in (folder, stored, tar):
        with pytest.raises(tc.TfjsFormatError) as info:
            tc.load(place, max_manifest_bytes=1000)
        assert str(info.value) == too_big(1000)
        with tc.load(place, max_manifest_bytes=4000) as model:
            assert model["a"].tolist() == [1.5, -2.0]
    # gzip-compressed manifests count once decompressed, locally too
    (folder / "model.json").write_bytes(gzip.compress(text.encode(), mtime=0))
    with pytest.raises(tc.TfjsFormatError) as info:
        tc.load(folder, max_manifest_bytes=1000)
    assert str(info.value) == too_big(1000) + " once decompressed"
    with pytest.raises(TypeError, match=r"^max_manifest_bytes must be an int, got str$"):
        tc.load(folder, max_manifest_bytes="1000")
    with pytest.raises(ValueError, match=r"^max_manifest_bytes must be a positive number of bytes, got 0$"):
        tc.load(folder, max_manifest_bytes=0)


class _Streamer(BaseHTTPRequestHandler):
    """Serves model.json of ``server.size`` bytes, with or without Content-Length, counting what it sends."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        s = self.server
        self.send_response(200)
        if s.with_length:
            self.send_header("Content-Length", str(s.size))
        else:
            self.send_header("Connection", "close")
        if s.gzip:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        body = s.body
        try:
            for i in range(0, len(body), 1 << 16):
                chunk = body[i : i + (1 << 16)]
                s.sent += len(chunk)
                self.wfile.write(chunk)
        except OSError:
            pass  # the client hung up: that is the point
        self.close_connection = True


@contextlib.contextmanager
def streaming(body: bytes, *, with_length: bool, gzip_encoded: bool = False):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Streamer)
    server.daemon_threads = True
    server.body, server.size, server.sent = body, len(body), 0
    server.with_length, server.gzip = with_length, gzip_encoded
    server.handle_error = lambda *a: None
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/model.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_over_limit_manifest_over_http_is_refused_with_the_local_message(over_limit):
    with streaming(over_limit, with_length=True) as (server, url):
        error, peak = peak_while(lambda: tc.load(url, cache_dir=False, retries=0))
    assert isinstance(error, tc.TfjsFormatError)
    assert str(error) == too_big(LIMIT)
    assert peak < 8 << 20  # refused from Content-Length


def test_over_limit_manifest_over_http_without_length_stops_at_the_limit():
    body = huge_manifest(32 << 20)
    with streaming(body, with_length=False) as (server, url):
        with pytest.raises(tc.TfjsFormatError) as info:
            tc.load(url, cache_dir=False, retries=0, max_manifest_bytes=1 << 20)
        sent = server.sent
    assert str(info.value) == too_big(1 << 20)
    assert sent < 12 << 20  # the client hung up after 1 MiB (what the socket buffers hold aside)


def test_gzip_encoded_manifest_over_http_counts_once_decompressed(tmp_path):
    body = gzip.compress(huge_manifest(4 << 20), mtime=0)
    with streaming(body, with_length=True, gzip_encoded=True) as (_, url):
        with pytest.raises(tc.TfjsFormatError) as info:
            tc.load(url, cache_dir=False, retries=0, max_manifest_bytes=1 << 20)
    assert str(info.value) == too_big(1 << 20) + " once decompressed"


def test_a_cached_manifest_over_this_calls_limit_is_not_used(tmp_path):
    text = huge_manifest(5000)
    with streaming(text, with_length=True) as (_, url):
        with tc.load(url, cache_dir=tmp_path / "cache") as model:
            assert len(model) == 0
    with pytest.raises(tc.TfjsFormatError) as info:
        tc.load(url, cache_dir=tmp_path / "cache", offline=True, max_manifest_bytes=1000)
    assert str(info.value) == f"model.json: not in the cache and offline=True ({url})"
    with tc.load(url, cache_dir=tmp_path / "cache", offline=True) as model:
        assert len(model) == 0


def test_the_command_line_takes_the_limit_too(tmp_path, capsys):
    from tfjs_codec.cli import main

    folder = tmp_path / "m"
    shutil.copytree(FIXTURES / "browser_dense", folder)
    size = (folder / "model.json").stat().st_size
    assert main(["inspect", str(folder), "--max-manifest-bytes", str(size - 1)]) == 2
    assert capsys.readouterr().err == f"tfjs-codec: error: {too_big(size - 1)}\n"
    assert main(["verify", str(folder), "--max-manifest-bytes", str(size - 1)]) == 1
    assert capsys.readouterr().out == f"problem: {too_big(size - 1)}\nFAILED: 0 weights decoded, 1 problem(s)\n"
    for command in ("inspect", "verify"):
        assert main([command, str(folder), "--max-manifest-bytes", str(size)]) == 0
        capsys.readouterr()
