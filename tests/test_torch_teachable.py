"""Teachable Machine bundles: metadata, input preprocessing, fine-tune -> files tfjs loads."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import FIXTURES, JS, dir_bytes, require_node, require_torch

import tfjs_codec as tc

CASE = "teachable_machine_image"


def _record() -> dict:
    return json.loads((FIXTURES / CASE / "predict.json").read_text())


def _pixels() -> np.ndarray:
    """The uint8 pixels the fixture's input was made from (js/make_nested_fixtures.mjs: pixel / 127 - 1)."""
    inp = _record()["input"]
    x = np.asarray(inp["data"], np.float32).reshape(inp["shape"])
    return np.round((x.astype(np.float64) + 1) * 127).astype(np.uint8)


def test_teachable_metadata_is_exposed_on_the_module():
    require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / CASE) as model:
        net = tct.to_module(model)
        assert net.teachable == tct.teachable_meta(model)
    tm = net.teachable
    assert (tm.kind, tm.labels, tm.image_size, tm.grayscale) == ("image", ["cat", "dog", "neither"], 32, False)
    assert (tm.package_name, tm.package_version, tm.tfjs_version, tm.model_name) == (
        "@teachablemachine/image", "0.8.5", "4.22.0", "tm-my-image-model"
    )
    assert net.ml5 is None
    # The Teachable Machine nesting: Sequential[Sequential[MobileNet (functional), pooling], Sequential head].
    assert list(net.layers) == ["sequential_1", "sequential_3"]
    assert list(net.layers["sequential_1"].layers) == ["model1", "global_average_pooling2d_GlobalAveragePooling2D1"]
    assert net.weight_names["Conv1/kernel"] == ("sequential_1.model1.Conv1", "kernel")
    assert net.weight_names["dense_Dense2/kernel"] == ("sequential_3.dense_Dense2", "kernel")
    # The older fixture (no imageSize would mean 224; this one says 224) and a model without metadata.json.
    with tc.load(FIXTURES / "teachable_machine") as model:
        old = tct.to_module(model).teachable
    assert (old.labels, old.image_size, old.package_version) == (["Class 1", "Class 2"], 224, "0.8.4-alpha2")
    with tc.load(FIXTURES / "ml5_bundle") as model:
        assert tct.teachable_meta(model) is None


def test_preprocess_gives_the_input_the_library_feeds():
    torch = require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / CASE) as model:
        net = tct.to_module(model)
    record = _record()
    pixels = _pixels()
    x = net.teachable.preprocess(pixels)
    want = np.asarray(record["input"]["data"], np.float32).reshape(record["input"]["shape"])
    assert x.dtype == torch.float32
    np.testing.assert_array_equal(x.numpy(), want)  # bit for bit: pixel / 127 - 1 in float32
    assert float(net.teachable.preprocess(np.full((32, 32, 3), 255, np.uint8)).max()) == np.float32(255 / 127 - 1)
    with torch.no_grad():
        probs = net(x)
    out = record["output"]
    np.testing.assert_allclose(probs.numpy(), np.asarray(out["data"], np.float32).reshape(out["shape"]), rtol=0, atol=1e-5)
    assert net.teachable.classify(probs) == [
        ["cat", "dog", "neither"][i] for i in np.asarray(out["data"]).reshape(out["shape"]).argmax(-1)
    ]
    # Another size: center square crop, then scaling to imageSize; one image without batch axis.
    wide = np.zeros((40, 64, 3), np.uint8)
    wide[:, 12:52] = 255
    assert tuple(net.teachable.preprocess(wide).shape) == (1, 32, 32, 3)
    np.testing.assert_allclose(net.teachable.preprocess(wide).numpy(), np.float32(255 / 127 - 1), rtol=0, atol=1e-6)
    with pytest.raises(ValueError) as err:
        net.teachable.preprocess(np.zeros((2, 32, 32, 4), np.uint8))
    assert str(err.value) == "images should be (H, W, 3) or (N, H, W, 3) RGB pixels, got shape [2, 32, 32, 4]"


def test_grayscale_audio_and_pose_metadata():
    torch = require_torch()
    from tfjs_codec.torch import TeachableMeta

    gray = TeachableMeta({"labels": ["a", "b"], "imageSize": 2, "grayscale": True, "packageName": "@teachablemachine/image"})
    px = np.array([[[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 20, 30]]]], np.uint8)
    want = (px.astype(np.float32) * np.float32([0.2989, 0.5870, 0.1140])).sum(-1, keepdims=True) / 127 - 1
    np.testing.assert_allclose(gray.preprocess(px).numpy(), want, rtol=0, atol=1e-6)

    audio = TeachableMeta(
        {"tfjsSpeechCommandsVersion": "0.4.0", "modelName": "tm-my-audio-model", "wordLabels": ["noise", "clap"]}
    )
    assert (audio.kind, audio.labels, audio.image_size) == ("audio", ["noise", "clap"], None)
    assert (audio.package_name, audio.package_version) == ("@tensorflow-models/speech-commands", "0.4.0")
    spec = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4, 1) ** 1.5
    got = audio.preprocess(torch.from_numpy(spec)).numpy()
    for i in range(2):  # tf.moments over the example, biased variance, + 1e-7 on the deviation
        e = spec[i].astype(np.float64)
        np.testing.assert_allclose(got[i], (e - e.mean()) / (e.std() + 1e-7), rtol=1e-6, atol=1e-6)

    pose = TeachableMeta({"labels": ["up", "down"], "packageName": "@teachablemachine/pose", "modelSettings": {}})
    assert (pose.kind, pose.image_size) == ("pose", None)
    with pytest.raises(ValueError) as err:
        pose.preprocess(np.zeros((1, 10)))
    assert str(err.value) == "a Teachable Machine pose model takes PoseNet outputs, which tfjs_codec does not compute"


