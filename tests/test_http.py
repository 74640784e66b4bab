"""Models on web servers: against http.server instances on 127.0.0.1 started here.

Each server serves one directory, counts the body bytes it sends per path, and
can be told to ignore Range, gzip its answers, drop a connection halfway through
a body, answer slowly, or not have some files. Servers stop when their test ends
(and after 60 s in any case).
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import gzip as gzip_module
import hashlib
import io
import json
import os
import re
import shutil
import socket
import threading
import time
import urllib.parse
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, expected_weights, same_bits

import tfjs_codec as tc
from tfjs_codec.cli import main as cli_main

LIFETIME = 60.0


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        s: Server = self.server  # type: ignore[assignment]
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        s.log.append((self.command, path, self.headers.get("Range")))
        if s.delay:
            time.sleep(s.delay)
        file = s.root / path
        if path in s.missing or not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        status, body, extra = 200, data, {}
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", rng or "")
        if s.ranges and m:
            a, b = int(m.group(1)), min(int(m.group(2)), len(data) - 1)
            status, body = 206, data[a : b + 1]
            extra["Content-Range"] = f"bytes {a}-{b}/{len(data)}"
        elif s.gzip and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip_module.compress(data, mtime=0)
            extra["Content-Encoding"] = "gzip"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if s.etags:
            self.send_header("ETag", etag)
        if s.last_modified:
            self.send_header("Last-Modified", email.utils.formatdate(file.stat().st_mtime, usegmt=True))
        if s.ranges:
            self.send_header("Accept-Ranges", "bytes")
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        if path in s.drop:
            half = body[: len(body) // 2]
            s.sent[path] += len(half)
            self.wfile.write(half)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        s.sent[path] += len(body)  # before writing: the client may be done before this thread runs again
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the client probes shards in parallel; 5 would drop SYNs (1 s retransmits)

    def __init__(self, root: Path, *, ranges=True, gzip=False, etags=True, last_modified=False, drop=(), delay=0.0, missing=()):
        super().__init__(("127.0.0.1", 0), Handler)
        self.root = Path(root)
        self.ranges, self.gzip, self.etags, self.delay = ranges, gzip, etags, delay
        self.last_modified = last_modified
        self.drop, self.missing = set(drop), set(missing)
        self.sent: collections.Counter[str] = collections.Counter()
        self.log: list[tuple[str, str, str | None]] = []

    def handle_error(self, request, client_address):
        pass  # clients that gave up (timeouts) make writes fail; that is the point of those tests

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{path}"

    def shard_bytes(self) -> int:
        return sum(n for p, n in self.sent.items() if not p.endswith(".json"))


@contextlib.contextmanager
def serve(root: Path, **kw):
    server = Server(root, **kw)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    guard = threading.Timer(LIFETIME, server.shutdown)
    guard.daemon = True
    guard.start()
    try:
        yield server
    finally:
        guard.cancel()
        server.shutdown()
        server.server_close()
        thread.join(5)


def check(model: tc.Model, case: str) -> None:
    expected = expected_weights(case)
    assert list(model.weights) == list(expected)
    for name, want in expected.items():
        assert same_bits(model[name], want), name


def many_shards(folder: Path) -> Path:
    """A model of 12 float32 weights of 1000 elements cut in 999-byte shards (49 shards)."""
    rng = np.random.default_rng(3)
    weights = {f"layer{i}/kernel": rng.standard_normal(1000).astype(np.float32) for i in range(12)}
    tc.save(folder, weights, shard_size=999)
    return folder


CASES = [
    "tfjs_converter_dense_float32",
    "tfjs_quantized_manual",
    "tfjs_encode_all_dtypes",
    "faceapi_tiny_face_detector",
    "py_write_weights_all_dtypes",
]


def manifest_name(case: str) -> str:
    return (
        "model.json"
        if (FIXTURES / case / "model.json").is_file()
        else next(p.name for p in (FIXTURES / case).glob("*weights_manifest.json"))
    )


@pytest.mark.parametrize("ranges", [True, False], ids=["range", "no-range"])
@pytest.mark.parametrize("case", CASES)
def test_url_decodes_bit_exact(tmp_path, case, ranges):
    with serve(FIXTURES, ranges=ranges) as server:
        with tc.load(server.url(f"{case}/{manifest_name(case)}"), cache_dir=tmp_path / "cache") as model:
            check(model, case)
            assert model.source == server.url(f"{case}/{manifest_name(case)}")
            assert model.directory is None


def test_one_weight_of_many_shards_fetches_that_weights_bytes(tmp_path):
    folder = many_shards(tmp_path / "m")
    with serve(folder) as server:
        with tc.load(server.url("model.json"), cache_dir=tmp_path / "cache") as model:
            assert server.shard_bytes() == 0  # opening needs the sizes only (HEAD)
            name = "layer7/kernel"
            spec = model.specs[name]
            assert len(model.shards_of(name)) == 5  # of 49
            with tc.load(folder) as local:
                assert same_bits(model[name], local[name])
            assert server.shard_bytes() == spec.nbytes
            assert sum(server.sent.values()) - server.shard_bytes() == (folder / "model.json").stat().st_size


def test_without_range_support_whole_shards_are_fetched_once(tmp_path):
    folder = many_shards(tmp_path / "m")
    with serve(folder, ranges=False) as server:
        with tc.load(server.url("model.json"), cache_dir=tmp_path / "cache") as model:
            name = "layer7/kernel"
            touched = model.shards_of(name)
            with tc.load(folder) as local:
                assert same_bits(model[name], local[name])
                assert same_bits(model["layer7/kernel"], local[name])
            assert server.shard_bytes() == sum((folder / p).stat().st_size for p in touched)
            ranged = [r for (_, p, r) in server.log if r and p in touched]
            assert len(ranged) == 1  # asked once, learnt the server sends whole files, then stopped asking


def test_second_load_comes_from_the_cache(tmp_path):
    folder = many_shards(tmp_path / "m")
    cache = tmp_path / "cache"
    with serve(folder) as server:
        with tc.load(server.url("model.json"), cache_dir=cache) as model:
            first = {n: model[n].copy() for n in model.specs}
        assert server.shard_bytes() == sum(s.stat().st_size for s in folder.glob("*.bin"))
        server.sent.clear()
        server.log.clear()
        with tc.load(server.url("model.json"), cache_dir=cache) as model:
            for n in model.specs:
                assert same_bits(model[n], first[n])
        assert server.shard_bytes() == 0
        assert [(m, p) for m, p, _ in server.log] == [("GET", "model.json")]  # revalidated: 304
        assert server.sent["model.json"] == 0
        url = server.url("model.json")
    # the server is gone: offline, and a warning when not asked to be offline
    with tc.load(url, cache_dir=cache, offline=True) as model:
        assert all(same_bits(model[n], first[n]) for n in model.specs)
    with pytest.warns(tc.TfjsFormatWarning, match=r"^model.json: cannot connect: .* \(1 attempt\); using the cached copy$"):
        with tc.load(url, cache_dir=cache, retries=0, timeout=2) as model:
            assert same_bits(model["layer0/kernel"], first["layer0/kernel"])


NO_VALIDATORS = (
    r"^model.json: the server sends neither ETag nor Last-Modified for 49 of 49 shard\(s\) "
    r"\(http://127.0.0.1:\d+/group1-shard1of49.bin, ...\): a shard changed on the server while the model is open "
    r"cannot be detected$"
)


def test_cache_without_validators_recognises_an_unchanged_manifest(tmp_path):
    folder = many_shards(tmp_path / "m")
    cache = tmp_path / "cache"
    with serve(folder, etags=False) as server:
        with pytest.warns(tc.TfjsFormatWarning, match=NO_VALIDATORS):
            with tc.load(server.url("model.json"), cache_dir=cache) as model:
                model["layer3/kernel"]
        server.sent.clear()
        with pytest.warns(tc.TfjsFormatWarning, match=NO_VALIDATORS), tc.load(server.url("model.json"), cache_dir=cache) as model:
            with tc.load(folder) as local:
                assert same_bits(model["layer3/kernel"], local["layer3/kernel"])
        assert server.shard_bytes() == 0
        assert server.sent["model.json"] == (folder / "model.json").stat().st_size


def test_gzip_content_encoding(tmp_path):
    case = "tfjs_converter_dense_float32"
    with serve(FIXTURES, ranges=False, gzip=True) as server:
        with tc.load(server.url(f"{case}/model.json"), cache_dir=False) as model:
            check(model, case)
        raw = sum(p.stat().st_size for p in (FIXTURES / case).glob("*.bin")) + (FIXTURES / case / "model.json").stat().st_size
        assert 0 < sum(server.sent.values()) < raw  # what travelled was compressed


def test_connection_dropped_mid_shard_leaves_no_cache_entry(tmp_path):
    case = "browser_dense"
    cache = tmp_path / "cache"
    with serve(FIXTURES, drop={f"{case}/model.weights.bin"}) as server:
        url = server.url(f"{case}/model.json")
        with tc.load(url, cache_dir=cache, retries=1, backoff=0.01) as model:
            name = next(iter(model.specs))
            nbytes = model.specs[name].nbytes
            with pytest.raises(tc.TfjsFormatError) as info:
                model[name]
    assert str(info.value) == (
        f"./model.weights.bin: connection closed after {nbytes // 2} of {nbytes} bytes "
        f"from {server.url(case + '/model.weights.bin')} (2 attempts)"
    )
    stores = [json.loads(p.read_text()) for p in cache.glob("s-*.json")]
    assert all(s["ranges"] == [] for s in stores)  # nothing recorded
    with serve(FIXTURES) as healthy:
        with tc.load(healthy.url(f"{case}/model.json"), cache_dir=cache) as model:
            check(model, case)


def test_slow_server_times_out(tmp_path):
    with serve(FIXTURES, delay=1.5) as server:
        url = server.url("browser_dense/model.json")
        with pytest.raises(tc.TfjsFormatError) as info:
            tc.load(url, cache_dir=False, timeout=0.2, retries=1, backoff=0.01)
    assert str(info.value) == f"model.json: timed out after 0.2 s from {url} (2 attempts)"


def test_missing_shard_is_a_404(tmp_path):
    case = "tfjs_converter_dense_float32"
    shard = f"{case}/group1-shard2of4.bin"
    with serve(FIXTURES, missing={shard}) as server:
        with pytest.raises(tc.TfjsFormatError) as info:
            tc.load(server.url(f"{case}/model.json"), cache_dir=False)
    assert str(info.value) == f"group1-shard2of4.bin: HTTP 404 Not Found from {server.url(shard)}"
    assert (FIXTURES / shard).is_file()


def test_manifest_paths_to_another_host_are_rejected(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(FIXTURES / "browser_dense", folder)
    doc = json.loads((folder / "model.json").read_text())
    doc["weightsManifest"][0]["paths"] = ["http://example.invalid/model.weights.bin"]
    (folder / "model.json").write_text(json.dumps(doc))
    with serve(folder) as server:
        with pytest.raises(tc.TfjsFormatError) as info:
            tc.load(server.url("model.json"), cache_dir=False)
        assert [p for _, p, _ in server.log] == ["model.json"]
    assert str(info.value) == (
        "model.json: weightsManifest[0].paths[0]: path 'http://example.invalid/model.weights.bin' points to another host; "
        "shard paths are relative to the manifest's URL (weight_path_prefix or weight_url_converter say where else to fetch them)"
    )


def test_weight_path_prefix_and_url_converter(tmp_path):
    case = "tfjs_converter_dense_float32"
    (tmp_path / "json").mkdir()
    shutil.copy(FIXTURES / case / "model.json", tmp_path / "json" / "model.json")
    shutil.copytree(FIXTURES / case, tmp_path / "bins")
    (tmp_path / "bins" / "model.json").unlink()
    with serve(tmp_path) as server:
        with tc.load(server.url("json/model.json"), cache_dir=False, weight_path_prefix=server.url("bins/")) as model:
            check(model, case)
        seen = []

        def convert(path: str) -> str:
            seen.append(path)
            return server.url(f"bins/{path}")

        with tc.load(server.url("json/model.json"), cache_dir=False, weight_url_converter=convert) as model:
            check(model, case)
        assert seen == list(model.groups[0].paths)
        with pytest.raises(tc.TfjsFormatError) as info:
            tc.load(server.url("json/model.json"), cache_dir=False)
    assert str(info.value) == f"group1-shard1of4.bin: HTTP 404 Not Found from {server.url('json/group1-shard1of4.bin')}"


def test_response_size_cap(tmp_path):
    case = "browser_dense"
    with serve(FIXTURES) as server:
        url = server.url(f"{case}/model.json")
        size = (FIXTURES / case / "model.json").stat().st_size
        with pytest.raises(tc.TfjsFormatError) as info:
            tc.load(url, cache_dir=False, max_response_bytes=100)
    assert str(info.value) == f"model.json: response of {size} bytes is over the 100-byte limit ({url})"


def test_progress_line_only_when_asked_or_on_a_terminal(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "big"
    tc.save(folder, {"w": rng.standard_normal(300_000).astype(np.float32)})
    for progress, shown in [(True, True), (None, False), (False, False)]:
        stream = io.StringIO()
        with serve(folder, ranges=False) as server:
            with tc.load(server.url("model.json"), cache_dir=False, progress=progress, progress_stream=stream) as model:
                model["w"]
        text = stream.getvalue()
        if shown:
            assert text.startswith("\rdownloading group1-shard1of1.bin: ") and text.endswith("1.1 / 1.1 MiB (100.0%)\n")
        else:
            assert text == ""


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'timout'"):
        tc.load("http://127.0.0.1:9/model.json", timout=3)


def test_cli_inspect_url_probe_fetches_no_shard_bytes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TFJS_CODEC_CACHE", str(tmp_path / "cache"))
    folder = many_shards(tmp_path / "m")
    with serve(folder) as server:
        out = io.StringIO()
        assert cli_main(["inspect", server.url("model.json"), "--json", "--probe"], out=out) == 0
        info = json.loads(out.getvalue())
        assert info["path"] == server.url("model.json")
        assert info["total_weights"] == 12
        assert server.shard_bytes() == 0
        assert {m for m, p, _ in server.log if p != "model.json"} == {"HEAD"}


def test_cli_verify_url_then_offline(tmp_path):
    folder = many_shards(tmp_path / "m")
    cache = str(tmp_path / "cache")
    with serve(folder) as server:
        url = server.url("model.json")
        out = io.StringIO()
        assert cli_main(["verify", url, "--cache-dir", cache, "--timeout", "5"], out=out) == 0
        assert out.getvalue() == "OK: 12 weights decoded, 0 problem(s)\n"
    out = io.StringIO()
    assert cli_main(["verify", url, "--cache-dir", cache, "--offline"], out=out) == 0
    assert out.getvalue() == "OK: 12 weights decoded, 0 problem(s)\n"
    out = io.StringIO()
    assert cli_main(["verify", url, "--no-cache", "--offline"], out=out) == 1
    assert (
        out.getvalue()
        == f"problem: model.json: not in the cache and offline=True ({url})\nFAILED: 0 weights decoded, 1 problem(s)\n"
    )


def test_save_like_a_url_model_writes_the_same_files(tmp_path):
    case = "tfjs_converter_dense_uint8"
    with serve(FIXTURES) as server:
        with tc.load(server.url(f"{case}/model.json"), cache_dir=False) as model:
            tc.save(tmp_path / "copy", model.weights, like=model)
    want = {p.name: p.read_bytes() for p in (FIXTURES / case).iterdir() if p.name == "model.json" or p.name.startswith("group")}
    assert {p.name: p.read_bytes() for p in (tmp_path / "copy").iterdir()} == want


def test_two_loaders_of_one_cache_keep_each_others_ranges(tmp_path):
    folder = many_shards(tmp_path / "m")
    cache = tmp_path / "cache"
    with serve(folder) as server:
        with tc.load(server.url("model.json"), cache_dir=cache) as a, tc.load(server.url("model.json"), cache_dir=cache) as b:
            a["layer1/kernel"]
            b["layer9/kernel"]
        server.sent.clear()
        with tc.load(server.url("model.json"), cache_dir=cache) as c:
            c["layer1/kernel"], c["layer9/kernel"]
        assert server.shard_bytes() == 0


def test_redirect_to_a_non_http_url_is_refused(tmp_path):
    class Redirect(Handler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/model.json")
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serve(tmp_path) as server:
        server.RequestHandlerClass = Redirect
        url = server.url("model.json")
        with pytest.raises(tc.TfjsFormatError) as info:
            tc.load(url, cache_dir=False)
    assert (
        str(info.value) == f"model.json: HTTP 302 redirect to 'ftp://127.0.0.1/model.json' refused (not http or https) from {url}"
    )


def test_offline_without_cached_shard_sizes(tmp_path):
    case = "browser_dense"
    cache = tmp_path / "cache"
    with serve(FIXTURES, missing={f"{case}/model.weights.bin"}) as server:
        url = server.url(f"{case}/model.json")
        with pytest.raises(tc.TfjsFormatError):
            tc.load(url, cache_dir=cache)  # the manifest got cached, the shard's size did not
    with pytest.raises(tc.TfjsFormatError) as info:
        tc.load(url, cache_dir=cache, offline=True)
    assert (
        str(info.value)
        == f"./model.weights.bin: shard sizes are not in the cache and offline=True ({server.url(case + '/model.weights.bin')})"
    )


# --------------------------------------------------------------------------
# a shard changed on the server between the size probe and the bytes


def _rewrite_shard(path: Path, *, grow: int = 0) -> None:
    """Other bytes (and ``grow`` more of them), and a later modification time."""
    data = bytes(255 - b for b in path.read_bytes()) + b"\0" * grow
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, (st.st_atime, st.st_mtime + 10))


def _changed(url: str, change: str) -> str:
    return f"group1-shard3of49.bin: changed on the server since the model was opened ({change}); load it again ({url})"


@pytest.mark.parametrize("ranges", [True, False], ids=["range", "no-range"])
def test_change_seen_by_last_modified_alone(tmp_path, ranges):
    """A server without ETag (Python's http.server, some static hosts) but with Last-Modified: a
    shard rewritten after the model was opened is the "changed on the server" error, not a silent
    mix of the old manifest and the new bytes."""
    folder = many_shards(tmp_path / "m")
    shard = folder / "group1-shard3of49.bin"
    with serve(folder, etags=False, last_modified=True, ranges=ranges) as server:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # validators present: no warning
            model = tc.load(server.url("model.json"), cache_dir=tmp_path / "cache")
        with model:
            before = email.utils.formatdate(shard.stat().st_mtime, usegmt=True)
            _rewrite_shard(shard)
            after = email.utils.formatdate(shard.stat().st_mtime, usegmt=True)
            name = next(n for n in model.specs if shard.name in model.shards_of(n))
            with pytest.raises(tc.TfjsFormatError) as e:
                model[name]
    assert str(e.value) == _changed(server.url(shard.name), f"Last-Modified {before} -> {after}")


def test_change_seen_by_content_range_total(tmp_path):
    """No validator at all: a warning at load, and a shard whose size changed is still caught by
    the total in Content-Range."""
    folder = many_shards(tmp_path / "m")
    shard = folder / "group1-shard3of49.bin"
    with serve(folder, etags=False) as server:
        with pytest.warns(tc.TfjsFormatWarning, match=NO_VALIDATORS) as record:
            model = tc.load(server.url("model.json"), cache_dir=tmp_path / "cache")
        assert len(record) == 1
        with model:
            _rewrite_shard(shard, grow=8)
            name = next(n for n in model.specs if shard.name in model.shards_of(n))
            with pytest.raises(tc.TfjsFormatError) as e:
                model[name]
    assert str(e.value) == _changed(server.url(shard.name), "size 999 -> 1007 bytes")


def test_change_seen_by_content_length_of_a_whole_shard(tmp_path):
    """A server without Range support or validators: the Content-Length of the whole shard."""
    folder = many_shards(tmp_path / "m")
    shard = folder / "group1-shard3of49.bin"
    with serve(folder, etags=False, ranges=False) as server:
        with pytest.warns(tc.TfjsFormatWarning, match=NO_VALIDATORS):
            model = tc.load(server.url("model.json"), cache_dir=tmp_path / "cache")
        with model:
            _rewrite_shard(shard, grow=3)
            name = next(n for n in model.specs if shard.name in model.shards_of(n))
            with pytest.raises(tc.TfjsFormatError) as e:
                model[name]
    assert str(e.value) == _changed(server.url(shard.name), "size 999 -> 1002 bytes")
