"""A catalogue of hand-made hostile models, each with the exact error it must give.

Shard files are only ever written under names the test chose itself: a hostile
``paths`` entry is put in the manifest, never used to create a file.
"""

from __future__ import annotations

import gzip
import json
import os
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

import tfjs_codec as tc
from tfjs_codec import gzipped
from tfjs_codec.shards import MemoryGroup
from tfjs_codec.verify import verify


def f32(*values: float) -> bytes:
    return np.array(values, dtype="<f4").tobytes()


def w(name: str, shape: list, dtype: str = "float32", **extra) -> dict:
    return {"name": name, "shape": shape, "dtype": dtype, **extra}


def make_model(
    folder: Path, weights: list, files: dict[str, bytes], paths: list[str] | None = None, text: bytes | None = None
) -> Path:
    """A model.json naming ``paths`` (default: the files' names) + the given files."""
    folder.mkdir()
    for name, data in files.items():
        assert "/" not in name and ":" not in name
        (folder / name).write_bytes(data)
    if text is None:
        doc = {"weightsManifest": [{"paths": paths if paths is not None else list(files), "weights": weights}]}
        text = json.dumps(doc).encode()
    (folder / "model.json").write_bytes(text)
    return folder


def load_error(folder: Path, **kw) -> str:
    with pytest.raises(tc.TfjsFormatError) as info:
        with tc.load(folder, **kw) as model:
            for name in model.specs:
                model[name]
    return str(info.value)


# (case id, weights, files, paths, expected message)
CATALOGUE = [
    ("dotdot", [w("a", [1])], {"x.bin": f32(1)}, ["../x.bin"],
     "model.json: weightsManifest[0].paths[0]: path '../x.bin' leaves the model's directory"),
    ("dotdot-inner", [w("a", [1])], {"x.bin": f32(1)}, ["sub/../../x.bin"],
     "model.json: weightsManifest[0].paths[0]: path 'sub/../../x.bin' leaves the model's directory"),
    ("absolute", [w("a", [1])], {}, ["/etc/passwd"],
     "model.json: weightsManifest[0].paths[0]: absolute path '/etc/passwd' is not allowed; "
     "shard paths are relative to the model"),
    ("windows-absolute", [w("a", [1])], {}, ["C:\\weights.bin"],
     "model.json: weightsManifest[0].paths[0]: absolute path 'C:\\\\weights.bin' is not allowed; "
     "shard paths are relative to the model"),
    ("url", [w("a", [1])], {}, ["https://example.com/x.bin"],
     "model.json: weightsManifest[0].paths[0]: URL 'https://example.com/x.bin' is not allowed in a local model; "
     "shard paths are relative to the model"),
    ("protocol-relative-url", [w("a", [1])], {}, ["//example.com/x.bin"],
     "model.json: weightsManifest[0].paths[0]: absolute path '//example.com/x.bin' is not allowed; "
     "shard paths are relative to the model"),
    ("nul", [w("a", [1])], {}, ["x\x00.bin"],
     "model.json: weightsManifest[0].paths[0]: contains a NUL character: 'x\\x00.bin'"),
    ("2^40-elements", [w("a", [2**20, 2**20])], {"s.bin": f32(1)}, None,
     "model.json: weight 'a': shape: needs 4398046511104 bytes at offset 0 of group 0, but its shards (s.bin) hold 4 "
     "bytes in all"),
    ("negative-dim", [w("a", [-3])], {"s.bin": f32(1)}, None,
     "model.json: weight 'a': shape: dimension -3 is negative"),
    ("float-dim", [w("a", [1.5])], {"s.bin": f32(1)}, None,
     "model.json: weight 'a': shape: dimension 1.5 is not an integer"),
    ("integral-float-dim", [w("a", [2.0])], {"s.bin": f32(1, 2)}, None,
     "model.json: weight 'a': shape: dimension 2.0 is not an integer"),
    ("bool-dim", [w("a", [True])], {"s.bin": f32(1)}, None,
     "model.json: weight 'a': shape: dimension True is not an integer"),
    ("rank-70", [w("a", [1] * 70)], {"s.bin": f32(1)}, None,
     "model.json: weight 'a': shape: 70 dimensions; numpy holds at most 64"
     if int(np.__version__.split(".")[0]) >= 2 else
     "model.json: weight 'a': shape: 70 dimensions; numpy holds at most 32"),
    ("zero-size-huge", [w("a", [0, 2**62])], {"s.bin": b""}, None,
     "model.json: weight 'a': shape: 4611686018427387904 elements (zero dimensions aside) is more than "
     "9007199254740992, the most any array can hold"),
    ("string-past-end", [w("s", [2], "string")], {"s.bin": b"\x01\x00\x00\x00a\xff\x00\x00\x00b"}, None,
     "model.json: weight 's': data: string 1 of 255 bytes at offset 9 runs past the end of the data (10 bytes in s.bin)"),
    ("string-prefix-past-end", [w("s", [2], "string")], {"s.bin": b"\x01\x00\x00\x00a\x00\x00\x00"}, None,
     "model.json: weight 's': data: length of string 1 at offset 5 runs past the end of the data (8 bytes in s.bin)"),
    ("many-strings", [w("s", [2**30], "string")], {"s.bin": b"\x00" * 8}, None,
     "model.json: weight 's': shape: 1073741824 strings need at least 4294967296 bytes at offset 0, but only 8 remain in s.bin"),
    ("quantized-no-scale", [w("q", [1], quantization={"dtype": "uint8", "min": 0})], {"s.bin": b"\x01"}, None,
     "model.json: weight 'q': quantization.scale: uint8 quantization needs both 'min' and 'scale'; 'scale' is missing"),
]


