"""Teachable Machine's own image library loads the files tfjs_codec writes, in headless Chromium.

``@teachablemachine/image`` 0.8.5 (``tmImage.load(modelURL, metadataURL)``, then
``predict(canvas)`` / ``predictTopK``) reads

- (a) the shipped Teachable Machine image fixture after the README's round trip: ``to_module``,
  a few optimizer steps on the dense head, ``save_module(like=model)``;
- (b) a small torch image classifier written by ``tct.export(..., labels=[...])``,

and classifies deterministic images drawn into a canvas of the model's ``imageSize`` (so the
library's center crop and canvas scaling copy the pixels unchanged) like torch does on the same
pixels through ``net.teachable.preprocess``. Each is run under the tfjs the library is published
for (its peer dependency, 1.3.1: the version Teachable Machine's own export snippet loads) and
under tfjs 4.22, on tfjs' CPU backend (the reference one).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_harness import open_in_chromium, require_browser
from conftest import FIXTURES, JS, require_torch

import tfjs_codec as tc

TM_DIST = JS / "node_modules" / "@teachablemachine" / "image" / "dist" / "teachablemachine-image.min.js"
#: tfjs builds a page can load before the library (which uses the global ``tf``): its peer
#: dependency 1.3.1 (npm alias ``tfjs-tm``) and the 4.22 the rest of the project uses.
TFJS = {
    "1.3.1": JS / "node_modules" / "tfjs-tm" / "dist" / "tf.min.js",
    "4.22.0": JS / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js",
}
#: Probabilities from the library within this of torch's (absolute).
ATOL = 1e-4
IMAGES = 3

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="TF_SCRIPT"></script><script src="teachablemachine-image.min.js"></script></head>
<body><script>
(async () => {
  try {
    await tf.setBackend('cpu');   // the reference backend (WebGL may compute in float16)
    if (tf.ready) await tf.ready();
    const models = MODELS;
    const out = {};
    for (const [name, images] of Object.entries(models)) {
      const model = await tmImage.load(name + '/model.json', name + '/metadata.json');
      const size = model.getMetadata().imageSize;
      const predictions = [], top = [];
      for (const rgb of images) {
        const canvas = document.createElement('canvas');
        canvas.width = canvas.height = size;
        const data = new ImageData(size, size);
        for (let i = 0; i < size * size; i++) data.data.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255], 4 * i);
        canvas.getContext('2d').putImageData(data, 0, 0);
        predictions.push(await model.predict(canvas));
        top.push(await model.predictTopK(canvas, 2));
      }
      out[name] = {labels: model.getClassLabels(), imageSize: size, classes: model.getTotalClasses(), predictions, top};
    }
    window.__result = {tfjs: tf.version.tfjs, backend: tf.getBackend(), models: out};
  } catch (e) {
    window.__error = String(e && e.stack ? e.stack : e);
  }
})();
</script></body></html>
"""


