"""Exports with ml5= / labels= load in the libraries that made them popular, in headless Chromium.

ml5 1.x ``neuralNetwork().load()`` + ``classify()`` reads an ml5 bundle, and Teachable
Machine's own image library (``@teachablemachine/image``, ``tmImage.load()`` +
``predict()`` on a canvas) reads a ``labels=`` export; both classify like torch. Each
test serves the files and the library's dist from a local server on 127.0.0.1 and
opens a page with headless Chromium (Debian's ``chromium`` through playwright-core,
``js/browser_page.mjs``), on tfjs' CPU backend (the reference one).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
from browser_harness import open_in_chromium, require_browser
from conftest import JS, require_torch

ML5_DIST = JS / "node_modules" / "ml5" / "dist" / "ml5.min.js"
TM_DIST = JS / "node_modules" / "@teachablemachine" / "image" / "dist" / "teachablemachine-image.min.js"
TF_DIST = JS / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="ml5.min.js"></script></head>
<body><script>
(async () => {
  try {
    await ml5.tf.setBackend('cpu');   // the reference backend (WebGL may compute in float16)
    await ml5.tf.ready();
    const nn = ml5.neuralNetwork({task: 'classification'});
    await nn.load('model/model.json');
    const rows = ROWS;
    const out = [];
    for (const row of rows) out.push(await nn.classify(row));
    window.__result = {backend: ml5.tf.getBackend(), version: ml5.version, tfjs: ml5.tf.version.tfjs, results: out};
  } catch (e) {
    window.__error = String(e && e.stack ? e.stack : e);
  }
})();
</script></body></html>
"""


def test_ml5_bundle_classifies_in_chromium_like_torch(tmp_path):
    torch = require_torch()
    node = require_browser(ML5_DIST)
    from torch import nn

    from tfjs_codec import torch as tct

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3), nn.Softmax(dim=1)).eval()
    ranges = {"x0": [0, 10], "x1": [-5, 5], "x2": [1.5, 2.5], "x3": [0, 255]}
    labels = ["cat", "dog", "bird"]
    site = tmp_path / "site"
    tct.export(site / "model", net, torch.zeros(1, 4), ml5={"task": "classification", "inputs": ranges, "labels": labels})
    meta = json.loads((site / "model" / "model_meta.json").read_text())
    assert meta["inputUnits"] == [4] and meta["outputUnits"] == 3 and meta["isNormalized"] is True
    assert meta["outputs"]["label"]["uniqueValues"] == labels

    rows = [[3.0, -1.0, 2.0, 100.0], [9.5, 4.0, 1.6, 12.0], [0.5, -4.5, 2.4, 250.0]]
    lo = np.array([r[0] for r in ranges.values()], dtype=np.float32)
    hi = np.array([r[1] for r in ranges.values()], dtype=np.float32)
    x = (np.array(rows, dtype=np.float32) - lo) / (hi - lo)  # what ml5 feeds the network
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()

    shutil.copyfile(ML5_DIST, site / "ml5.min.js")
    (site / "index.html").write_text(PAGE.replace("ROWS", json.dumps(rows)))
    report = open_in_chromium(node, site, tmp_path / "result.json")
    result = report["result"]
    assert result["backend"] == "cpu" and result["tfjs"] == "4.22.0"
    assert result["version"].startswith("1.")
    for row_result, probs in zip(result["results"], want, strict=True):
        got = {item["label"]: item["confidence"] for item in row_result}
        assert sorted(got) == sorted(labels)
        np.testing.assert_allclose([got[label] for label in labels], probs, rtol=0, atol=1e-5 + 1e-5 * float(probs.max()))
        assert row_result[0]["label"] == labels[int(probs.argmax())]  # ml5 sorts by confidence


TM_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="tf.min.js"></script><script src="teachablemachine-image.min.js"></script></head>
<body><script>
(async () => {
  try {
    await tf.setBackend('cpu');
    await tf.ready();
    const model = await tmImage.load('model/model.json', 'model/metadata.json');
    const images = IMAGES;
    const size = model.getMetadata().imageSize;
    const out = [];
    for (const rgb of images) {
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = size;
      const data = new ImageData(size, size);
      for (let i = 0; i < size * size; i++) {
        data.data.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255], 4 * i);
      }
      canvas.getContext('2d').putImageData(data, 0, 0);
      out.push(await model.predict(canvas));
    }
    window.__result = {labels: model.getClassLabels(), tfjs: tf.version.tfjs, results: out};
  } catch (e) {
    window.__error = String(e && e.stack ? e.stack : e);
  }
})();
</script></body></html>
"""


def test_teachable_machine_bundle_classifies_in_chromium_like_torch(tmp_path):
    """labels= writes metadata.json; Teachable Machine's own loader (@teachablemachine/image) reads the export."""
    torch = require_torch()
    node = require_browser(TF_DIST, TM_DIST)
    from torch import nn

    from tfjs_codec import torch as tct

    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(6, 3), nn.Softmax(dim=1),
    ).eval()
    labels = ["Class 1", "Class 2", "Background"]
    site = tmp_path / "site"
    tct.export(site / "model", net, torch.zeros(1, 3, 16, 16), labels=labels)

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)  # HWC bytes, as a canvas holds them
    x = torch.from_numpy(images.astype(np.float32) / 127 - 1).permute(0, 3, 1, 2)  # TM: pixels / 127 - 1
    with torch.no_grad():
        want = net(x).numpy()

    shutil.copyfile(TF_DIST, site / "tf.min.js")
    shutil.copyfile(TM_DIST, site / "teachablemachine-image.min.js")
    (site / "index.html").write_text(TM_PAGE.replace("IMAGES", json.dumps([im.reshape(-1).tolist() for im in images])))
    result = open_in_chromium(node, site, tmp_path / "result.json")["result"]
    assert result["labels"] == labels and result["tfjs"] == "4.22.0"
    for row, probs in zip(result["results"], want, strict=True):
        assert [item["className"] for item in row] == labels
        got = [item["probability"] for item in row]
        np.testing.assert_allclose(got, probs, rtol=0, atol=1e-5 + 1e-5 * float(probs.max()))
