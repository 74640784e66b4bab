"""Mutation fuzzing of the reader: hostile model.json and shard bytes.

One case = (fixture, seed). The seed drives a ``random.Random`` that mutates a
copy of the fixture: structure-aware edits of the manifest (a value swapped for
a hostile one, keys dropped, entries duplicated or moved between groups), raw
edits of the JSON text, and edits of the shards (truncated, extended, bytes
flipped, gzip-compressed, replaced by a directory or a symbolic link).

Each case then runs :func:`tfjs_codec.load` (mapped and not), reads every
weight, runs :func:`tfjs_codec.verify.verify` and :func:`tfjs_codec.decode_weights`
on the parsed manifest and the shard bytes. The only exception allowed is
``TfjsFormatError``; a case that runs past ``CASE_SECONDS`` counts as a hang.

Short run: ``tests/fuzz/test_fuzz.py`` (part of the normal suite).
Long run (see README.md)::

    python tests/fuzz/fuzz_harness.py --cases 20000 --seed 1
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gzip
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = ROOT / "fixtures"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tfjs_codec as tc  # noqa: E402
from tfjs_codec.verify import verify  # noqa: E402

#: Seconds one case may take before it counts as a hang.
CASE_SECONDS = 20

#: Fixtures the fuzzer starts from: one of each manifest shape (single and
#: multi-shard groups, several groups, strings/bool/complex, quantized, ml5).
SEEDS = (
    "browser_dense",
    "ml5_bundle",
    "tfjs_converter_dense_mixed",
    "tfjs_encode_all_dtypes",
    "tfjs_quantized_manual",
    "py_write_weights_quantized",
)

_EXTRA = {"expected.json", "expected.bin", "predict.json", "writer_behaviour.json"}

HOSTILE_VALUES: list[Any] = [
    -1, 0, 1, 3, 2**31, 2**32 + 1, 2**40, 2**63, 2**64 + 3, -(2**63), 1.5, 2.0, -0.0,
    float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324,
    True, False, None, "", "x", "float32", "string", "uint8", "float16", "complex64", "bool", "int32",
    "../x.bin", "/etc/passwd", "http://example.invalid/a.bin", "a\x00b", "C:\\x.bin", ".", "sub/", "x" * 5000,
    [], [0], [-1], [2**40], [1.5], [[1]], [2**62, 0], [0] * 70, [1] * 70, {}, {"dtype": "uint8"},
    {"dtype": "uint8", "scale": float("nan"), "min": 0}, {"dtype": "uint16", "scale": 1e308, "min": 1e308},
    {"dtype": "float16"}, {"dtype": "uint8", "scale": 1, "min": 0},
]


def _hostile(rng: random.Random) -> Any:
    """A fresh copy of one hostile value (never shared between places in a tree)."""
    return copy.deepcopy(rng.choice(HOSTILE_VALUES))


class Hang(Exception):
    """A case ran longer than CASE_SECONDS."""


@contextlib.contextmanager
def time_bound(seconds: float):
    """Raise Hang in the main thread after ``seconds`` (SIGALRM; POSIX only)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum, frame):
        raise Hang(f"case ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _nodes(obj: Any, path: tuple = ()) -> list[tuple]:
    """Every (container path, key) reachable in a JSON tree."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(path + (k,))
            out.extend(_nodes(v, path + (k,)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append(path + (i,))
            out.extend(_nodes(v, path + (i,)))
    return out


def _get(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k]
    return obj


def mutate_manifest(rng: random.Random, doc: Any) -> Any:
    """Apply 1-3 structure-aware edits to the parsed model.json."""
    manifest = doc.get("weightsManifest") if isinstance(doc, dict) else doc
    for _ in range(rng.randint(1, 3)):
        nodes = _nodes(manifest)
        op = rng.random()
        if not nodes or op < 0.05:
            manifest = _hostile(rng)
            continue
        entries = [e for g in manifest if isinstance(g, dict) and isinstance(g.get("weights"), list)
                   for e in g["weights"] if isinstance(e, dict)] if isinstance(manifest, list) else []
        if entries and op < 0.35:
            entry = rng.choice(entries)
            key = rng.choice(["shape", "dtype", "quantization", "name", "group", "shape[]"])
            if key == "shape[]" and isinstance(entry.get("shape"), list) and entry["shape"]:
                entry["shape"][rng.randrange(len(entry["shape"]))] = _hostile(rng)
            elif key == "quantization" and rng.random() < 0.5:
                entry["quantization"] = {
                    "dtype": rng.choice(["uint8", "uint16", "float16", "int8"]),
                    "scale": _hostile(rng), "min": _hostile(rng),
                }
            else:
                entry[key.rstrip("[]")] = _hostile(rng)
            continue
        path = rng.choice(nodes)
        parent = _get(manifest, path[:-1])
        key = path[-1]
        if op < 0.55:
            parent[key] = _hostile(rng)
        elif op < 0.65 and isinstance(parent, dict):
            del parent[key]
        elif op < 0.75 and isinstance(parent, list):
            parent.insert(rng.randrange(len(parent) + 1), json.loads(json.dumps(parent[key])))
        elif op < 0.8 and isinstance(parent, list):
            del parent[key]
        elif op < 0.9 and isinstance(parent[key], int) and not isinstance(parent[key], bool):
            parent[key] = parent[key] + rng.choice([-2, -1, 1, 2, 1000, 2**32])
        else:
            # move a weight entry to another group, or swap two entries
            groups = (
                [g for g in manifest if isinstance(g, dict) and isinstance(g.get("weights"), list)]
                if isinstance(manifest, list)
                else []
            )
            if groups:
                a, b = rng.choice(groups), rng.choice(groups)
                if a["weights"]:
                    entry = a["weights"].pop(rng.randrange(len(a["weights"])))
                    b["weights"].insert(rng.randrange(len(b["weights"]) + 1), entry)
    if isinstance(doc, dict):
        doc["weightsManifest"] = manifest
        return doc
    return manifest


def mutate_bytes(rng: random.Random, data: bytes, *, magic_ok: bool = True) -> bytes:
    """Apply one raw edit to some bytes."""
    b = bytearray(data)
    op = rng.randrange(8)
    if op == 0 and b:
        del b[rng.randrange(len(b)) :]
    elif op == 1:
        b += bytes(rng.randrange(256) for _ in range(rng.choice([1, 3, 4, 8, 100])))
    elif op == 2 and b:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 3:
        return gzip.compress(bytes(b), mtime=0)
    elif op == 4 and magic_ok:
        b[:3] = b"\x1f\x8b\x08"
    elif op == 5 and len(b) > 8:
        gz = bytearray(gzip.compress(bytes(b), mtime=0))
        gz[-4:] = rng.randrange(2**32).to_bytes(4, "little")  # a lying ISIZE trailer
        return bytes(gz)
    elif op == 6 and b:
        i = rng.randrange(len(b))
        b[i:i] = rng.choice([b"\xff\xfe\x00\x80", b"1" * 5000, b"[" * 3000, b"NaN", b"-Infinity", b'"\\ud800"'])
    else:
        b = b[: rng.randrange(len(b) + 1)] if b else b"\x00"
    return bytes(b)


def make_case(fixture: str, seed: int, workdir: Path) -> Path:
    """Write the mutated copy of ``fixture`` for ``seed`` into ``workdir``; return it."""
    rng = random.Random(f"{fixture}:{seed}")
    src = FIXTURES / fixture
    dst = workdir / fixture
    shutil.copytree(src, dst, ignore=lambda d, names: [n for n in names if n in _EXTRA])
    manifest_file = dst / "model.json" if (dst / "model.json").exists() else dst / "weights_manifest.json"
    text = manifest_file.read_bytes()
    what = rng.random()
    if what < 0.5:
        doc = json.loads(text)
        doc = mutate_manifest(rng, doc)
        text = json.dumps(doc, allow_nan=True).encode()
    elif what < 0.6:
        text = mutate_bytes(rng, text)
    if what >= 0.4:
        shards = sorted(p for p in dst.iterdir() if p.suffix == ".bin")
        for shard in rng.sample(shards, k=min(len(shards), rng.randint(1, 2))):
            r = rng.random()
            if r < 0.85:
                shard.write_bytes(mutate_bytes(rng, shard.read_bytes()))
            elif r < 0.9:
                shard.unlink()
            elif r < 0.95:
                shard.unlink()
                shard.mkdir()
            else:
                shard.unlink()
                shard.symlink_to(rng.choice(["/dev/zero", "../../outside.bin", shard.name, "missing.bin"]))
    manifest_file.write_bytes(text)
    return dst


def exercise(folder: Path) -> dict[str, int]:
    """Run every reading entry point on a model folder.

    Returns:
        counts of what happened: ``loaded``, ``rejected``, ``weights`` read.

    Raises:
        anything but TfjsFormatError: the finding.
    """
    counts = {"loaded": 0, "rejected": 0, "weights": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for use_mmap in (True, False):
            try:
                with tc.load(folder, mmap=use_mmap) as model:
                    counts["loaded"] += 1
                    for name in model.specs:
                        try:
                            model[name]
                            counts["weights"] += 1
                        except tc.TfjsFormatError:
                            counts["rejected"] += 1
            except tc.TfjsFormatError:
                counts["rejected"] += 1
        report = verify(folder)
        assert isinstance(report.ok, bool)
        manifest_file = folder / "model.json" if (folder / "model.json").exists() else folder / "weights_manifest.json"
        try:
            doc = json.loads(manifest_file.read_bytes())
        except (ValueError, RecursionError):
            return counts
        manifest = doc.get("weightsManifest") if isinstance(doc, dict) else doc
        buffers = []
        for g in manifest if isinstance(manifest, list) else []:
            parts = []
            for p in g.get("paths", []) if isinstance(g, dict) and isinstance(g.get("paths"), list) else []:
                f = folder / p if isinstance(p, str) and p and "\x00" not in p and not os.path.isabs(p) else None
                try:
                    inside = f is not None and f.is_file() and f.resolve().is_relative_to(folder.resolve())
                    parts.append(f.read_bytes() if inside else b"")
                except OSError:  # a name too long for the file system, ...
                    parts.append(b"")
            buffers.append(parts)
        try:
            tc.decode_weights(doc, buffers)
        except tc.TfjsFormatError:
            counts["rejected"] += 1
    return counts


def run_case(fixture: str, seed: int, *, seconds: float = CASE_SECONDS) -> dict[str, int]:
    """Make and exercise one case in a temporary directory, under a time bound."""
    with tempfile.TemporaryDirectory(prefix="tfjs-fuzz-") as tmp:
        folder = make_case(fixture, seed, Path(tmp))
        with time_bound(seconds):
            return exercise(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000, help="cases per fixture")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--fixture", action="append", help="fixture(s) to start from (default: all seeds)")
    parser.add_argument("--memory-gib", type=float, default=4.0, help="address-space limit (RLIMIT_AS) for the run")
    args = parser.parse_args(argv)
    try:
        import resource

        limit = int(args.memory_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    fixtures = args.fixture or list(SEEDS)
    findings = 0
    totals = {"loaded": 0, "rejected": 0, "weights": 0}
    start = time.monotonic()
    for fixture in fixtures:
        for seed in range(args.seed, args.seed + args.cases):
            try:
                for k, v in run_case(fixture, seed).items():
                    totals[k] += v
            except Exception:
                findings += 1
                print(f"FINDING {fixture} seed={seed}", file=sys.stderr)
                traceback.print_exc()
    elapsed = time.monotonic() - start
    print(
        f"{len(fixtures) * args.cases} cases in {elapsed:.0f} s: {findings} finding(s); "
        f"loads {totals['loaded']}, rejections {totals['rejected']}, weights read {totals['weights']}"
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
