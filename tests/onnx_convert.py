"""Converts one model to ONNX in a worker process (tests/test_onnx.py runs these in parallel:
conversion is single-threaded Python and takes seconds per model)."""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from typing import Any


def _canon_node(ref: str) -> str:
    return ref.split(":")[0]


def convert(source: str, out: str, inputs: Any) -> dict[str, Any]:
    """Write ``source`` (a tfjs model path) as ``out``, traced with ``inputs``: a list of arrays in
    the model's input order (layers models), or graph input node name -> array (graph models).

    Returns:
        {"error": None or the line of the error that stopped the conversion, "notes": the batch
        warnings, "seconds", "inputs": the arrays in the ONNX input order, "output_refs": the graph
        tensors of the ONNX outputs, in order (graph models)}.
    """
    import torch

    torch.set_num_threads(1)
    import tfjs_codec as tc
    from tfjs_codec.torch import to_module
    from tfjs_codec.torch.onnx_export import to_onnx

    start = time.perf_counter()
    result: dict[str, Any] = {"error": None, "inputs": inputs, "output_refs": None}
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("always")
        try:
            with tc.load(source) as model:
                net = to_module(model)
                if isinstance(inputs, dict):
                    refs = [_canon_node(r) for r in net.input_refs]
                    inputs = [inputs[r] for r in refs]
                    result["inputs"], result["output_refs"] = inputs, list(net.output_refs)
                to_onnx(net, out, source=model, example_inputs=inputs, optimize=False)
        except Exception as exc:  # noqa: BLE001 - reported to the test, which names what failed
            root: BaseException = exc
            while root.__cause__ is not None:  # the root cause, not torch.onnx's wrapper
                root = root.__cause__
            lines = [ln.strip() for ln in str(root).splitlines() if ln.strip()]
            result["error"] = f"{type(root).__name__}: {lines[0] if lines else ''}"[:400]
    result["notes"] = [str(w.message) for w in caught if "batch dimension" in str(w.message)]
    result["seconds"] = time.perf_counter() - start
    return result
