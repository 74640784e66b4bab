"""Times the reference ``tensorflowjs`` package; run with the reference venv's python.

Started once by ``bench.py`` and driven over stdin/stdout, one JSON object per
line, so that its runs alternate with tfjs_codec's runs in the parent (the
package and TensorFlow are imported once). Commands:

    {"op": "read", "dir": D}                  read_weights + np.add.reduce over each weight
    {"op": "write", "dir": D, "quantize": Q}  write_weights of the float32 weights loaded by "prepare"
                                              (with "constant": true, of same-shaped weights all 0.5)
    {"op": "prepare", "dir": D}               read the float32 model D into memory (untimed)
    {"op": "inram"}                           np.add.reduce over the prepared weights
    {"op": "dirty", "bytes": N}               allocate and free N bytes as bench.dirty_process does (untimed)
    {"op": "quit"}

Each reply is ``{"seconds": s, "cpu": s, "peak": bytes}`` (wall and CPU time, peak heap from tracemalloc
when the command has ``"trace": true``, else null) or ``{"error": message}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import tracemalloc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from tensorflowjs.read_weights import read_weights  # noqa: E402
from tensorflowjs.write_weights import write_weights  # noqa: E402


def _manifest(directory: str) -> list:
    with open(os.path.join(directory, "model.json"), "rb") as f:
        return json.load(f)["weightsManifest"]


def main() -> None:
    weights: list[dict] = []
    constant: list[dict] = []
    kept: list = []  # what "dirty" leaves allocated
    out = sys.stdout
    sys.stdout = sys.stderr  # anything the package prints must not break the protocol
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "quit":
            break
        trace = cmd.get("trace", False)
        try:
            if op == "write":
                os.makedirs(cmd["dir"], exist_ok=True)
            if trace:
                tracemalloc.start()
            t0, c0 = time.perf_counter(), time.process_time()
            if op == "prepare":
                groups = read_weights(_manifest(cmd["dir"]), cmd["dir"])
                weights = [dict(e) for g in groups for e in g]
                constant = [dict(e, data=np.full_like(e["data"], 0.5)) for e in weights]
            elif op == "read":
                for group in read_weights(_manifest(cmd["dir"]), cmd["dir"]):
                    for entry in group:
                        np.add.reduce(entry["data"], axis=None)
            elif op == "dirty":
                big = np.ones(cmd["bytes"], dtype=np.uint8)
                del big
                pieces = [np.ones(256 << 10, dtype=np.uint8) for _ in range(cmd["bytes"] // (256 << 10))]
                kept.extend(pieces[::8])
                del pieces
            elif op == "inram":
                for entry in weights:
                    np.add.reduce(entry["data"], axis=None)
            elif op == "write":
                q = cmd.get("quantize")
                source = constant if cmd.get("constant") else weights
                write_weights([source], cmd["dir"], quantization_dtype_map={q: "*"} if q else None)
            else:
                raise ValueError(f"unknown op {op!r}")
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            peak = tracemalloc.get_traced_memory()[1] if trace else None
            reply = {"seconds": seconds, "cpu": cpu, "peak": peak}
        except Exception as exc:  # reported to the parent, which stops
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            if trace:
                tracemalloc.stop()
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
