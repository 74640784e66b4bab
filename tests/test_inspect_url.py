"""``tfjs-codec inspect URL``: model.json alone, no HEAD and no shard byte (``--probe`` for the sizes).

Against the 127.0.0.1 servers of test_http.py, which log every request.
"""

from __future__ import annotations

import io
import json
import shutil

import pytest
from conftest import FIXTURES
from test_http import manifest_name, many_shards, serve

from tfjs_codec.cli import main

CASES = [
    "tfjs_converter_dense_uint8",  # one group of 4 shards
    "tfjs_quantized_manual",  # two groups: 2 shards and 1
    "tfjs_encode_all_dtypes",  # strings in a one-shard group
    "py_write_weights_all_dtypes",  # strings in a 7-shard group, then a second group; bare manifest
    "faceapi_tiny_face_detector",  # bare manifest with extension-less shards
]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def only_the_manifest(server, path: str) -> None:
    assert [(m, p) for m, p, _ in server.log] == [("GET", path)]
    assert server.shard_bytes() == 0


@pytest.mark.parametrize("case", CASES)
def test_json_is_what_the_manifest_tells_and_null_for_the_rest(tmp_path, case):
    path = f"{case}/{manifest_name(case)}"
    code, text = run("inspect", "--json", str(FIXTURES / path))
    assert code == 0
    local = json.loads(text)
    with serve(FIXTURES) as server:
        code, text = run("inspect", "--json", "--cache-dir", str(tmp_path / "cache"), server.url(path))
        assert code == 0
        only_the_manifest(server, path)
    info = json.loads(text)
    assert info["path"] == server.url(path)
    assert info["shard_sizes_fetched"] is False
    for key in ("format", "generatedBy", "convertedBy", "kind", "total_weights", "total_elements"):
        assert info[key] == local[key], key
    assert info["groups"] == [{"paths": g["paths"], "bytes": None} for g in local["groups"]]
    assert info["sidecars"] == []
    after_string: set[int] = set()  # groups where a string with elements came earlier
    for got, want in zip(info["weights"], local["weights"], strict=True):
        for key in ("name", "shape", "dtype", "quantization", "group", "manifest_group"):
            assert got[key] == want[key], (want["name"], key)
        gi = want["manifest_group"]
        sized = want["dtype"] != "string" or want["bytes"] == 0
        assert got["bytes"] == (want["bytes"] if sized else None), want["name"]
        assert got["offset"] == (None if gi in after_string else want["offset"]), want["name"]
        one_path = len(local["groups"][gi]["paths"]) == 1
        assert got["shards"] == (want["shards"] if one_path or want["bytes"] == 0 else None), want["name"]
        if not sized:
            after_string.add(gi)
    strings = any(w["dtype"] == "string" and w["bytes"] for w in local["weights"])
    assert info["total_bytes"] == (None if strings else local["total_bytes"])


def test_table_of_a_many_shard_model_then_conditional_get_offline_and_probe(tmp_path):
    folder = many_shards(tmp_path / "m")  # 12 float32 weights of 4000 bytes in 49 shards of 999 bytes
    cache = str(tmp_path / "cache")
    code, local = run("inspect", str(folder))
    assert code == 0
    described = local.splitlines()[0].removeprefix(str(folder / "model.json"))  # ": model, convertedBy tfjs_codec X.Y.Z"
    assert described.startswith(": model, convertedBy tfjs_codec ")
    with serve(folder) as server:
        url = server.url("model.json")
        code, text = run("inspect", url, "--cache-dir", cache)
        assert code == 0
        only_the_manifest(server, "model.json")
        lines = text.splitlines()
        assert lines[0] == f"{url}{described}; shard sizes not fetched (--probe fetches them with HEAD requests)"
        assert lines[1].split() == ["name", "shape", "dtype", "quantization", "group", "shards", "bytes"]
        rows = [line.split() for line in lines[3:15]]
        assert rows == [[f"layer{i}/kernel", "[1000]", "float32", "-", "-", "?", "4,000"] for i in range(12)]
        assert lines[15:] == [
            "shards ? in group 0: group1-shard1of49.bin .. group1-shard49of49.bin (49)",
            "12 weights, 12,000 elements, 48,000 bytes in 49 shard file(s), 1 group(s)",
        ]
        assert local.splitlines()[-1] == lines[-1]

        server.log.clear()
        server.sent.clear()
        assert run("inspect", url, "--cache-dir", cache) == (0, text)  # revalidated: one conditional GET, a 304
        only_the_manifest(server, "model.json")
        assert server.sent["model.json"] == 0

        server.log.clear()
        code, probed = run("inspect", url, "--cache-dir", cache, "--probe")  # today's load: HEAD per shard
        assert code == 0
        assert {m for m, p, _ in server.log if p != "model.json"} == {"HEAD"}
        assert len([p for m, p, _ in server.log if m == "HEAD"]) == 49
        assert server.shard_bytes() == 0
        assert probed.splitlines()[1:] == local.splitlines()[1:]
        assert probed.splitlines()[0] == f"{url}{described}"
    assert run("inspect", url, "--cache-dir", cache, "--offline") == (0, text)  # the server is gone: no request


