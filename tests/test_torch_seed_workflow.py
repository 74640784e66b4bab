"""The seed workflow: ml5 / browser model -> torch -> fine-tune -> back into tfjs in Node."""

from __future__ import annotations

import json
import subprocess

import numpy as np

import tfjs_codec as tc
from conftest import JS, require_node, require_torch


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
