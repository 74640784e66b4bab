"""Property: any nesting of Sequential and functional models, serialized as tfjs-layers writes
it, builds, computes what its layers compute in order, and writes its weights back byte for byte."""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tfjs_codec as tc

UNITS = 3

#: A block maps (batch, 3) to (batch, 3): a Dense leaf, a Sequential of blocks, or a functional
#: model chaining its blocks, each called once or twice in a row (a shared layer / nested model).
blocks = st.recursive(
    st.just(("dense",)),
    lambda inner: st.one_of(
        st.tuples(st.just("seq"), st.lists(inner, min_size=1, max_size=3)),
        st.tuples(st.just("fun"), st.lists(st.tuples(inner, st.integers(1, 2)), min_size=1, max_size=3)),
    ),
    max_leaves=8,
)


class _Writer:
    """Serializes a block tree as tfjs-layers 4.22 does, naming every layer and seeding the weights."""

    def __init__(self, seed: int) -> None:
        self.ids = itertools.count()
        self.rng = np.random.default_rng(seed)
        self.weights: dict[str, np.ndarray] = {}

    def layer(self, block: Any, first_in_sequential: bool) -> tuple[dict[str, Any], Any]:
        """(the layer's config entry, the block with names) for one block."""
        n = next(self.ids)
        if block[0] == "dense":
            name = f"d{n}"
            self.weights[f"{name}/kernel"] = self.rng.uniform(-1, 1, (UNITS, UNITS)).astype(np.float32)
            self.weights[f"{name}/bias"] = self.rng.uniform(-0.5, 0.5, UNITS).astype(np.float32)
            config: dict[str, Any] = {"units": UNITS, "activation": "tanh", "use_bias": True, "name": name}
            if first_in_sequential:  # tfjs: a Sequential's first layer carries the input shape
                config["batch_input_shape"] = [None, UNITS]
            return {"class_name": "Dense", "config": config}, ("dense", name)
        if block[0] == "seq":
            children = [self.layer(child, i == 0) for i, child in enumerate(block[1])]
            config = {"name": f"s{n}", "layers": [c for c, _ in children]}
            return {"class_name": "Sequential", "config": config}, ("seq", [b for _, b in children])
        inp = f"in{n}"
        layers: list[dict[str, Any]] = [{
            "name": inp, "class_name": "InputLayer", "inbound_nodes": [],
            "config": {"batch_input_shape": [None, UNITS], "dtype": "float32", "sparse": False, "name": inp},
        }]
        named = []
        prev = [inp, 0, 0, {}]
        for child, calls in block[1]:
            lc, sub = self.layer(child, False)
            cname = lc["config"]["name"]
            first = 0 if child[0] == "dense" else 1  # a nested model's node 0 is its own creation
            inbound = []
            for k in range(calls):
                inbound.append([prev])
                prev = [cname, first + k, 0, {}]
            layers.append({"name": cname, "class_name": lc["class_name"], "config": lc["config"], "inbound_nodes": inbound})
            named.append((sub, calls))
        config = {"name": f"f{n}", "layers": layers, "input_layers": [[inp, 0, 0]], "output_layers": [prev[:3]]}
        return {"class_name": "Model", "config": config}, ("fun", named)


def _numpy(block: Any, x: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """The same computation in float64: each Dense in the order the tree runs it."""
    if block[0] == "dense":
        return np.tanh(x @ weights[f"{block[1]}/kernel"].astype(np.float64) + weights[f"{block[1]}/bias"])
    if block[0] == "seq":
        for child in block[1]:
            x = _numpy(child, x, weights)
        return x
    for child, calls in block[1]:
        for _ in range(calls):
            x = _numpy(child, x, weights)
    return x


@settings(max_examples=30, deadline=None)
@given(outer=st.tuples(st.sampled_from(["seq", "fun"]), st.lists(blocks, min_size=1, max_size=3)),
       seed=st.integers(0, 2**32 - 1))
def test_any_nesting_builds_computes_and_round_trips(outer, seed):
    torch = require_torch()
    from tfjs_codec import torch as tct

    # The top level: a Sequential of blocks, or a functional model calling each block once.
    top = outer if outer[0] == "seq" else ("fun", [(b, 1) for b in outer[1]])
    writer = _Writer(seed)
    topology, named = writer.layer(top, False)
    names = list(writer.weights)
    doc = {
        "modelTopology": {**topology, "keras_version": "tfjs-layers 4.22.0", "backend": "tensor_flow.js"},
        "format": "layers-model", "generatedBy": "TensorFlow.js tfjs-layers v4.22.0", "convertedBy": None,
        "weightsManifest": [{"paths": ["./model.weights.bin"], "weights": [
            {"name": n, "shape": list(writer.weights[n].shape), "dtype": "float32"} for n in names]}],
    }
    x = np.random.default_rng(seed).uniform(-1, 1, (2, UNITS)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "out"
        src.mkdir()
        (src / "model.json").write_text(json.dumps(doc))
        (src / "model.weights.bin").write_bytes(b"".join(writer.weights[n].tobytes() for n in names))
        with tc.load(src) as model:
            net = tct.to_module(model)
            with torch.no_grad():
                got = net(torch.from_numpy(x)).numpy()
            np.testing.assert_allclose(got, _numpy(named, x.astype(np.float64), writer.weights), rtol=0, atol=1e-5)
            assert sorted(net.weight_names) == sorted(names)
            tct.save_module(out, net, like=model)
        assert (out / "model.weights.bin").read_bytes() == (src / "model.weights.bin").read_bytes()
        assert (out / "model.json").read_bytes() == (src / "model.json").read_bytes()