@pytest.mark.parametrize("case", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_hostile_manifest(tmp_path, case):
    _, weights, files, paths, message = case
    folder = make_model(tmp_path / "m", weights, files, paths)
    assert load_error(folder) == message
    assert load_error(folder, mmap=False) == message
    assert verify(folder).problems == [message]


# Quantization parameters as JSON tokens: Python's json parses NaN and Infinity.
SCALE_TOKENS = [
    ("NaN", "scale", "nan"),
    ("Infinity", "scale", "inf"),
    ("-Infinity", "min", "-inf"),
    ("1e999", "scale", "inf"),  # overflows to inf while parsing
]


@pytest.mark.parametrize("token,key,shown", SCALE_TOKENS, ids=[t[0] for t in SCALE_TOKENS])
def test_quantization_parameter_not_finite(tmp_path, token, key, shown):
    other = "min" if key == "scale" else "scale"
    text = (
        '{"weightsManifest":[{"paths":["s.bin"],"weights":[{"name":"q","shape":[1],"dtype":"float32",'
        f'"quantization":{{"dtype":"uint8","{key}":{token},"{other}":1}}}}]}}]}}'
    ).encode()
    folder = make_model(tmp_path / "m", [], {"s.bin": b"\x01"}, text=text)
    assert load_error(folder) == f"model.json: weight 'q': quantization.{key}: must be finite, got {shown}"


def test_duplicate_names_across_groups(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a.bin").write_bytes(f32(1))
    (folder / "b.bin").write_bytes(f32(2))
    doc = {"weightsManifest": [{"paths": ["a.bin"], "weights": [w("k", [1])]}, {"paths": ["b.bin"], "weights": [w("k", [1])]}]}
    (folder / "model.json").write_text(json.dumps(doc))
    assert load_error(folder) == "model.json: weight 'k': name: duplicate name (first in weightsManifest[0])"


def test_symlink_out_of_the_model_directory(tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(f32(1))
    folder = make_model(tmp_path / "m", [w("a", [1])], {}, ["s.bin"])
    (folder / "s.bin").symlink_to(outside)
    message = (
        "model.json: weightsManifest[0].paths[0]: path 's.bin' resolves outside the model's directory "
        "(through a symbolic link)"
    )
    assert load_error(folder) == message
    # a link that stays inside is fine
    (folder / "s.bin").unlink()
    (folder / "real.bin").write_bytes(f32(7))
    (folder / "s.bin").symlink_to("real.bin")
    with tc.load(folder) as model:
        assert model["a"].tolist() == [7.0]


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_shard_that_is_not_a_regular_file(tmp_path, kind):
    # a FIFO would block open() forever; a directory fails with IsADirectoryError
    folder = make_model(tmp_path / "m", [w("a", [1])], {}, ["s.bin"])
    if kind == "directory":
        (folder / "s.bin").mkdir()
    else:
        os.mkfifo(folder / "s.bin")
    assert load_error(folder) == "model.json: weightsManifest[0].paths[0]: path 's.bin' is not a regular file"


def test_not_utf8_model_json(tmp_path):
    text = '{"weightsManifest":[],"generatedBy":"caf\xe9"}'.encode("latin-1")
    folder = make_model(tmp_path / "m", [], {}, text=text)
    assert load_error(folder) == "model.json: not UTF-8 text (byte 40)"


def test_integer_literal_too_long_for_python(tmp_path):
    text = b'{"weightsManifest":[{"paths":[],"weights":[{"name":"a","shape":[' + b"1" * 5000 + b'],"dtype":"float32"}]}]}'
    folder = make_model(tmp_path / "m", [], {}, text=text)
    assert load_error(folder) == "model.json: malformed JSON: an integer with more digits than Python converts"


def test_200mb_single_line_json_is_refused_without_reading_it_all(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    size = 200 * 1024 * 1024
    head = b'{"weightsManifest":[],"modelTopology":"'
    with open(folder / "model.json", "wb") as f:
        f.write(head)
        block = b"a" * (1 << 20)
        left = size - len(head) - 2
        while left:
            f.write(block[: min(left, len(block))])
            left -= min(left, len(block))
        f.write(b'"}')
    assert (folder / "model.json").stat().st_size == size
    tracemalloc.start()
    try:
        message = load_error(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == (
        f"model.json: larger than {gzipped.MAX_MANIFEST_BYTES} bytes, the limit for a manifest "
        "(pass max_manifest_bytes= to read a larger one)"
    )
    # at most the limit (+1 byte) is read, never the 200 MB, and nothing is parsed
    assert peak < gzipped.MAX_MANIFEST_BYTES + (8 << 20)


def test_manifest_limit_can_be_raised(tmp_path, monkeypatch):
    text = json.dumps({"weightsManifest": [{"paths": ["s.bin"], "weights": [w("a", [1])]}], "pad": "x" * 5000}).encode()
    folder = make_model(tmp_path / "m", [], {"s.bin": f32(3)}, text=text)
    monkeypatch.setattr(gzipped, "MAX_MANIFEST_BYTES", 4096)
    assert load_error(folder).startswith("model.json: larger than 4096 bytes, the limit for a manifest")
    monkeypatch.setattr(gzipped, "MAX_MANIFEST_BYTES", 8192)
    with tc.load(folder) as model:
        assert model["a"].tolist() == [3.0]


def test_gzip_bomb_model_json(tmp_path, monkeypatch):
    monkeypatch.setattr(gzipped, "MAX_MANIFEST_BYTES", 1 << 20)
    bomb = gzip.compress(b'{"weightsManifest":[],"x":"' + b" " * (50 << 20) + b'"}', mtime=0)
    assert len(bomb) < 100_000
    folder = make_model(tmp_path / "m", [], {}, text=bomb)
    assert load_error(folder) == (
        "model.json: larger than 1048576 bytes, the limit for a manifest "
        "(pass max_manifest_bytes= to read a larger one) once decompressed"
    )


# --- gzip-compressed files, read transparently -------------------------------------------


def test_gzip_model_json_and_shard_read_transparently(tmp_path):
    plain = f32(1.5, -2.0, 3.25)
    doc = {"weightsManifest": [{"paths": ["w.bin"], "weights": [w("a", [3])]}]}
    folder = make_model(
        tmp_path / "m", [], {"w.bin": gzip.compress(plain, mtime=0)}, text=gzip.compress(json.dumps(doc).encode(), mtime=0)
    )
    for use_mmap in (True, False):
        with tc.load(folder, mmap=use_mmap) as model:
            assert model["a"].tobytes() == plain
    assert verify(folder).ok


def test_gzip_shard_with_gz_name(tmp_path):
    plain = f32(4.0, 5.0)
    folder = make_model(tmp_path / "m", [w("a", [2])], {"w.bin.gz": gzip.compress(plain, mtime=0)})
    with tc.load(folder) as model:
        assert model["a"].tobytes() == plain


def test_gzip_only_some_shards_of_a_group(tmp_path):
    first, second = f32(1, 2, 3, 4, 5, 6), f32(7, 8)
    folder = make_model(tmp_path / "m", [w("a", [8])], {"s1.bin": gzip.compress(first, mtime=0), "s2.bin": second})
    with tc.load(folder) as model:
        assert model["a"].tobytes() == first + second


def test_gzip_string_group(tmp_path):
    plain = b"\x02\x00\x00\x00hi\x00\x00\x00\x00"
    folder = make_model(tmp_path / "m", [w("s", [2], "string")], {"s.bin": gzip.compress(plain, mtime=0)})
    with tc.load(folder) as model:
        assert model["s"].tolist() == [b"hi", b""]


def raw_starting_with_gzip_magic(count: int) -> bytes:
    """float32 values whose first bytes are 1f 8b 08 00, followed by more data."""
    values = np.arange(count, dtype="<f4")
    raw = bytearray(values.tobytes())
    raw[:4] = b"\x1f\x8b\x08\x00"
    return bytes(raw)


def test_raw_shard_that_starts_with_the_gzip_magic_is_not_decompressed(tmp_path):
    raw = raw_starting_with_gzip_magic(64)
    folder = make_model(tmp_path / "m", [w("a", [64])], {"s.bin": raw})
    with tc.load(folder) as model:
        assert model["a"].tobytes() == raw
        assert not isinstance(model.buffers[0], MemoryGroup)  # the file itself, not a gunzipped copy


def test_raw_shard_with_gzip_magic_and_wrong_size_reports_the_size(tmp_path):
    raw = raw_starting_with_gzip_magic(64)
    folder = make_model(tmp_path / "m", [w("a", [65])], {"s.bin": raw})
    assert load_error(folder) == (
        "model.json: weight 'a': shape: needs 260 bytes at offset 0 of group 0, but its "
        "shards (s.bin) hold 256 bytes in all"
    )


def test_gzip_shard_with_lying_trailer(tmp_path):
    gz = bytearray(gzip.compress(f32(1, 2), mtime=0))
    gz[-4:] = (16).to_bytes(4, "little")  # claims 16 bytes, holds 8
    folder = make_model(tmp_path / "m", [w("a", [4])], {"s.bin": bytes(gz)})
    # zlib itself checks the trailer's length against what came out
    assert load_error(folder) == "s.bin: corrupt gzip data: Error -3 while decompressing data: incorrect length check"


def test_truncated_gzip_shard(tmp_path):
    gz = gzip.compress(np.arange(1000, dtype="<f4").tobytes(), mtime=0)
    broken = gz[: len(gz) // 2] + gz[-4:]  # keep the size trailer, lose the middle
    folder = make_model(tmp_path / "m", [w("a", [1000])], {"s.bin": broken})
    assert load_error(folder) == "s.bin: gzip data end early (truncated file?)"


# --- a shard shortened after load -----------------------------------------------------------


@pytest.mark.parametrize("use_mmap", [True, False])
def test_shard_truncated_after_load_is_detected_before_any_view(tmp_path, use_mmap):
    folder = make_model(tmp_path / "m", [w("a", [4]), w("b", [4])], {"s1.bin": f32(1, 2, 3, 4), "s2.bin": f32(5, 6, 7, 8)})
    with tc.load(folder, mmap=use_mmap) as model:
        assert model["a"].tolist() == [1, 2, 3, 4]  # s1 opened; s2 not yet
        os.truncate(folder / "s2.bin", 8)
        with pytest.raises(tc.TfjsFormatError) as info:
            model["b"]
    assert str(info.value) == "s2.bin: file changed size since the model was opened (16 -> 8 bytes)"


def test_verify_reports_a_short_shard(tmp_path):
    folder = make_model(tmp_path / "m", [w("a", [4])], {"s.bin": f32(1, 2, 3, 4)})
    os.truncate(folder / "s.bin", 10)
    assert verify(folder).problems == [
        "model.json: weight 'a': shape: needs 16 bytes at offset 0 of group 0, but its shards (s.bin) hold 10 bytes in all"
    ]


def test_missing_shard(tmp_path):
    folder = make_model(tmp_path / "m", [w("a", [1])], {}, ["gone.bin"])
    assert load_error(folder) == "gone.bin: missing shard file"


def test_no_warning_leaks_as_error_for_overflowing_quantization(tmp_path):
    # scale * 65535 + min overflows float32 (and float64 for huge values): decoded as inf, quietly
    weight = w("q", [2], quantization={"dtype": "uint16", "scale": 1e308, "min": 1e308})
    folder = make_model(tmp_path / "m", [weight], {"s.bin": b"\x00\x00\xff\xff"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with tc.load(folder) as model:
            assert model["q"].tolist() == [np.inf, np.inf]