def _images(size: int, seed: int) -> np.ndarray:
    """IMAGES deterministic RGB images (N, size, size, 3) uint8 of different colours: a gradient, a checkerboard, noise."""
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    gradient = np.stack([i * 255 // (size - 1), j * 80 // (size - 1), np.full_like(i, 30)], -1)
    checker = np.where(((i // 4 + j // 4) % 2)[..., None] == 1, [250, 240, 30], [20, 20, 200])
    noise = np.random.default_rng(seed).integers(0, 256, size=(size, size, 3)) * [0.2, 1, 0.7]
    return np.stack([gradient, checker, noise]).astype(np.uint8)


def _fine_tuned_fixture(site: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(a): the README's round trip into site/finetuned; returns images, tuned and original probabilities, labels."""
    torch = require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "teachable_machine_image") as model:
        net = tct.to_module(model)
        tm = net.teachable
        images = _images(tm.image_size, seed=1)
        x = tm.preprocess(images)
        with torch.no_grad():
            original = net(x).numpy()
        head = net.layers["sequential_3"]  # the dense head Teachable Machine trains; MobileNet stays as it is
        opt = torch.optim.Adam(head.parameters(), lr=0.05)
        target = torch.tensor([2, 0, 1])
        for _ in range(10):
            opt.zero_grad()
            torch.nn.functional.nll_loss(torch.log(net(x)), target).backward()
            opt.step()
        with torch.no_grad():
            tuned = net(x).numpy()
        tct.save_module(site / "finetuned", net, like=model)
    return images, tuned, original, tm.labels


def _exported_classifier(site: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(b): a small MobileNet-like torch classifier exported with labels= into site/exported."""
    torch = require_torch()
    from torch import nn

    from tfjs_codec import torch as tct

    torch.manual_seed(3)
    module = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 12, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(12, 4), nn.Softmax(dim=1),
    )
    images = _images(24, seed=2)
    x = torch.from_numpy(images).permute(0, 3, 1, 2) / 127 - 1  # Teachable Machine's scaling, NCHW
    opt = torch.optim.Adam(module.parameters(), lr=0.02)
    for _ in range(10):  # trained in torch (BatchNorm statistics move too), one class per image
        opt.zero_grad()
        torch.nn.functional.nll_loss(torch.log(module(x)), torch.tensor([3, 1, 0])).backward()
        opt.step()
    module.eval()
    labels = ["Class 1", "Class 2", "Class 3", "Background"]
    tct.export(site / "exported", module, torch.zeros(1, 3, 24, 24), labels=labels)

    # torch's side of the comparison goes through the metadata the export wrote, as a user's would.
    with tc.load(site / "exported") as model:
        tm = tct.to_module(model).teachable
    assert tm is not None and (tm.labels, tm.image_size) == (labels, 24)
    with torch.no_grad():
        want = module(tm.preprocess(images).permute(0, 3, 1, 2)).numpy()  # the module takes NCHW
    return images, want, labels


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, Any]:
    """Both models written into one site, with what torch predicts for their images."""
    require_torch()
    root = tmp_path_factory.mktemp("tm_site")
    images_a, tuned, original, labels_a = _fine_tuned_fixture(root)
    images_b, want_b, labels_b = _exported_classifier(root)
    return {
        "root": root,
        "finetuned": {"images": images_a, "want": tuned, "original": original, "labels": labels_a},
        "exported": {"images": images_b, "want": want_b, "labels": labels_b},
        "reports": {},
    }


def _page_result(site: dict[str, Any], tfjs: str) -> dict[str, Any]:
    """The page's result under tfjs version ``tfjs`` (one Chromium run per version for both models)."""
    if tfjs not in site["reports"]:
        node = require_browser(TM_DIST, TFJS[tfjs])
        root = site["root"]
        script = f"tf-{tfjs}.min.js"
        shutil.copyfile(TM_DIST, root / "teachablemachine-image.min.js")
        shutil.copyfile(TFJS[tfjs], root / script)
        models = {name: [im.reshape(-1).tolist() for im in site[name]["images"]] for name in ("finetuned", "exported")}
        page = f"tm-{tfjs}.html"
        (root / page).write_text(PAGE.replace("TF_SCRIPT", script).replace("MODELS", json.dumps(models)))
        site["reports"][tfjs] = open_in_chromium(node, root, root / f"report-{tfjs}.json", page)["result"]
    result = site["reports"][tfjs]
    assert (result["tfjs"], result["backend"]) == (tfjs, "cpu")
    return result


def _check(result: dict[str, Any], case: dict[str, Any], metadata: dict[str, Any]) -> float:
    """The library's labels and probabilities against the metadata and torch; returns the max difference."""
    labels = case["labels"]
    assert result["labels"] == labels == metadata["labels"]
    assert result["imageSize"] == metadata["imageSize"] == case["images"].shape[1]
    assert result["classes"] == len(labels)
    got = np.array([[item["probability"] for item in row] for row in result["predictions"]])
    for row in result["predictions"]:
        assert [item["className"] for item in row] == labels
    diff = float(np.abs(got - case["want"]).max())
    assert diff <= ATOL, f"max |tmImage - torch| = {diff:.3g}\n{got}\n{case['want']}"
    for top, probs in zip(result["top"], case["want"], strict=True):
        order = np.argsort(-probs, kind="stable")[:2]
        assert [item["className"] for item in top] == [labels[k] for k in order]
    return diff


@pytest.mark.parametrize("tfjs", list(TFJS))
def test_fine_tuned_teachable_machine_model_loads_in_the_tm_library(site, tfjs):
    result = _page_result(site, tfjs)["models"]["finetuned"]
    case = site["finetuned"]
    metadata = json.loads((site["root"] / "finetuned" / "metadata.json").read_text())
    assert metadata == json.loads((FIXTURES / "teachable_machine_image" / "metadata.json").read_text())
    diff = _check(result, case, metadata)
    # The library runs the fine-tuned head, not the original one.
    assert np.abs(case["want"] - case["original"]).max() > 1e-2 > diff
    print(f"tfjs {tfjs}: fine-tuned TM fixture, max |tmImage - torch| = {diff:.2e}")


@pytest.mark.parametrize("tfjs", list(TFJS))
def test_labels_export_loads_in_the_tm_library(site, tfjs):
    result = _page_result(site, tfjs)["models"]["exported"]
    metadata = json.loads((site["root"] / "exported" / "metadata.json").read_text())
    assert metadata["packageName"] == "@teachablemachine/image"
    diff = _check(result, site["exported"], metadata)
    print(f"tfjs {tfjs}: labels= export, max |tmImage - torch| = {diff:.2e}")
