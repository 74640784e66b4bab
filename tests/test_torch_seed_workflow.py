"""The seed workflow: ml5 / browser model -> torch -> fine-tune -> back into tfjs in Node."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import FIXTURES, JS, require_node, require_torch

import tfjs_codec as tc


def test_browser_to_torch_to_browser(fixture_copy, tmp_path):
    torch = require_torch()
    node = require_node()
    from tfjs_codec import torch as tct

    src = fixture_copy("ml5_bundle")  # Dense(16, relu) -> Dense(3, softmax), saved as ml5 saves it
    assert sorted(p.name for p in src.iterdir()) == ["model.json", "model.weights.bin", "model_meta.json"]
    out = tmp_path / "tuned"

    with tc.load(src) as model:
        net = tct.to_module(model)
        meta = net.ml5
        # A toy task in raw units: the label is decided by x0 (0..10).
        gen = torch.Generator().manual_seed(0)
        raw = torch.rand(32, 4, generator=gen) * (meta.input_max - meta.input_min) + meta.input_min
        target = torch.bucketize(raw[:, 0].contiguous(), torch.tensor([10 / 3, 20 / 3]))
        x = meta.normalize(raw)
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        before = None
        for _ in range(5):
            opt.zero_grad()
            loss = torch.nn.functional.nll_loss(torch.log(net(x)), target)
            before = loss.item() if before is None else before
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            tuned = net(x).numpy()
            assert torch.nn.functional.nll_loss(torch.log(net(x)), target).item() < before
        tct.save_module(out, net, like=model)
        original_kernel = model["ml5_dense_1/kernel"].copy()

    # Same three files, the ml5 topology-only model.json and model_meta.json untouched.
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.weights.bin", "model_meta.json"]
    assert (out / "model_meta.json").read_bytes() == (src / "model_meta.json").read_bytes()
    new_doc, old_doc = json.loads((out / "model.json").read_text()), json.loads((src / "model.json").read_text())
    assert list(new_doc) == list(old_doc) == ["modelTopology", "weightsManifest"]
    assert new_doc == old_doc
    with tc.load(out) as saved:
        assert not np.array_equal(saved["ml5_dense_1/kernel"], original_kernel)
        assert tct.to_module(saved).ml5.labels == ["a", "b", "c"]

    # tfjs-core in Node loads the result and predicts what the fine-tuned module predicts.
    (tmp_path / "in.json").write_text(json.dumps({"shape": list(x.shape), "data": x.reshape(-1).tolist()}))
    subprocess.run(
        [node, str(JS / "predict.mjs"), str(out), str(tmp_path / "in.json"), str(tmp_path / "pred.json")],
        check=True, capture_output=True, timeout=300,
    )
    pred = json.loads((tmp_path / "pred.json").read_text())
    got = np.asarray(pred["data"], dtype=np.float32).reshape(pred["shape"])
    np.testing.assert_allclose(got, tuned, rtol=0, atol=1e-5)
    assert meta.classify(torch.from_numpy(got)) == meta.classify(torch.from_numpy(tuned))


@pytest.mark.parametrize("case", ["browser_layers_gru", "browser_layers_batchnorm"])
def test_fine_tuned_recurrent_and_batchnorm_models_predict_the_same_in_node(case, fixture_copy, tmp_path):
    # Train mode throughout: the GRUs have no dropout; BatchNormalization uses batch
    # statistics and updates its running mean/variance, which save_module writes as
    # moving_mean/moving_variance, so tfjs' inference must match the module's eval().
    torch = require_torch()
    node = require_node()
    from tfjs_codec import torch as tct

    src = fixture_copy(case)
    record = json.loads((FIXTURES / case / "predict.json").read_text())
    x = torch.tensor(record["input"]["data"], dtype=torch.float32).reshape(record["input"]["shape"])
    out = tmp_path / "tuned"
    with tc.load(src) as model:
        net = tct.to_module(model)
        before = {k: v.copy() for k, v in net.tfjs_state().items()}
        with torch.no_grad():
            start = net(x)
        target = start + torch.linspace(-1, 1, start.numel()).reshape(start.shape)
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        for _ in range(3):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x), target).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            tuned = net(x).numpy()
        tct.save_module(out, net, like=model)

    with tc.load(out) as saved:
        assert sorted(saved.specs) == sorted(before)
        changed = [n for n in before if not np.array_equal(saved[n], before[n])]
        # Every weight moved, BatchNormalization's moving statistics included.
        assert sorted(changed) == sorted(before)

    (tmp_path / "in.json").write_text(json.dumps(record["input"]))
    subprocess.run(
        [node, str(JS / "predict.mjs"), str(out), str(tmp_path / "in.json"), str(tmp_path / "pred.json")],
        check=True, capture_output=True, timeout=300,
    )
    pred = json.loads((tmp_path / "pred.json").read_text())
    got = np.asarray(pred["data"], dtype=np.float32).reshape(pred["shape"])
    assert got.shape == tuned.shape
    np.testing.assert_allclose(got, tuned, rtol=0, atol=1e-5)
    assert np.abs(tuned - start.numpy()).max() > 1e-2  # the fine-tuning shows in the outputs
