"""Benchmark tfjs_codec against the physical limit, tensorflowjs and safetensors.

Run from the repository root (see benchmarks/README.md)::

    python benchmarks/bench.py [--tfjs-python PY] [--no-1gib] [--rounds N] [--no-write]

Synthetic models are built once into benchmarks/.cache/. Every timing is the
median of ``--rounds`` runs, the cases alternating round by round in one
process (the tensorflowjs cases in a worker process driven in step). Files are
warm in the page cache: this measures the codec, not the disk.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import tfjs_codec as tc  # noqa: E402
from tfjs_codec import arena, memadvice, parallel, quantization, shards  # noqa: E402
from tfjs_codec.decode import decode_weight  # noqa: E402

CACHE = HERE / ".cache"
#: RESULTS.md from this heading on is written by benchmarks/import_time.py and kept as it is.
KEPT_SECTION = "## Import cost over numpy"
#: The figures of the last run, to render RESULTS.md again (``--render-only``).
LAST_RUN = CACHE / "last_run.json"
MIB = 1 << 20
SHARD = 4 * MIB
KERNEL = (1024, 1000)
QUANTIZED = ("uint8", "uint16", "float16")
#: Scaling models: number of 1024x1000 kernels (+ biases); 64 is the main model.
SCALES = {16: 4, 64: 16, 256: 64, 1024: 256}


# ---------------------------------------------------------------- models


def make_weights(kernels: int) -> dict[str, np.ndarray]:
    """``kernels`` float32 kernels of 1024x1000 and their biases, seeded."""
    rng = np.random.default_rng(20261127)
    out = {}
    for i in range(kernels):
        out[f"dense_{i}/kernel"] = rng.standard_normal(KERNEL, dtype=np.float32) * np.float32(0.05)
        out[f"dense_{i}/bias"] = rng.standard_normal(KERNEL[1], dtype=np.float32) * np.float32(0.01)
    return out


def model_dir(kind: str, kernels: int = 64) -> Path:
    return CACHE / f"k{kernels}-{kind}"


def build(kernels: int, kinds: tuple[str, ...], log: Callable[[str], None]) -> None:
    """Write the cached models that are missing (a ``done`` marker ends each)."""
    todo = [k for k in kinds if not (model_dir(k, kernels) / "done").exists()]
    if not todo:
        return
    weights = make_weights(kernels)
    for kind in todo:
        d = model_dir(kind, kernels)
        shutil.rmtree(d, ignore_errors=True)
        log(f"building {d.name}")
        if kind == "float32":
            tc.save(d, weights)
        elif kind in QUANTIZED:
            tc.save(d, weights, quantize=kind)
        elif kind == "safetensors":
            from safetensors.numpy import save_file

            d.mkdir(parents=True)
            save_file(weights, str(d / "model.safetensors"))
        (d / "done").write_text("")


# ---------------------------------------------------------------- the cases


def reduce_all(model: tc.Model) -> None:
    for name in model:
        np.add.reduce(model[name], axis=None)


def tc_load_read(directory: Path) -> Callable[[], None]:
    def run() -> None:
        with tc.load(directory) as model:
            reduce_all(model)

    return run


def tc_load_read_per_shard(directory: Path) -> Callable[[], None]:
    def run() -> None:
        shards.MAP_CONTIGUOUS = False
        try:
            with tc.load(directory) as model:
                reduce_all(model)
        finally:
            shards.MAP_CONTIGUOUS = True

    return run


def tc_open_one(directory: Path, name: str) -> Callable[[], None]:
    def run() -> None:
        with tc.load(directory) as model:
            np.add.reduce(model[name], axis=None)

    return run


def tc_open(directory: Path) -> Callable[[], None]:
    def run() -> None:
        tc.load(directory).close()

    return run


def tc_read_codes(directory: Path) -> Callable[[], None]:
    """Profile: open a quantized model and read its stored codes (no decoding)."""

    def run() -> None:
        with tc.load(directory) as model:
            for name in model:
                np.add.reduce(np.frombuffer(model.raw(name), dtype=np.uint8), axis=None)

    return run


def first_write(nbytes: int) -> Callable[[], None]:
    """Profile: the first write of every page of fresh memory, in blocks as the arena makes them,
    split over threads as a decode splits its output (one kernel at a time, cut at huge pages)."""
    weight = 4 * KERNEL[0] * KERNEL[1]
    page = shards.mmap.PAGESIZE
    huge = quantization.HUGE_PAGE

    def run() -> None:
        for start in range(0, nbytes, arena.BLOCK_BYTES):
            block = arena.new_block(min(arena.BLOCK_BYTES, nbytes - start))
            for w in range(0, block.size, weight):
                pages = block[w : w + weight : page]

                def touch(a: int, b: int, pages: np.ndarray = pages) -> None:
                    pages[a:b] = 1

                phase = (-pages.ctypes.data % huge) // page
                parallel.run_split(touch, pages.size, grain=huge // page, min_part=128, phase=phase)

    return run


def tc_decode_only(directory: Path) -> tuple[Callable[[], None], Callable[[], None]]:
    """Profile: decode every weight of an open model into memory written before (codes mapped, read).

    Returns the case and a function that closes the model it keeps open.
    """
    model = tc.load(directory)
    specs = list(model.specs.values())
    out = np.zeros(sum(s.size for s in specs), dtype=np.float32)
    for spec in specs:
        np.add.reduce(np.frombuffer(model.raw(spec.name), dtype=np.uint8), axis=None)  # fault the codes in

    def run() -> None:
        pos = 0
        for spec in specs:
            decode_weight(spec, model.raw(spec.name), out=out[pos : pos + spec.size])
            pos += spec.size

    return run, model.close


def dirty_process(total: int = 500 * MIB) -> list[np.ndarray]:
    """Allocate and free ``total`` bytes the way a long-running process does.

    One large array (returned to the kernel when freed) and the same again in
    256 KiB arrays, every eighth of which is returned to the caller to stay
    allocated (the heap is left with holes). Every page is written.
    """
    big = np.ones(total, dtype=np.uint8)
    del big
    pieces = [np.ones(256 << 10, dtype=np.uint8) for _ in range(total // (256 << 10))]
    return pieces[::8]


FRESH_PROCESS = """
import sys, time
import numpy as np
import tfjs_codec as tc
with tc.load(sys.argv[2]) as m:  # the lazy imports of a first load, on a small model
    m[next(iter(m.specs))]
t0, c0 = time.perf_counter(), time.process_time()
with tc.load(sys.argv[1]) as m:
    for name in m.specs:
        np.add.reduce(m[name], axis=None)
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def tc_load_read_fresh_process(directory: Path, warmup: Path, env: dict[str, str] | None = None) -> Case:
    """load + read in a new interpreter (memory never used before), timed inside it."""

    def run() -> tuple[float, float]:
        out = subprocess.run(
            [sys.executable, "-c", FRESH_PROCESS, str(directory), str(warmup)],
            check=True, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})},
        ).stdout.split()
        return float(out[0]), float(out[1])

    return run


