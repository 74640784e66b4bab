"""``tfjs-codec export MODULE.py:build_fn OUT --input-shape ...``."""

from __future__ import annotations

import io
import json

import pytest
from conftest import require_torch

import tfjs_codec as tc
from tfjs_codec.cli import main

BUILD = """
from torch import nn

def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))

not_a_module = 3
"""


def test_export_command_writes_a_checked_model(tmp_path):
    require_torch()
    (tmp_path / "net.py").write_text(BUILD)
    out = io.StringIO()
    code = main([
        "export", f"{tmp_path / 'net.py'}:build", str(tmp_path / "web"), "--input-shape", "1,3,8,8",
        "--quantize", "uint8", "--labels", "yes,no",
    ], out=out)
    assert code == 0
    assert out.getvalue() == f"wrote {tmp_path / 'web' / 'model.json'}\n"
    with tc.load(tmp_path / "web") as model:
        assert model.json["modelTopology"]["config"]["layers"][0]["config"]["batch_input_shape"] == [None, 8, 8, 3]
        assert {s.quantization["dtype"] for s in model.specs.values()} == {"uint8"}
        assert json.loads(model.sidecars["metadata.json"])["labels"] == ["yes", "no"]


@pytest.mark.parametrize(
    ("spec", "shape", "message"),
    [
        ("{dir}/net.py:nope", "1,3,8,8", "tfjs-codec: error: module spec '{dir}/net.py:nope': {dir}/net.py has no 'nope'\n"),
        ("{dir}/net.py:not_a_module", "1,3,8,8",
         "tfjs-codec: error: {dir}/net.py:not_a_module gave int, not a torch.nn.Module\n"),
        ("{dir}/net.py", "1,3,8,8", "tfjs-codec: error: module spec '{dir}/net.py' is not FILE.py:NAME or package.module:NAME\n"),
        ("{dir}/net.py:build", "1,3,x", "tfjs-codec: error: --input-shape '1,3,x' is not comma-separated integers (1,3,32,32)\n"),
        ("{dir}/net.py:build", "1,4,8,8",
         "tfjs-codec: error: {dir}/net.py:build fails on the example input (1,4,8,8): "),
    ],
)
def test_export_command_errors(tmp_path, capsys, spec, shape, message):
    require_torch()
    (tmp_path / "net.py").write_text(BUILD)
    argv = ["export", spec.format(dir=tmp_path), str(tmp_path / "web"), "--input-shape", shape]
    assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    if message.endswith("\n"):
        assert err == message.format(dir=tmp_path)
    else:  # then torch's own first line: "Given groups=1, weight of size [4, 3, 3, 3], expected input..."
        assert err.startswith(message.format(dir=tmp_path)) and "expected input" in err
    assert not (tmp_path / "web" / "model.json").exists()
