"""tfjs-core 4.22 in Node reads what this project writes (needs node + js/node_modules)."""

from __future__ import annotations

import json
import subprocess
import warnings

import numpy as np
import pytest
from conftest import FIXTURES, JS, read_decoded, require_node, same_bits

import tfjs_codec as tc


def node_decode(node: str, folder, out) -> dict[str, np.ndarray]:
    """What tfjs-core's decodeWeights gives for the model in ``folder``."""
    subprocess.run([node, str(JS / "decode.mjs"), str(folder), "--out", str(out)], check=True, capture_output=True, timeout=120)
    return read_decoded(out)


def test_tfjs_decodes_every_dtype_and_quantization_we_write(tmp_path):
    node = require_node()
    rng = np.random.default_rng(7)
    special = np.array([np.nan, -0.0, np.inf, -np.inf, 1e-45, 3.4e38], np.float32)
    special[0] = np.frombuffer(np.uint32(0x7FC01234).tobytes(), np.float32)[0]  # a NaN payload
    weights = {
        "f32": rng.normal(size=(7, 5)).astype(np.float32),
        "specials": special,
        "scalar": np.float32(2.5),
        "empty": np.zeros((0, 3), np.float32),
        "i32": np.array([-(2**31), 0, 2**31 - 1], np.int32),
        "bool": np.array([True, False, True]),
        "strings": np.array([b"", "h\u00e9llo".encode(), b"\xff\x00"], dtype=object),
        "no_strings": np.empty((0,), dtype=object),
        "c64": np.array([1 + 2j, -0.0 - 3j], np.complex64),
        "q8": rng.normal(size=300).astype(np.float32),
        "q16": rng.uniform(0.5, 3, size=(10, 10)).astype(np.float32),
        "h16": rng.normal(size=50).astype(np.float32) * 1000,
    }
    quantize = {"uint8": ["q8"], "uint16": ["q16"], "float16": ["h16"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tc.save(tmp_path / "m", weights, quantize=quantize, shard_size=37)
    got = node_decode(node, tmp_path / "m", tmp_path)
    with tc.load(tmp_path / "m") as model:
        assert len(model.groups[0].paths) > 10
        assert list(got) == list(model.specs)
        for name in model.specs:
            assert same_bits(model[name], got[name]), name


def test_tfjs_decodes_int32_quantized_weights_we_write(tmp_path):
    node = require_node()
    # a model whose int32 weight is uint8-quantized (kept kind on re-save)
    source = FIXTURES / "tfjs_quantized_manual"
    with tc.load(source) as model:
        weights = {k: v.copy() for k, v in model.weights.items()}
        int_names = [n for n, s in model.specs.items() if s.quantization and s.dtype == "int32"]
        assert int_names
        for n in int_names:
            weights[n] = weights[n] + 3
        tc.save(tmp_path / "m", weights, like=model)
    got = node_decode(node, tmp_path / "m", tmp_path)
    with tc.load(tmp_path / "m") as new:
        for name in new.specs:
            assert same_bits(new[name], got[name]), name
        for n in int_names:
            assert new.specs[n].quantization["dtype"] in ("uint8", "uint16")


def _forward_dense(model: tc.Model, x: np.ndarray) -> np.ndarray:
    layers = model.json["modelTopology"]["config"]["layers"]
    h = x.astype(np.float64)
    for layer in layers:
        cfg = layer["config"]
        name = cfg["name"]
        kernel = next(v for k, v in model.weights.items() if k.startswith(name + "/") and k.endswith("kernel"))
        bias = next(v for k, v in model.weights.items() if k.startswith(name + "/") and k.endswith("bias"))
        h = h @ kernel.astype(np.float64) + bias
        if cfg["activation"] == "relu":
            h = np.maximum(h, 0)
        elif cfg["activation"] == "softmax":
            h = np.exp(h - h.max(axis=-1, keepdims=True))
            h /= h.sum(axis=-1, keepdims=True)
    return h


@pytest.mark.parametrize("quantize", [None, "uint16"])
def test_tfjs_loads_a_layers_model_we_saved_and_predicts(tmp_path, quantize):
    node = require_node()
    source = FIXTURES / "browser_dense"
    record = json.loads((source / "predict.json").read_text())
    x = np.array(record["input"]["data"], np.float32).reshape(record["input"]["shape"])
    with tc.load(source) as model:
        weights = {k: v * np.float32(0.5) if k.endswith("kernel") else v + np.float32(0.1) for k, v in model.weights.items()}
        tc.save(tmp_path / "m", weights, like=model, quantize=quantize)
    (tmp_path / "in.json").write_text(json.dumps(record["input"]))
    subprocess.run(
        [node, str(JS / "predict.mjs"), str(tmp_path / "m"), str(tmp_path / "in.json"), str(tmp_path / "out.json")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    out = json.loads((tmp_path / "out.json").read_text())
    with tc.load(tmp_path / "m") as saved:
        want = _forward_dense(saved, x)
        # sanity: the model really changed
        assert not np.allclose(want, np.array(record["output"]["data"]).reshape(want.shape), atol=1e-3)
    np.testing.assert_allclose(np.array(out["data"]).reshape(want.shape), want, atol=1e-5)
