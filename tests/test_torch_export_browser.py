"""An ml5 bundle written by tct.export(ml5=...) loads in ml5 1.x in headless Chromium and classifies like torch.

The test serves the bundle and ml5's own dist from a local server on 127.0.0.1,
opens a page with headless Chromium (Debian's ``chromium`` through playwright-core,
``js/browser_page.mjs``) that calls ``ml5.neuralNetwork().load()`` and
``classify()``, and compares the confidences with torch's probabilities.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading

import numpy as np
import pytest
from conftest import JS, REQUIRE_ALL, require_node, require_torch

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ML5_DIST = JS / "node_modules" / "ml5" / "dist" / "ml5.min.js"

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


def _require_browser() -> str:
    node = require_node()
    missing = [
        what
        for what, ok in (
            (f"chromium ({CHROMIUM}): apt-get install chromium", os.access(CHROMIUM, os.X_OK)),
            ("ml5 in js/node_modules: cd js && npm ci", ML5_DIST.is_file()),
            ("playwright-core in js/node_modules: cd js && npm ci", (JS / "node_modules" / "playwright-core").is_dir()),
        )
        if not ok
    ]
    if missing:
        reason = "missing " + "; ".join(missing)
        if REQUIRE_ALL:
            pytest.fail(f"{reason} (TFJS_CODEC_REQUIRE_ALL=1: CI must run this test)")
        pytest.skip(reason)
    return node


class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        _Quiet.requests.append(format % args)


def test_ml5_bundle_classifies_in_chromium_like_torch(tmp_path):
    torch = require_torch()
    node = _require_browser()
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
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out = tmp_path / "result.json"
        url = f"http://127.0.0.1:{server.server_address[1]}/"  # ml5 resolves model_meta.json against a directory URL
        subprocess.run([node, str(JS / "browser_page.mjs"), url, str(out), "90000"], check=True, timeout=150)
    finally:
        server.shutdown()
        server.server_close()
    report = json.loads(out.read_text())
    assert "error" not in report, f"{report['error']}\n" + "\n".join(report.get("console", []) + _Quiet.requests)
    result = report["result"]
    assert result["backend"] == "cpu" and result["tfjs"] == "4.22.0"
    assert result["version"].startswith("1.")
    for row_result, probs in zip(result["results"], want, strict=True):
        got = {item["label"]: item["confidence"] for item in row_result}
        assert sorted(got) == sorted(labels)
        np.testing.assert_allclose([got[label] for label in labels], probs, rtol=0, atol=1e-5 + 1e-5 * float(probs.max()))
        assert row_result[0]["label"] == labels[int(probs.argmax())]  # ml5 sorts by confidence
