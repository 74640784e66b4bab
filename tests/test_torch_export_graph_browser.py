"""A format="graph" export loads over HTTP in headless Chromium (tf.loadGraphModel) and detects like torch.

The YOLO-style head of tests/graph_export_cases.py (grids made in forward, three scales, open
batch) is exported uint8-quantized in shards, served from a local server on 127.0.0.1 with
tfjs 4.22's dist, and run by a page on tfjs' CPU backend at two batch sizes; the outputs match
the graph interpreter on the same quantized files within 1e-4 + 1e-4 * max|y|.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
from browser_harness import open_in_chromium, require_browser
from conftest import JS, require_torch

TF_DIST = JS / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="tf.min.js"></script></head>
<body><script>
(async () => {
  try {
    await tf.setBackend('cpu');
    await tf.ready();
    const model = await tf.loadGraphModel('model/model.json');
    const runs = RUNS;
    const out = [];
    for (const run of runs) {
      const x = tf.tensor(run.data, run.shape, 'float32');
      const y = await model.executeAsync({x});
      out.push({shape: y.shape, data: Array.from(await y.data())});
      tf.dispose([x, y]);
    }
    window.__result = {backend: tf.getBackend(), tfjs: tf.version.tfjs, inputs: model.inputs.map((i) => i.shape), out};
  } catch (e) {
    window.__error = String(e && e.stack ? e.stack : e);
  }
})();
</script></body></html>
"""


def test_a_detector_runs_in_chromium_like_the_interpreter(tmp_path):
    torch = require_torch()
    node = require_browser(TF_DIST)
    from graph_export_cases import ZOO

    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    module, ex, other = ZOO["yolo_head"]()
    site = tmp_path / "site"
    path = tct.export(site / "model", module, ex, format="graph", quantize="uint8", shard_size=2048)
    with tc.load(path) as model:
        net = tct.to_module(model)
        assert len(model.json["weightsManifest"][0]["paths"]) > 1
    runs, wants = [], []
    for x in (ex[0], other[0]):
        nhwc = x.permute(0, 2, 3, 1).contiguous()
        runs.append({"shape": list(nhwc.shape), "data": nhwc.reshape(-1).tolist()})
        with torch.no_grad():
            wants.append(net(nhwc).numpy())
            direct = module(x).numpy()
        # the quantized model stays near torch's float32 one (uint8 weights)
        assert np.abs(wants[-1] - direct).max() < 0.5 * (1 + np.abs(direct).max())
    shutil.copyfile(TF_DIST, site / "tf.min.js")
    (site / "index.html").write_text(PAGE.replace("RUNS", json.dumps(runs)))
    result = open_in_chromium(node, site, tmp_path / "result.json")["result"]
    assert result["backend"] == "cpu" and result["tfjs"] == "4.22.0"
    assert result["inputs"] == [[-1, 32, 32, 3]]
    for got, want in zip(result["out"], wants, strict=True):
        assert got["shape"] == list(want.shape)
        bound = 1e-4 + 1e-4 * float(np.abs(want).max())
        np.testing.assert_allclose(np.array(got["data"], dtype=np.float32).reshape(want.shape), want, rtol=0, atol=bound)