def test_strings_show_question_marks_for_bytes_and_totals(tmp_path):
    case = "py_write_weights_all_dtypes"
    path = f"{case}/weights_manifest.json"
    with serve(FIXTURES) as server:
        code, text = run("inspect", "--no-cache", server.url(path))
        assert code == 0
        only_the_manifest(server, path)
    lines = text.splitlines()
    assert lines[0] == f"{server.url(path)}: weights manifest; shard sizes not fetched (--probe fetches them with HEAD requests)"
    table = {line.split()[0]: line.split()[1:] for line in lines[3:23]}
    assert table["strings/string"] == ["[5]", "string", "-", "-", "?", "?"]
    assert table["empty/string"] == ["[0,2]", "string", "-", "-", "-", "0"]
    assert table["cplx/complex64"] == ["[4]", "complex64", "-", "-", "?", "32"]
    assert lines[23:] == [
        "shards ? in group 0: group1-shard1of7.bin .. group1-shard7of7.bin (7)",
        "shards ? in group 1: group2-shard1of2.bin .. group2-shard2of2.bin (2)",
        "20 weights, 112 elements, 409 bytes + 3 string weight(s) of unknown size in 9 shard file(s), 2 group(s)",
    ]


def test_one_shard_groups_name_their_shard(tmp_path):
    case = "tfjs_quantized_manual"
    with serve(FIXTURES) as server:
        code, text = run("inspect", "--no-cache", server.url(f"{case}/model.json"))
    assert code == 0
    table = {line.split()[0]: line.split()[1:] for line in text.splitlines()[3:12]}
    assert table["q/u16_f32"] == ["[7]", "float32", "uint16", "-", "?", "14"]
    assert table["plain/f32"] == ["[2,2]", "float32", "-", "-", "group2-shard1of1.bin", "16"]
    assert table["q/u16_i32_empty"] == ["[0,2]", "int32", "uint16", "-", "-", "0"]
    assert text.splitlines()[12:] == [
        "shards ? in group 0: group1-shard1of2.bin .. group1-shard2of2.bin (2)",
        "9 weights, 66 elements, 109 bytes in 3 shard file(s), 2 group(s)",
    ]


def test_missing_shards_do_not_matter_without_probe(tmp_path, capsys):
    folder = tmp_path / "m"
    shutil.copytree(FIXTURES / "browser_dense", folder)
    (folder / "model.weights.bin").unlink()
    with serve(folder) as server:
        url = server.url("model.json")
        assert run("inspect", "--no-cache", url)[0] == 0
        only_the_manifest(server, "model.json")
        assert run("inspect", "--no-cache", "--probe", url)[0] == 2
    assert (
        capsys.readouterr().err
        == f"tfjs-codec: error: ./model.weights.bin: HTTP 404 Not Found from {server.url('model.weights.bin')}\n"
    )


def test_manifest_errors(tmp_path, capsys):
    with serve(tmp_path) as server:
        url = server.url("model.json")
        assert run("inspect", "--no-cache", url)[0] == 2
        assert capsys.readouterr().err == f"tfjs-codec: error: model.json: HTTP 404 Not Found from {url}\n"
        (tmp_path / "model.json").write_text(
            json.dumps({"weightsManifest": [{"paths": ["//evil.invalid/x.bin"], "weights": []}]})
        )
        assert run("inspect", "--no-cache", url)[0] == 2
        assert capsys.readouterr().err == (
            "tfjs-codec: error: model.json: weightsManifest[0].paths[0]: path '//evil.invalid/x.bin' points to another host; "
            "shard paths are relative to the manifest's URL (weight_path_prefix or weight_url_converter say where else "
            "to fetch them)\n"
        )
        with pytest.raises(SystemExit, match=r"^tfjs-codec inspect: --member applies to archives, not to http://"):
            run("inspect", "--no-cache", "--member", "a/model.json", url)
        assert [p for _, p, _ in server.log] == ["model.json", "model.json"]