def test_fine_tuned_teachable_model_predicts_the_same_in_tfjs(fixture_copy, tmp_path):
    # Train mode on the whole nested model: the MobileNet's BatchNormalization layers use batch
    # statistics and move their moving mean/variance, the head's Dense layers learn; save_module
    # writes every nested weight back, and tfjs in Node predicts what the module predicts.
    torch = require_torch()
    node = require_node()
    from tfjs_codec import torch as tct

    src = fixture_copy(CASE)
    out = tmp_path / "tuned"
    with tc.load(src) as model:
        net = tct.to_module(model)
        before = {k: v.copy() for k, v in net.tfjs_state().items()}
        x = net.teachable.preprocess(_pixels())
        target = torch.tensor([2, 0])
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        for _ in range(3):
            opt.zero_grad()
            torch.nn.functional.nll_loss(torch.log(net(x)), target).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            tuned = net(x).numpy()
        tct.save_module(out, net, like=model)

    assert sorted(p.name for p in out.iterdir()) == ["metadata.json", "model.json", "weights.bin"]
    assert (out / "metadata.json").read_bytes() == (src / "metadata.json").read_bytes()
    assert (out / "model.json").read_bytes() == (src / "model.json").read_bytes()
    with tc.load(out) as saved:
        changed = {n for n in before if not np.array_equal(saved[n], before[n])}
    assert changed == set(before)  # every weight moved, nested BatchNormalization statistics included

    (tmp_path / "in.json").write_text(json.dumps({"shape": list(x.shape), "data": x.reshape(-1).tolist()}))
    subprocess.run(
        [node, str(JS / "predict.mjs"), str(out), str(tmp_path / "in.json"), str(tmp_path / "pred.json")],
        check=True, capture_output=True, timeout=300,
    )
    pred = json.loads((tmp_path / "pred.json").read_text())
    got = np.asarray(pred["data"], np.float32).reshape(pred["shape"])
    np.testing.assert_allclose(got, tuned, rtol=0, atol=1e-5)
    start = np.asarray(_record()["output"]["data"], np.float32).reshape(got.shape)
    assert np.abs(tuned - start).max() > 1e-2  # the fine-tuning shows in the outputs
    assert dir_bytes(out) != dir_bytes(src)


def test_pose_and_audio_exports_build_with_their_metadata():
    torch = require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "teachable_machine_pose") as model:
        pose = tct.to_module(model).teachable
    assert (pose.kind, pose.labels, pose.package_name, pose.package_version) == (
        "pose", ["up", "down"], "@teachablemachine/pose", "0.8.6"
    )
    assert pose.posenet == {"architecture": "MobileNetV1", "outputStride": 16, "inputResolution": 257, "multiplier": 0.75}

    # speech-commands' transfer model: the base's layers up to its hidden Dense, then a nested
    # Sequential head called on that Dense's output.
    record = json.loads((FIXTURES / "teachable_machine_audio" / "predict.json").read_text())
    with tc.load(FIXTURES / "teachable_machine_audio") as model:
        net = tct.to_module(model)
    audio = net.teachable
    assert (audio.kind, audio.labels, audio.package_version) == ("audio", ["Background Noise", "clap", "snap"], "0.5.4")
    assert net.weight_names["NewHeadDense/kernel"] == ("sequential_2.NewHeadDense", "kernel")
    assert "dense_2" not in net.layers  # the base's own classifier is not part of the transfer model
    raw = record["raw_input"]
    x = audio.preprocess(np.asarray(raw["data"], np.float32).reshape(raw["shape"]))
    want = np.asarray(record["input"]["data"], np.float32).reshape(record["input"]["shape"])
    np.testing.assert_allclose(x.numpy(), want, rtol=0, atol=1e-6)  # tf.moments in float32 vs torch
    with torch.no_grad():
        probs = net(x)
    out = record["output"]
    np.testing.assert_allclose(probs.numpy(), np.asarray(out["data"], np.float32).reshape(out["shape"]), rtol=0, atol=1e-5)
    legacy = tct.TeachableMeta({"tfjsSpeechCommandsVersion": "0.3.0", "words": ["_background_noise_", "go"]})
    assert (legacy.kind, legacy.labels) == ("audio", ["_background_noise_", "go"])