def old_advice(run: Callable[[], None]) -> Callable[[], None]:
    """``run`` with the memory advice of earlier versions (huge pages asked for, pages faulting
    one by one: ``TFJS_CODEC_MADVISE=0``), for comparison in the same run."""

    def wrapped() -> None:
        memadvice.ENABLED = False
        try:
            run()
        finally:
            memadvice.ENABLED = True

    return wrapped


def inram(weights: dict[str, np.ndarray]) -> Callable[[], None]:
    def run() -> None:
        for w in weights.values():
            np.add.reduce(w, axis=None)

    return run


def shard_paths(directory: Path) -> list[Path]:
    doc = json.loads((directory / "model.json").read_bytes())
    return [directory / p for g in doc["weightsManifest"] for p in g["paths"]]


def raw_read(paths: list[Path], buffer: bytearray) -> Callable[[], None]:
    def run() -> None:
        view = memoryview(buffer)
        pos = 0
        for p in paths:
            with open(p, "rb", buffering=0) as f:
                n = f.readinto(view[pos:])
                pos += n

    return run


def raw_write(buffer: bytearray, out: Path) -> Callable[[], None]:
    """The same bytes cut into 4 MiB files, each fsynced, plus the directory."""

    def run() -> None:
        out.mkdir(parents=True, exist_ok=True)
        view = memoryview(buffer)
        for i, start in enumerate(range(0, len(buffer), SHARD)):
            with open(out / f"shard{i}.bin", "xb", buffering=0) as f:
                f.write(view[start : start + SHARD])
                os.fsync(f.fileno())
        fd = os.open(out, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    return run


def tc_save(weights: dict[str, np.ndarray], out: Path, quantize: str | None) -> Callable[[], None]:
    def run() -> None:
        tc.save(out, weights, quantize=quantize)

    return run


def one_thread(run: Callable[[], None]) -> Callable[[], None]:
    """``run`` with ``TFJS_CODEC_THREADS=1``: every decode and quantization step in the calling thread."""

    def wrapped() -> None:
        before = os.environ.get(parallel.THREADS_ENV)
        os.environ[parallel.THREADS_ENV] = "1"
        try:
            run()
        finally:
            if before is None:
                del os.environ[parallel.THREADS_ENV]
            else:
                os.environ[parallel.THREADS_ENV] = before

    return wrapped


def without_fsync(run: Callable[[], None]) -> Callable[[], None]:
    """``run`` with ``os.fsync`` a no-op, to compare with writers that do not sync."""

    def wrapped() -> None:
        real = os.fsync
        os.fsync = lambda fd: None
        try:
            run()
        finally:
            os.fsync = real

    return wrapped


def st_load_read(path: Path) -> Callable[[], None]:
    from safetensors import safe_open

    def run() -> None:
        with safe_open(str(path), framework="np") as f:
            for key in f.keys():
                np.add.reduce(f.get_tensor(key), axis=None)

    return run


def st_save(weights: dict[str, np.ndarray], out: Path) -> Callable[[], None]:
    from safetensors.numpy import save_file

    def run() -> None:
        out.mkdir(parents=True, exist_ok=True)
        save_file(weights, str(out / "model.safetensors"))

    return run


class Reference:
    """The tensorflowjs worker (benchmarks/tfjs_worker.py) in the reference venv."""

    def __init__(self, python: str) -> None:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen(
            [python, str(HERE / "tfjs_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def call(self, **cmd: object) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the tensorflowjs worker died (is tensorflowjs installed in that python?)")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"tensorflowjs worker: {reply['error']}")
        return reply

    def case(self, **cmd: object) -> Callable[[], tuple[float, float]]:
        """A case timed in the worker: its (wall, CPU) seconds."""

        def run() -> tuple[float, float]:
            reply = self.call(**cmd)
            return reply["seconds"], reply["cpu"]

        return run

    def close(self) -> None:
        try:
            self.call(op="quit")
        except (RuntimeError, BrokenPipeError, json.JSONDecodeError):
            pass
        self.proc.wait(timeout=30)


# ---------------------------------------------------------------- timing


#: Median CPU seconds (``time.process_time``, all threads of the timed process) per case name.
CPU: dict[str, float] = {}
#: Smallest CPU seconds per case name (other processes only ever add to a run's time).
CPU_MIN: dict[str, float] = {}
#: Fastest, median and slowest wall seconds per case name.
SPREAD: dict[str, tuple[float, float, float]] = {}

Case = Callable[[], "tuple[float, float] | None"]


def alternate(cases: dict[str, Case], rounds: int, cleanup: dict[str, Callable[[], None]]) -> dict[str, float]:
    """Median wall seconds per case (CPU seconds go to :data:`CPU`); each round runs every
    case once, in an order shuffled afresh each round (seeded), so that no case always follows
    the same one (a case that frees a lot of memory slows the next one down). A case returning
    ``(wall, cpu)`` was timed elsewhere (the worker)."""
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = list(names)
        random.Random(r).shuffle(order)
        for name in order:
            if name in cleanup:
                cleanup[name]()
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            reported = cases[name]()
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            if reported is not None:
                elapsed, cpu = reported
            times[name].append(elapsed)
            cpus[name].append(cpu)
    for name in cleanup:
        cleanup[name]()
    CPU.update({n: statistics.median(t) for n, t in cpus.items()})
    CPU_MIN.update({n: min(t) for n, t in cpus.items()})
    SPREAD.update({n: (min(t), statistics.median(t), max(t)) for n, t in times.items()})
    return {n: statistics.median(t) for n, t in times.items()}


def peak_heap(run: Callable[[], None], before: Callable[[], None] | None = None) -> int:
    if before is not None:
        before()
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def import_time(runs: int = 11) -> tuple[float, float, float]:
    """Median wall times of ``python -c "import tfjs_codec"``, ``"import numpy"`` and ``pass``."""

    def once(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
        return time.perf_counter() - t0

    a, b, c = [], [], []
    for _ in range(runs):
        a.append(once("import tfjs_codec"))
        b.append(once("import numpy"))
        c.append(once("pass"))
    return statistics.median(a), statistics.median(b), statistics.median(c)


# ---------------------------------------------------------------- report


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages, or 'n/a'."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def machine() -> list[str]:
    cpu = cpu_name()
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / (1 << 20):.1f} GiB RAM"
    except OSError:
        pass
    fs = ""
    try:
        out = subprocess.run(["df", "-T", str(CACHE)], capture_output=True, text=True).stdout.splitlines()
        fs = out[1].split()[1] if len(out) > 1 else ""
    except (OSError, IndexError):
        pass
    thp = memadvice.thp_settings()
    load = load_average()
    lines = [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; {mem}",
        f"- OS: {platform.system()} {platform.release()}; page size {shards.mmap.PAGESIZE} bytes; "
        f"cache file system: {fs or 'unknown'}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, tfjs_codec {tc.__version__}",
        f"- transparent huge pages: enabled = {thp.get('enabled', 'n/a')}, defrag = {thp.get('defrag', 'n/a')}; "
        f"free memory reported to a hypervisor (free page reporting): "
        f"{'yes' if memadvice.free_page_reporting() else 'no'}; "
        f"machine load average at the end of the run: {load}",
        f"- tfjs_codec threads: {parallel.threads()} (`{parallel.THREADS_ENV}`"
        f"={os.environ.get(parallel.THREADS_ENV, 'unset')}); tensorflowjs: one thread (numpy's own)",
    ]
    return lines


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tfjs-python",
        default=os.environ.get("TFJS_REF_PYTHON"),
        help="python of a venv with tensorflowjs (or $TFJS_REF_PYTHON)",
    )
    parser.add_argument("--no-1gib", action="store_true", help="leave the 1 GiB model out of the scaling runs")
    parser.add_argument("--rounds", type=int, default=7, help="runs per case (median)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write benchmarks/RESULTS.md")
    parser.add_argument(
        "--render-only", action="store_true", help="measure nothing: render the last run's saved figures again"
    )
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.render_only:
        return report_run(json.loads(LAST_RUN.read_text()), args.no_write, log)

    CACHE.mkdir(exist_ok=True)
    try:
        import safetensors  # noqa: F401

        have_st = True
    except ImportError:
        have_st = False
    kinds = ("float32", *QUANTIZED) + (("safetensors",) if have_st else ())
    build(64, kinds, log)
    build(1, ("uint8",), log)  # the fresh-process cases' first (untimed) load
    sizes = [s for s in SCALES if s != 1024 or not args.no_1gib]
    for mib in sizes:
        build(SCALES[mib], ("float32",), log)

    f32 = model_dir("float32")
    with tc.load(f32) as m:
        weights = {n: np.array(m[n]) for n in m}  # owned, in RAM
    constant = {n: np.full_like(w, 0.5) for n, w in weights.items()}  # untouched layers: every value 0.5
    nbytes = sum(w.nbytes for w in weights.values())
    paths = shard_paths(f32)
    buffer = bytearray(sum(p.stat().st_size for p in paths))
    one = "dense_31/kernel"
    with tc.load(f32) as m:
        straddles = len(m.shards_of(one)) > 1
    out = CACHE / "out"

    def clean() -> None:
        shutil.rmtree(out, ignore_errors=True)
        if hasattr(os, "sync"):
            os.sync()  # no case pays for the writeback of the one before

    ref = Reference(args.tfjs_python) if args.tfjs_python else None
    results: dict[str, float] = {}
    peaks: dict[str, int] = {}
    try:
        if ref is not None:
            log("tensorflowjs worker: preparing")
            ref.call(op="prepare", dir=str(f32))
            # files from both writers read the same
            ref.call(op="write", dir=str(out), quantize=None)
            with tc.load(out) as a, tc.load(f32) as b:
                assert list(a) == list(b) and all(np.array_equal(a[n], b[n]) for n in a)
                same_files = all((out / p).read_bytes() == (f32 / p).read_bytes() for p in a.groups[0].paths)
            clean()
            ref.call(op="write", dir=str(out), quantize="uint8")
            with tc.load(out) as a, tc.load(model_dir("uint8")) as b:
                same_u8 = all(np.array_equal(a[n], b[n]) for n in a)
            clean()
            log(f"tensorflowjs files read the same: float32 {same_files} (byte-identical shards), uint8 {same_u8}")

        # loads against tensorflowjs first, with nothing else in between: a case that frees
        # a lot of memory (mmap=False, the profile steps) slows the allocation of the next one
        loads: dict[str, Case] = {}
        for q in ("float32", *QUANTIZED):
            loads[f"tc load+read {q}, loads only"] = tc_load_read(model_dir(q))
            loads[f"tc load+read {q}, fresh process"] = tc_load_read_fresh_process(model_dir(q), model_dir("uint8", 1))
            if q in QUANTIZED:
                loads[f"tc load+read {q}, loads only, 1 thread"] = one_thread(tc_load_read(model_dir(q)))
                loads[f"tc load+read {q}, loads only, old advice"] = old_advice(tc_load_read(model_dir(q)))
                loads[f"tc load+read {q}, fresh process, old advice"] = tc_load_read_fresh_process(
                    model_dir(q), model_dir("uint8", 1), {"TFJS_CODEC_MADVISE": "0"}
                )
            if ref is not None:
                loads[f"tensorflowjs load+read {q}, loads only"] = ref.case(op="read", dir=str(model_dir(q)))
        log(f"loads only: {len(loads)} cases x {args.rounds} rounds")
        results.update(alternate(loads, args.rounds, {}))

        cases: dict[str, Case] = {
            "in-RAM pass": inram(weights),
            "raw read": raw_read(paths, buffer),
            "tc load+read float32": tc_load_read(f32),
            "tc load+read float32, per-shard mapping": tc_load_read_per_shard(f32),
            "tc load+read float32, mmap=False": (lambda: _no_mmap(f32)),
            "tc open+read one weight": tc_open_one(f32, one),
        }
        for q in QUANTIZED:
            cases[f"tc load+read {q}"] = tc_load_read(model_dir(q))
        closers = []
        for q in QUANTIZED:
            cases[f"profile: map + read the {q} codes"] = tc_read_codes(model_dir(q))
            cases[f"profile: decode {q} into written memory"], close = tc_decode_only(model_dir(q))
            closers.append(close)
        cases["profile: first write of fresh memory"] = first_write(nbytes)
        if have_st:
            cases["safetensors load+read float32"] = st_load_read(model_dir("safetensors") / "model.safetensors")
        if ref is not None:
            cases["tensorflowjs in-RAM pass"] = ref.case(op="inram")
            cases["tensorflowjs load+read float32"] = ref.case(op="read", dir=str(f32))
            for q in QUANTIZED:
                cases[f"tensorflowjs load+read {q}"] = ref.case(op="read", dir=str(model_dir(q)))
        fresh = CACHE / "fresh"

        def rewrite_fresh() -> None:
            shutil.rmtree(fresh, ignore_errors=True)
            shutil.copytree(f32, fresh)

        cases["tc load+read float32, files just written"] = tc_load_read(fresh)
        log(f"reading: {len(cases)} cases x {args.rounds} rounds")
        results.update(alternate(cases, args.rounds, {"tc load+read float32, files just written": rewrite_fresh}))
        shutil.rmtree(fresh, ignore_errors=True)
        for close in closers:
            close()
        del cases

        log("dirty process: allocating and freeing 500 MiB")
        kept = dirty_process()
        dirty: dict[str, Case] = {}
        for q in ("float32", *QUANTIZED):
            dirty[f"tc load+read {q}, dirty process"] = tc_load_read(model_dir(q))
            if q in QUANTIZED:
                dirty[f"tc load+read {q}, dirty process, old advice"] = old_advice(tc_load_read(model_dir(q)))
            if ref is not None:
                dirty[f"tensorflowjs load+read {q}, dirty process"] = ref.case(op="read", dir=str(model_dir(q)))
        if ref is not None:
            ref.call(op="dirty", bytes=500 * MIB)
        results.update(alternate(dirty, args.rounds, {}))
        del kept

        writes: dict[str, Case] = {
            "raw write (fsync)": raw_write(buffer, out),
            "tc save float32": tc_save(weights, out, None),
            "tc save uint8": tc_save(weights, out, "uint8"),
            "tc save float32 (no fsync)": without_fsync(tc_save(weights, out, None)),
            "tc save uint8 (no fsync)": without_fsync(tc_save(weights, out, "uint8")),
            "tc save uint8 (no fsync), 1 thread": one_thread(without_fsync(tc_save(weights, out, "uint8"))),
            "tc save uint8 constant": tc_save(constant, out, "uint8"),
            "tc save uint8 constant (no fsync)": without_fsync(tc_save(constant, out, "uint8")),
            "raw write (no fsync)": without_fsync(raw_write(buffer, out)),
        }
        if have_st:
            writes["safetensors save float32 (no fsync)"] = st_save(weights, out)
        if ref is not None:
            writes["tensorflowjs save float32 (no fsync)"] = ref.case(op="write", dir=str(out), quantize=None)
            writes["tensorflowjs save uint8 (no fsync)"] = ref.case(op="write", dir=str(out), quantize="uint8")
            writes["tensorflowjs save uint8 constant (no fsync)"] = ref.case(
                op="write", dir=str(out), quantize="uint8", constant=True
            )
        log(f"writing: {len(writes)} cases x {args.rounds} rounds")
        results.update(alternate(writes, args.rounds, {n: clean for n in writes}))

        log("peak heap")
        peaks["tc load+read float32"] = peak_heap(tc_load_read(f32))
        for q in QUANTIZED:
            peaks[f"tc load+read {q}"] = peak_heap(tc_load_read(model_dir(q)))
        peaks["tc save float32"] = peak_heap(tc_save(weights, out, None), clean)
        peaks["tc save uint8"] = peak_heap(tc_save(weights, out, "uint8"), clean)
        peaks["tc save uint8 constant"] = peak_heap(tc_save(constant, out, "uint8"), clean)
        clean()
        if ref is not None:
            peaks["tensorflowjs load+read float32"] = ref.call(op="read", dir=str(f32), trace=True)["peak"]
            peaks["tensorflowjs load+read uint8"] = ref.call(op="read", dir=str(model_dir("uint8")), trace=True)["peak"]
            peaks["tensorflowjs save uint8"] = ref.call(op="write", dir=str(out), quantize="uint8", trace=True)["peak"]
            clean()
    finally:
        if ref is not None:
            ref.close()

    log("scaling")
    scale_cases: dict[str, Case] = {}
    scale_ram: dict[int, dict[str, np.ndarray]] = {}
    for mib in sizes:
        d = model_dir("float32", SCALES[mib])
        scale_cases[f"{mib} open"] = tc_open(d)
        scale_cases[f"{mib} open+read one"] = tc_open_one(d, f"dense_{SCALES[mib] // 2 - 1}/kernel")
        scale_cases[f"{mib} load+read"] = tc_load_read(d)
        with tc.load(d) as m:
            scale_ram[mib] = {n: np.array(m[n]) for n in m}
        scale_cases[f"{mib} in-RAM pass"] = inram(scale_ram[mib])
    scaling = alternate(scale_cases, max(3, args.rounds // 2 + 1), {})
    scale_ram.clear()

    log("import time")
    imports = import_time()

    run = {
        "rounds": args.rounds, "results": results, "cpu": CPU, "peaks": peaks, "scaling": scaling, "sizes": sizes,
        "imports": imports, "nbytes": nbytes, "straddles": straddles, "have_ref": ref is not None, "have_st": have_st,
        "same_files": locals().get("same_files"), "same_u8": locals().get("same_u8"), "machine": machine(),
        "cpu_min": CPU_MIN, "spread": SPREAD,
    }
    LAST_RUN.write_text(json.dumps(run, indent=1))
    return report_run(run, args.no_write, log)


def report_run(run: dict, no_write: bool, log: Callable[[str], None]) -> int:
    """Render a run's figures (as saved in :data:`LAST_RUN`), print them and write RESULTS.md."""
    for figures, key in ((CPU, "cpu"), (CPU_MIN, "cpu_min"), (SPREAD, "spread")):
        saved = dict(run.get(key, {}))
        figures.clear()
        figures.update(saved)  # type: ignore[arg-type]
    report = render(
        run["rounds"], run["results"], run["peaks"], run["scaling"], [int(m) for m in run["sizes"]], run["imports"],
        run["nbytes"], run["straddles"], run["have_ref"], run["have_st"], run["same_files"], run["same_u8"], run["machine"],
    )
    print(report)
    if not no_write:
        target = HERE / "RESULTS.md"
        kept = ""  # sections other tools write (benchmarks/import_time.py) stay
        if target.exists():
            old = target.read_text()
            start = old.find(KEPT_SECTION)
            kept = old[start:] if start >= 0 else ""
        target.write_text(report + ("\n" + kept if kept else ""))
        log("wrote benchmarks/RESULTS.md")
    return 0


def _no_mmap(directory: Path) -> None:
    with tc.load(directory, mmap=False) as model:
        reduce_all(model)


ANALYSIS = """
## Where a target is missed, and why

Profiled with cProfile and small timing experiments (2-core VMs). The tables above
are this run's; the machine is shared with other agents' jobs, which may have run at
times during it (load average 0.36 when it started; the one in the machine lines,
taken at the end, includes the benchmark's own ~1).

- **Which mode to expect.** On a machine whose transparent huge pages cannot stall
  (`defrag = defer` or `never`, and no free page reporting: see the machine lines),
  quantized loads take huge pages every time and should cost about what the fastest
  rounds here cost (not measured: this machine has neither setting). Elsewhere
  (Linux's default `defrag = madvise`, or any VM that reports free memory to its host,
  like this one) a load takes huge pages while they are cheap and 4 KiB pages,
  populated in one call per array, once a 2 MiB step was slow: the 'fresh process' and
  'dirty process' rows are the figures to expect in a new interpreter and in a
  long-running server or notebook; the 'loads only' rows are a process that loads the
  same model again and again.
- **Loads that cost the same in every run (slowest within 1.5x of the fastest):
  improved, not met.** Decoded weights are written into fresh anonymous memory. Earlier
  versions asked for transparent huge pages for it, and a 2 MiB fault then cost 20-40
  times the 0.2 ms of zeroing 2 MiB in some rounds ('old advice' rows: slowest /
  fastest 3.3-7.7x). On this VM the cause is not compaction: `/proc/vmstat`'s
  `compact_stall` and `thp_fault_fallback` stayed at 0 through the slow rounds. It is
  free page reporting: the guest reports free 2 MiB blocks to the host once they stayed
  free ~2 s (`/sys/module/page_reporting`: `page_reporting_order` 9, `reported_kib`
  growing by hundreds of MiB every few seconds), the host drops them, and a huge page cut
  from one is faulted back in by the host 4 KiB at a time under the guest's one fault.
  Controlled experiment (fresh processes; 250 MiB of `np.take` decodes into 64 MiB
  anonymous blocks, two threads; 4 pairs): right after another process freed 600 MiB,
  huge pages 138-221 ms (one 433); the same 6 s later, that memory reported, 544-720
  ms; 4 KiB pages made present in one `MADV_POPULATE_WRITE` per array 215-257 ms in
  both cases. On bare metal with `defrag = madvise`, synchronous compaction gives the
  same symptom. Now (`tfjs_codec/memadvice.py`) each decoded array's pages are made
  present before the decode writes them, 2 MiB at a time (`MADV_POPULATE_WRITE`); the
  first step slower than 2 ms (compaction or host faults) turns huge pages off for the
  rest of the load (one second), which then takes 4 KiB pages, present in one call per
  array: a load pays at most one slow step. Huge pages are asked for unconditionally
  only where neither cause exists (`defrag` `defer` or `never` and no free page
  reporting, `memadvice.free_page_reporting()`). In this run the slowest quantized load
  is 1.6-2.1x its fastest in the reading round, 1.9-4.0x in the 'loads only' round and
  1.7-2.3x in fresh processes (old advice, same rounds: 3.3-7.7x); the dirty-process
  rows spread 2.9-6.3x (one slow round each), on a machine whose other jobs also spread
  tensorflowjs' rows 2-6x. What remains is
  the choice itself: a load that finds cheap huge pages takes ~100 ms, one in 4 KiB pages
  ~150-230 ms (4 KiB pages cost ~1.3 us each to hand out and zero, ~85 ms for 250 MiB,
  against ~25 ms in huge pages). 4 KiB pages alone would be steadier but slower at the
  median: measured in fresh processes alternating, 7 rounds, load average ~1.8, uint8
  median 229 ms with the current policy against 303 ms in 4 KiB pages only (float16:
  243 against 462 ms). The spread target and the median target pull apart on this VM;
  the policy keeps the faster median and bounds the slow case.
- **Mapping page cache in one call (float32): measured, no gain, not kept.**
  `MADV_POPULATE_READ` on a weight's range when it is first read costs what its page
  faults cost (250 MiB: median 31.8 ms against 30.9 ms, 9 rounds alternating in one
  process; measured again in two processes of 11 rounds each: 31.0 and 30.0 ms against
  29.1 and 29.5 ms, open + read one weight 2.2 and 1.9 ms against 2.0 and 2.1 ms);
  `MADV_HUGEPAGE` on the file mapping changed nothing either (this kernel
  maps page-cache folios with 4 KiB entries in a private mapping). The cost is one
  page-table entry per 4 KiB page, whichever way it is taken.
- **load+read float32 (target <= 2x the in-RAM pass at the median; <= 1.3x earlier):
  met in the reading round (1.80x), in fresh processes (1.76x) and in the dirty process
  (1.87x); 2.1x in the 'loads only' round.** Every weight is a zero-copy
  view, straddling or not (the contiguous mapping: one reserved address range, each
  4 MiB shard mapped into its slot with `MAP_FIXED`, lazily). What is left is the
  kernel's cost of making 250 MiB of page cache visible: one page-table entry per
  4 KiB page, taken as page faults on first touch (fault-around maps up to 16 at a
  time). A second pass over the same, already-faulted views runs at the in-RAM
  speed. Populating eagerly does not help: `MAP_POPULATE` on a private writable
  mapping pre-breaks copy-on-write (copies every page: 5x slower), and populating a
  read-only mapping then `mprotect`-ing it costs the same as the faults. The cost
  depends on the page cache: files just written (large folios) map in ~2.5x the
  in-RAM pass, files cached for a while in ~3.5-4x (the 'files just written' row);
  aligning slots to 2 MiB changed nothing. safetensors' `safe_open`, which also maps
  its file, lands at the same figure. The target needs huge-page mappings of the page
  cache, which this kernel and file system do not give to a private mapping. The
  fallback (per-shard maps, straddling weights copied) is 4-5x slower, as expected
  predicted; reading into memory (`mmap=False`) is slower still.
- **load + read uint8 / uint16 / float16 (>= 2x tensorflowjs at the median): met for
  float16 (2.08-2.52x in this run), missed for uint16 (1.14-1.98x) and uint8
  (1.23-1.36x)**: tensorflowjs' own uint8 load is its fastest (a few vectorized numpy
  passes over 62.5 MiB of codes), and the largest step of tc's load (profile table) is
  the first write of 250 MiB of fresh memory, which tensorflowjs pays too (130 ms on its
  own in 4 KiB pages in this run), so the ratio stays well below what the decode alone
  would give. A quantized weight is decoded in one pass over its output: `np.take` from
  a table whose every entry is the reference's own double expression (`q * scale +
  min`, rounded once to float32; `Math.round` and the Int32Array store for int32
  weights), in cache-sized steps written straight into the output. uint8 codes are
  gathered two at a time (their uint16 view indexes a 65,536-entry table of code
  pairs, 8-byte entries: half the gathers); uint16 and float16 one at a time (a pair
  table would need 2^32 entries). The outputs are carved from 64 MiB anonymous
  mappings (their pages made present as the first point says), so they do not depend
  on the allocator's state (the 'dirty process' rows). A weight of 1 MiB of output or more
  is decoded by two threads (`tfjs_codec/parallel.py`: `np.take` releases the GIL),
  each writing its own contiguous range, so the result is the one-thread result bit
  for bit. The ranges are cut at 2 MiB boundaries of the output: cut anywhere, both
  threads first-touch the same huge page, both allocate and zero one, and the split
  measured no faster than one thread. What the second core gives, measured on this
  machine while it was quiet: a single 64 Mi-element decode split in halves runs
  1.65-1.9x faster (wall; CPU time +5-10%), and the first write of 256 MiB of fresh
  memory in halves 1.7-1.8x; but the model's weights are 4 MB kernels, and per kernel the
  split gains only 1.1-1.35x ('tc in 1 thread' rows: uint8 1.66x -> 1.85x against
  tensorflowjs, uint16 1.55x -> 1.84x, float16 2.08x -> 2.77x). Each split hands a
  range to the pool thread and waits for it: waking a thread parked on the other
  (idle) core costs 60-100 us here and the round trip ~100 us (median; 150 us at the
  90th percentile), against 0.5-1 ms of work per half kernel; and page faults split
  per kernel (two huge pages each) measured no faster than in one thread. A thread
  kept spinning between weights (no parking) gave no consistent gain (-5% to +15%). The read of each
  weight (the in-RAM pass) stays in the caller's thread, as it does in
  tensorflowjs. The profile table shows the steps, each timed alone (the decode and
  the first write with two threads, the codes read in one): (1) the gathers: numpy's
  fastest gather costs about 1-1.5 ns per element and thread here (an index
  conversion and a copy per element); the alternatives measured are slower: fancy
  indexing (allocates its result, ~2x), the float64 expression per element (two
  passes: ~1.5x), a 256-entry table for uint8 (~1.4x), numpy's float16 cast (not
  vectorised in this numpy: ~2x). (2) the first write of fresh output memory: the
  kernel zeroes every page it hands out; huge pages cut the faults from 64,000 to 125
  but not the zeroing of 250 MiB; pre-faulting (`MADV_POPULATE_WRITE`,
  `MAP_POPULATE`) moves that cost rather than removing it. (3) reading the stored
  codes out of the page cache, and (4) the read itself, which tensorflowjs pays too.
  tensorflowjs' own path is a few vectorized numpy passes (`(q * scale +
  min).astype(float32)`, or the float16 cast) over memory it also gets fresh, in one
  thread. Going further needs a fused, compiled decode-and-read (numpy is the only
  runtime dependency) or weights large enough for the split to pay (a model of a few
  big tensors gets nearer 2x from the second core than this one of 4 MB kernels). The
  figures also depend on what the process freed just before: right after a case that
  returns hundreds of MiB to the kernel, the next load's fresh pages cost more (up to
  2x here, in either library); the benchmark therefore times the loads against
  tensorflowjs in a round of their own ('load + read' rows) and shows the same loads
  amid the other cases and after the dirty-process allocation as separate rows.
  `TFJS_CODEC_THREADS=1` gives the one-thread figures; on a machine whose cores are
  all busy the second thread has no core to run on and the split gains nothing (the
  measurements made while other agents loaded this machine: no gain, at times a loss).
- **save uint8, random and constant weights (>= 1.5x tensorflowjs with tc's fsync):
  missed in this run** (random 1.47x, constant 0.86x; with fsync off in both 1.62x
  and 1.23x; the previous run on this machine: 1.64x and 0.90x, 1.69x and 1.23x). The
  loads' work touched no save code; tc fsyncs every shard and the directory for its
  atomic commit and tensorflowjs fsyncs nothing, which for the constant save (mostly
  the write of 62.5 MiB) is most of the difference.
  The value range that the parameters need anyway decides two shortcuts that give the
  reference's bytes with less work: a constant tensor (min == max) is all zero codes,
  written from one shared read-only buffer without any arithmetic; otherwise the
  clip is skipped when the range proves it changes no code (the code expression is
  monotonic: the extreme values must get the codes of the clip bounds), leaving
  three float64 passes per 64 Ki-element step that stays in cache (subtract with the
  widening, divide, round with the narrowing store). The range scan (min and max of
  each 128 Ki-element piece) and the arithmetic of each 1 Mi-element chunk are split
  over two threads, each writing its own pieces, combined in the same order: the
  same bytes in any number of threads. The random save went from 1.37x in one thread
  to 1.62x in this run ('tc in 1 thread' row: 1.38x). Multiplying by the reciprocal instead of
  the division would be faster but changes the last bit of some quotients, which
  flips codes that sit on .5, so the reference's bytes need the division. A constant
  save is the range scan plus the write of the codes (the writing itself, file
  creation and `write` of 62.5 MiB, is most of it): 1.23x in this run, 1.92-2.14x
  in earlier runs on this machine. With tc's fsync on, the
  atomic-commit protocol's fsyncs come on top (the rows 'tc fsyncs'). The fsync thread
  of the commit: handing each shard to it (`SimpleQueue.put` in a profile) costs ~50
  us per shard, 3 ms per 63-shard save, measured on the quiet machine (closing each
  file in the writing thread instead: 1 ms), and the whole write took the same time
  either way (within the noise): real but about 1% of a save, and the thread is what
  overlaps the fsyncs when they are on.
- **float32 (load >= 8x tensorflowjs, no worse than before).** Unchanged code path:
  every weight a zero-copy view of the mapped shards (see above); the ratio moves
  with the page-cache state and the machine's load (14.5x in the 'load + read' round
  of this run, 26x amid the other cases, 10.7x in the dirty process).
- **open + read one weight (< 5 ms at 1 GiB, constant).** Mapping and reading are lazy
  (only the weight's one or two shards are mapped), and opening no longer reads every
  shard's first bytes (gzip sniffing is skipped when the raw sizes match the manifest)
  nor resolves every path (`realpath` only for paths that are not plain files in the
  model's directory). What remains grows with the manifest: parsing and validating
  model.json and one `stat` per shard, ~15 us per shard, about 4 ms for the 1 GiB
  model's 256 shards and 512 entries; the single weight adds ~1 ms.
- **import (< 80 ms).** numpy alone takes most of it on this machine; tfjs_codec's own
  modules add the 'over numpy' figure (json, re, ctypes, mmap; dataclasses and secrets
  are kept off the import path). `import numpy` alone costs more than 80 ms over a bare
  interpreter on this machine (see the Import line), so the target cannot be met here
  whatever the package does; what the package adds is the figure to watch.
""".strip("\n").split("\n")
ANALYSIS.insert(0, "")


def versus(r: dict[str, float], have_ref: bool) -> list[str]:
    """The headline table: tc against tensorflowjs and against the in-RAM pass, per operation."""
    ram = r["in-RAM pass"]
    lines = ["## Versus tensorflowjs", ""]
    if not have_ref:
        return lines + ["Not measured: run with `--tfjs-python` (see README.md).", ""]
    lines += [
        "| operation | tc | tensorflowjs | tensorflowjs / tc | target | tc / in-RAM pass "
        "| tensorflowjs / tc, CPU time: median, best |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [
        ("load + read float32", "load+read float32, loads only", "load+read float32, loads only", ">= 8x"),
        *[(f"load + read {q}", f"load+read {q}, loads only", f"load+read {q}, loads only", ">= 3x") for q in QUANTIZED],
        *[
            (f"load + read {q}, tc in 1 thread", f"load+read {q}, loads only, 1 thread", f"load+read {q}, loads only", "")
            for q in QUANTIZED
        ],
        *[
            (f"load + read {q}, amid the other cases", f"load+read {q}", f"load+read {q}", "")
            for q in ("float32", *QUANTIZED)
        ],
        *[
            (f"load + read {q}, dirty process", f"load+read {q}, dirty process", f"load+read {q}, dirty process", "")
            for q in ("float32", *QUANTIZED)
        ],
        ("save float32 (fsync off in both)", "save float32 (no fsync)", "save float32 (no fsync)", ">= 1.3x"),
        ("save uint8, random weights (fsync off in both)", "save uint8 (no fsync)", "save uint8 (no fsync)", ">= 2x"),
        ("save uint8, random weights, tc in 1 thread", "save uint8 (no fsync), 1 thread", "save uint8 (no fsync)", ""),
        (
            "save uint8, constant weights (fsync off in both)",
            "save uint8 constant (no fsync)",
            "save uint8 constant (no fsync)",
            ">= 2x",
        ),
        ("save float32, tc fsyncs", "save float32", "save float32 (no fsync)", ""),
        ("save uint8, random weights, tc fsyncs", "save uint8", "save uint8 (no fsync)", ""),
        ("save uint8, constant weights, tc fsyncs", "save uint8 constant", "save uint8 constant (no fsync)", ""),
    ]
    for label, ours_key, theirs_key, target in rows:
        ours, theirs = r.get("tc " + ours_key), r.get("tensorflowjs " + theirs_key)
        if ours is None or theirs is None:
            continue
        cpu = CPU["tensorflowjs " + theirs_key] / CPU["tc " + ours_key]
        best = ""
        if CPU_MIN:
            best = f", {CPU_MIN['tensorflowjs ' + theirs_key] / CPU_MIN['tc ' + ours_key]:.2f}x"
        lines.append(
            f"| {label} | {fmt_s(ours)} | {fmt_s(theirs)} | **{theirs / ours:.2f}x** | {target} | {ours / ram:.1f}x "
            f"| {cpu:.2f}x{best} |"
        )
    lines += [
        "",
        "Times are medians of wall-clock time; the last column gives the ratios of the medians and of the "
        "smallest of the CPU times (`time.process_time` of the timed process, every thread), which the other "
        "processes on this machine disturb less (they still share its caches and memory bandwidth). "
        "'load + read': the loads of both libraries alternating with nothing else in between, first thing "
        "in the run; 'tc in 1 thread': the same tc case with `TFJS_CODEC_THREADS=1` (every other tc row uses "
        "the default threads, see the machine lines); 'amid the other cases': the same loads in the main "
        "reading round, where they follow cases "
        "that free hundreds of MiB (the next allocation of fresh memory then costs more, in either process); "
        "'dirty process': the same loads after the process (and the tensorflowjs worker) allocated and freed "
        "500 MiB (one 500 MiB array, then 500 MiB of 256 KiB arrays of which every eighth stays allocated). "
        "'tc / in-RAM pass': the time over a pass of `np.add.reduce` over the same float32 weights in RAM "
        f"({fmt_s(ram)} in this run).",
        "",
    ]
    return lines


def spread_table() -> list[str]:
    """Every load's fastest, median and slowest round: the distribution, not a best case."""
    names = [n for n in SPREAD if "load+read" in n]
    if not names:
        return []
    lines = [
        "## Loads: fastest, median, slowest",
        "",
        "Every load case of the run, in the main process ('loads only': the headline rows; 'dirty process': after "
        "allocating and freeing 500 MiB), in a new interpreter per round ('fresh process': memory never used "
        "before, timed inside it), and with the memory advice of earlier versions ('old advice': huge pages "
        "requested for decoded weights, pages faulting one by one; `TFJS_CODEC_MADVISE=0`).",
        "",
        "| case | fastest | median | slowest | slowest / fastest |",
        "|---|---|---|---|---|",
    ]
    for n in sorted(names):
        lo, mid, hi = SPREAD[n]
        lines.append(f"| {n} | {fmt_s(lo)} | {fmt_s(mid)} | {fmt_s(hi)} | {hi / lo:.2f}x |")
    return lines + [""]


def profile(r: dict[str, float]) -> list[str]:
    """Where a quantized load's time goes: its steps timed alone in the same run."""
    if "profile: first write of fresh memory" not in r:
        return []
    lines = [
        "",
        "## Profile of a quantized load + read",
        "",
        "Each step timed on its own in the same alternating run (the whole 250 MiB model; the decode and the "
        "first write split over the threads per kernel, as a load splits them; the codes read in one thread):",
        "",
        "| step | " + " | ".join(QUANTIZED) + " |",
        "|---|" + "---|" * len(QUANTIZED),
    ]
    steps = [
        ("map + read the stored codes", lambda q: r[f"profile: map + read the {q} codes"]),
        ("decode into memory written before (the gathers)", lambda q: r[f"profile: decode {q} into written memory"]),
        ("first write of fresh output memory (page faults, zeroing)", lambda q: r["profile: first write of fresh memory"]),
        ("read of the decoded output (the in-RAM pass)", lambda q: r["in-RAM pass"]),
    ]
    for label, get in steps:
        lines.append(f"| {label} | " + " | ".join(fmt_s(get(q)) for q in QUANTIZED) + " |")
    lines.append("| sum of the steps | " + " | ".join(fmt_s(sum(get(q) for _, get in steps)) for q in QUANTIZED) + " |")
    lines.append("| measured load + read | " + " | ".join(fmt_s(r[f"tc load+read {q}"]) for q in QUANTIZED) + " |")
    if all(f"tensorflowjs load+read {q}" in r for q in QUANTIZED):
        lines.append(
            "| tensorflowjs load + read / sum of the steps | "
            + " | ".join(f"{r[f'tensorflowjs load+read {q}'] / sum(get(q) for _, get in steps):.2f}x" for q in QUANTIZED)
            + " |"
        )
    return lines


def render(rounds, r, peaks, scaling, sizes, imports, nbytes, straddles, have_ref, have_st, same_files, same_u8, host) -> str:
    ram = r["in-RAM pass"]
    raw_w = r["raw write (fsync)"]
    lines = ["# Benchmark results", "", "Written by `python benchmarks/bench.py` (see README.md here). Machine:", ""]
    lines += host
    lines += [
        "",
        f"Model: 64 float32 kernels of 1024x1000 plus 64 biases of 1000, {nbytes / MIB:.1f} MiB in "
        f"{nbytes // SHARD + 1} shards of 4 MiB (weights straddle shard boundaries as the converter cuts them: "
        f"the weight read by 'open+read one weight' straddles: {straddles}); the same weights quantized "
        "to uint8, uint16, float16 with `tc.save`. Files warm in the page cache. Every figure is the median "
        f"of {rounds} runs, all cases alternating round by round in an order shuffled each round. "
        "'read' = `np.add.reduce(w, axis=None)` "
        "over every weight.",
        "",
    ]
    if have_ref:
        lines += [
            f"Files written by tensorflowjs' `write_weights` from the same weights: float32 shards byte-identical "
            f"to tc.save's: {same_files}; uint8 decodes to the same values: {same_u8}.",
            "",
        ]
    lines += [
        "**This machine is shared**: other agents run test suites on the same 2 cores at times (the analysis "
        "below says how loaded it was during this run), so absolute times can be noisy and inflated. Only ratios "
        "between cases of one run, measured alternating round by round in the same process (tensorflowjs in a "
        "worker process driven in step), are meaningful.",
        "",
    ]
    lines += versus(r, have_ref)
    lines += spread_table()

    def row(name: str, target: str = "", base: float | None = None, base_name: str = "") -> str:
        t = r.get(name)
        if t is None:
            return ""
        ratio = f"{t / base:.2f}x {base_name}" if base else ""
        return f"| {name} | {fmt_s(t)} | {ratio} | {target} |"

    lines += ["## Reading", "", "| case | median | ratio | target |", "|---|---|---|---|"]
    rows = [
        row("in-RAM pass", "", None),
        row("raw read", "", ram, "in-RAM"),
        row("tc load+read float32", "<= 1.3x in-RAM", ram, "in-RAM"),
        row("tc load+read float32, files just written", "", ram, "in-RAM"),
        row("tc load+read float32, per-shard mapping", "(fallback)", ram, "in-RAM"),
        row("tc load+read float32, mmap=False", "", ram, "in-RAM"),
        row("tc load+read uint8", "<= 2.5x in-RAM", ram, "in-RAM"),
        row("tc load+read uint16", "<= 2.5x in-RAM", ram, "in-RAM"),
        row("tc load+read float16", "<= 3x in-RAM", ram, "in-RAM"),
        row("tc open+read one weight", "< 5 ms, constant", None),
        row("safetensors load+read float32", "peer", ram, "in-RAM"),
        row("tensorflowjs in-RAM pass", "(its numpy)", ram, "in-RAM"),
        row("tensorflowjs load+read float32", "", ram, "in-RAM"),
    ]
    rows += [row(f"tensorflowjs load+read {q}", "", ram, "in-RAM") for q in QUANTIZED]
    lines += [x for x in rows if x]
    lines += ["", "## Writing", "", "| case | median | ratio | target |", "|---|---|---|---|"]
    rows = [
        row("raw write (fsync)", "", None),
        row("tc save float32", "<= 1.15x raw write", raw_w, "raw write"),
        row("tc save uint8", "<= 1.2x raw write", raw_w, "raw write"),
        row("raw write (no fsync)", "", raw_w, "raw write"),
        row("tc save float32 (no fsync)", "", raw_w, "raw write"),
        row("tc save uint8 (no fsync)", "", raw_w, "raw write"),
        row("tc save uint8 (no fsync), 1 thread", "", raw_w, "raw write"),
        row("tc save uint8 constant", "", raw_w, "raw write"),
        row("tc save uint8 constant (no fsync)", "", raw_w, "raw write"),
        row("safetensors save float32 (no fsync)", "peer", raw_w, "raw write"),
        row("tensorflowjs save float32 (no fsync)", "", raw_w, "raw write"),
        row("tensorflowjs save uint8 (no fsync)", "", raw_w, "raw write"),
        row("tensorflowjs save uint8 constant (no fsync)", "", raw_w, "raw write"),
    ]
    lines += [x for x in rows if x]
    lines += [
        "",
        "The raw write writes the same float32 bytes as 4 MiB files and fsyncs each file and the directory, "
        "as `tc.save` does for atomicity; tensorflowjs and safetensors do not fsync, so their save figures "
        "flatter them. The 'no fsync' rows run tc's writer (and the raw write) with `os.fsync` a no-op, for "
        "a like-for-like comparison. Every write case starts after `os.sync()` (untimed) with its output "
        "directory removed.",
        "",
    ]
    if have_st:
        lines += [
            "## Versus safetensors",
            "",
            f"safetensors `safe_open` (numpy) load+read float32 / tc: "
            f"{r['safetensors load+read float32'] / r['tc load+read float32']:.2f}x (above 1: tc is faster).",
        ]
    lines += profile(r)
    lines += ["", "## Peak heap (tracemalloc)", "", "| case | peak | share of the model |", "|---|---|---|"]
    for name, peak in peaks.items():
        lines.append(f"| {name} | {peak / MIB:.2f} MiB | {100 * peak / nbytes:.2f}% |")
    lines += [
        "",
        "Targets: load+read of unquantized weights < 1% of the model; save <= 2 shards plus one "
        f"quantization chunk ({(2 * SHARD + 8 * (1 << 20)) / MIB:.0f} MiB). Mapped pages are page cache, not heap, "
        "and are not counted. The decoded outputs of quantized loads (the model's size) live in the arena's "
        "anonymous mappings, which tracemalloc does not see either: their rows show the temporaries alone "
        "(the decode tables and one cache-sized index step per thread).",
        "",
        "## Scaling (float32, 4 MiB shards)",
        "",
        "| model | open | open+read one weight | load+read | in-RAM pass | load+read / in-RAM |",
        "|---|---|---|---|---|---|",
    ]
    for mib in sizes:
        g = {k: scaling[f"{mib} {k}"] for k in ("open", "open+read one", "load+read", "in-RAM pass")}
        lines.append(
            f"| {mib} MiB | {fmt_s(g['open'])} | {fmt_s(g['open+read one'])} | {fmt_s(g['load+read'])} | "
            f"{fmt_s(g['in-RAM pass'])} | {g['load+read'] / g['in-RAM pass']:.2f}x |"
        )
    if 1024 not in sizes:
        lines.append("")
        lines.append("(1 GiB left out of this run: `--no-1gib`.)")
    lines += ANALYSIS
    lines += [
        "",
        "## Import",
        "",
        f"`python -c \"import tfjs_codec\"`: {fmt_s(imports[0])}; `python -c \"import numpy\"`: {fmt_s(imports[1])}; "
        f"`python -c pass`: {fmt_s(imports[2])}. tfjs_codec over the interpreter: {fmt_s(imports[0] - imports[2])} "
        f"(target < 80 ms); over numpy: {fmt_s(imports[0] - imports[1])}. Wall time of whole interpreters on a "
        "loaded machine; the import cost of the package alone is measured by benchmarks/import_time.py (below, "
        "when present).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
