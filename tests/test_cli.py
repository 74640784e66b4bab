"""The tfjs-codec command line: inspect, convert, verify."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import FIXTURES, dir_bytes, model_files, same_bits

import tfjs_codec as tc
from tfjs_codec.cli import main
from tfjs_codec.weight_files import read_safetensors, write_safetensors


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_inspect_table_lists_every_weight_and_totals():
    code, text = run("inspect", str(FIXTURES / "tfjs_converter_dense_uint8"))
    assert code == 0
    lines = text.splitlines()
    assert lines[0].endswith(
        "model.json: model, format layers-model, generatedBy keras v2.19.0, convertedBy TensorFlow.js Converter v4.22.0"
    )
    assert lines[1].split() == ["name", "shape", "dtype", "quantization", "group", "shards", "bytes"]
    row = next(line for line in lines if line.startswith("dense_1/kernel"))
    assert row.split() == [
        "dense_1/kernel",
        "[32,16]",
        "float32",
        "uint8",
        "-",
        "group1-shard2of4.bin",
        "..",
        "group1-shard4of4.bin",
        "(3)",
        "512",
    ]
    assert lines[-1] == "6 weights, 884 elements, 884 bytes in 4 shard file(s), 1 group(s)"


def test_inspect_json():
    code, text = run("inspect", "--json", str(FIXTURES / "browser_dense_optimizer"))
    info = json.loads(text)
    assert code == 0 and info["format"] == "layers-model"
    it = next(w for w in info["weights"] if w["name"] == "iter")
    assert it == {
        "name": "iter", "shape": [], "dtype": "int32", "quantization": None, "group": "optimizer",
        "manifest_group": 0, "offset": it["offset"], "bytes": 4, "shards": ["./model.weights.bin"],
    }
    assert info["total_bytes"] == sum(w["bytes"] for w in info["weights"])


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_convert_to_weights_file_and_back_is_byte_identical(tmp_path, suffix):
    source = FIXTURES / "tfjs_converter_dense_mixed"
    target = tmp_path / f"w{suffix}"
    assert run("convert", str(source), str(target))[0] == 0
    code, text = run("convert", str(target), str(tmp_path / "back"), "--like", str(source))
    assert code == 0 and text.startswith("wrote ")
    assert dir_bytes(tmp_path / "back") == model_files(source)


def test_convert_requantizes_and_reshards(tmp_path):
    source = FIXTURES / "tfjs_converter_dense_float32"
    code, _ = run("convert", str(source), str(tmp_path / "q"), "--quantize", "uint8", "--shard-size", "200")
    assert code == 0
    with tc.load(tmp_path / "q") as m:
        assert {s.quantization["dtype"] for s in m.specs.values()} == {"uint8"}
        assert m.buffers[0].sizes[0] == 200
    code, _ = run("convert", str(source), str(tmp_path / "m"), "--quantize", '{"uint8": ["*/kernel"], "float16": true}')
    with tc.load(tmp_path / "m") as m:
        assert {n: s.quantization["dtype"] for n, s in m.specs.items()} == {
            n: ("uint8" if n.endswith("kernel") else "float16") for n in m.specs
        }


def test_safetensors_matches_the_format(tmp_path):
    weights = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.array([True, False]),
        "c": np.array([1 + 1j], np.complex64),
    }
    write_safetensors(tmp_path / "w.safetensors", weights, metadata={"k": "v"})
    raw = (tmp_path / "w.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    assert n % 8 == 0
    assert header == {
        "__metadata__": {"k": "v"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "BOOL", "shape": [2], "data_offsets": [24, 26]},
        "c": {"dtype": "C64", "shape": [1], "data_offsets": [26, 34]},
    }
    back = read_safetensors(tmp_path / "w.safetensors")
    assert back.metadata == {"k": "v"}
    for k, v in weights.items():
        assert same_bits(back[k], v)
    assert back["a"].flags.writeable


def test_safetensors_package_reads_our_files_when_installed(tmp_path):
    st = pytest.importorskip("safetensors.numpy", reason="the optional safetensors package is not installed")
    weights = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.arange(3, dtype=np.int32)}
    write_safetensors(tmp_path / "w.safetensors", weights)
    loaded = st.load_file(str(tmp_path / "w.safetensors"))
    assert all(same_bits(loaded[k], v) for k, v in weights.items())


def test_strings_cannot_go_to_safetensors(tmp_path):
    code = main(["convert", str(FIXTURES / "tfjs_encode_all_dtypes"), str(tmp_path / "w.safetensors")], out=io.StringIO())
    assert code == 2
    assert not (tmp_path / "w.safetensors").exists()


def test_malformed_safetensors_header(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes((1000).to_bytes(8, "little") + b"{}")
    with pytest.raises(
        tc.TfjsFormatError, match=r"^bad.safetensors: header: header length 1000 does not fit the file's 10 bytes$"
    ):
        read_safetensors(path)
    header = json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    with pytest.raises(tc.TfjsFormatError) as err:
        read_safetensors(path)
    assert (
        str(err.value)
        == "bad.safetensors: weight 'a': data_offsets: data_offsets [0, 8] do not fit dtype F32 shape [4] in 8 data bytes"
    )


def test_verify_ok_and_failing(tmp_path, capsys):
    code, text = run("verify", str(FIXTURES / "tfjs_converter_dense_uint16"))
    assert code == 0 and text == "OK: 6 weights decoded, 0 problem(s)\n"
    code, text = run("verify", str(FIXTURES / "tfjs_encode_all_dtypes"))
    assert code == 1
    assert "problem: weight 'f32/specials': 4 NaN and 2 infinite value(s)" in text.splitlines()
    code, text = run("verify", "--allow-nonfinite", str(FIXTURES / "tfjs_encode_all_dtypes"))
    assert code == 0
    folder = tmp_path / "m"
    tc.save(folder, {"w": np.ones(4, np.float32)}, shard_size=8)
    (folder / "group1-shard2of2.bin").write_bytes(bytes(3))
    code, text = run("verify", "--json", str(folder))
    report = json.loads(text)
    assert code == 1 and report["problems"] == [
        "model.json: weight 'w': shape: needs 16 bytes at offset 0 of group 0, but its shards (group1-shard1of2.bin, "
        "group1-shard2of2.bin) hold 11 bytes in all"
    ]


def test_errors_go_to_stderr_with_status_2(tmp_path, capsys):
    (tmp_path / "model.json").write_text("{")
    code, _ = run("inspect", str(tmp_path))
    assert code == 2
    assert (
        capsys.readouterr().err
        == "tfjs-codec: error: model.json: malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2\n"
    )


def test_python_dash_m_and_help():
    result = subprocess.run([sys.executable, "-m", "tfjs_codec", "--help"], capture_output=True, text=True, check=True)
    for command in ("inspect", "convert", "verify"):
        assert command in result.stdout


def test_npz_weights_may_have_any_name(tmp_path):
    from tfjs_codec.weight_files import read_npz, write_npz

    weights = {"file": np.arange(3, dtype=np.float32), "allow_pickle": np.ones(2, bool), "d/kernel": np.eye(2, dtype=np.float32)}
    write_npz(tmp_path / "w.npz", weights)
    back = read_npz(tmp_path / "w.npz")
    assert list(back) == list(weights)
    assert all(same_bits(back[k], v) for k, v in weights.items())
    assert sorted(np.load(tmp_path / "w.npz").files) == sorted(weights)  # numpy reads it too


@pytest.mark.parametrize(
    "argv, message",
    [
        (["verify", "--timeout", "5"], "tfjs-codec verify: --timeout applies to URLs, not to "),
        (["inspect", "--offline", "--no-cache"], "tfjs-codec inspect: --cache-dir, --offline apply to URLs, not to "),
        (["verify", "--member", "a/model.json"], "tfjs-codec verify: --member applies to archives, not to "),
    ],
)
def test_source_options_that_do_not_fit_the_path_are_refused(argv, message):
    folder = str(FIXTURES / "browser_dense")
    with pytest.raises(SystemExit) as err:
        main(argv + [folder], out=io.StringIO())
    assert str(err.value) == message + folder


@pytest.mark.parametrize(
    "dest,why",
    [
        ("model.h5", "Keras HDF5 files are not written by tfjs-codec"),
        ("weights.bin2", "'.bin2' is not an output kind tfjs-codec writes"),
    ],
)
def test_convert_refuses_an_output_kind_it_does_not_write(tmp_path, capsys, dest, why):
    """`convert model.json out.onnx` used to exit 0 after writing a tfjs model into a directory named
    out.onnx: an ending that names another kind of file is an error, and nothing is written."""
    target = tmp_path / dest
    with pytest.raises(SystemExit) as e:
        main(["convert", str(FIXTURES / "tfjs_converter_dense_float32"), str(target)])
    assert str(e.value) == (
        f"tfjs-codec convert: cannot write {target}: {why}. Outputs: a directory or a .json path (a TensorFlow.js "
        "model), an archive (.zip, .tar, .tar.gz, .tgz, .tar.bz2, .tbz2, .tar.xz, .txz), .npz / .safetensors "
        "(the decoded weights), or .onnx / .pt2 (the model as ONNX / a torch.export program); a directory whose "
        "name has a dot: create it first, or end the name with '/'"
    )
    assert not target.exists()


def test_convert_into_a_directory_whose_name_has_a_dot(tmp_path):
    """An existing directory, or a name ending with '/', is a directory whatever its dots."""
    made = tmp_path / "model.v2"
    made.mkdir()
    assert main(["convert", str(FIXTURES / "tfjs_converter_dense_float32"), str(made), "--quiet"]) == 0
    assert (made / "model.json").is_file()
    fresh = tmp_path / "model.v3"
    assert main(["convert", str(FIXTURES / "tfjs_converter_dense_float32"), str(fresh) + "/", "--quiet"]) == 0
    assert (fresh / "model.json").is_file()
