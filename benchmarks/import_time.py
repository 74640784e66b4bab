"""What importing tfjs_codec costs on top of numpy, from ``python -X importtime``.

Each statement runs in a fresh interpreter after ``import numpy``; the figure is
the sum of the cumulative times of the top-level imports that follow numpy's
(the package's modules and the standard-library modules numpy does not already
import). Bytecode is cached (in a temporary ``PYTHONPYCACHEPREFIX``, warmed by a
first run), as for an installed package. Reports the median and the minimum of
``--runs`` runs, in ms.

    python benchmarks/import_time.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: label -> the statement timed after ``import numpy``.
CASES = {
    "import tfjs_codec": "import tfjs_codec",
    "+ tc.load (local reader)": "import tfjs_codec as tc; tc.load",
    "+ tc.load + tc.save": "import tfjs_codec as tc; tc.load; tc.save",
    "+ a URL load's modules": "import tfjs_codec as tc; tc.load; import tfjs_codec.sources.http",
    "+ an archive load's modules": "import tfjs_codec as tc; tc.load; import tfjs_codec.sources.archive",
}


_PYCACHE = tempfile.mkdtemp(prefix="tfjs_codec-pycache-")


def after_numpy_ms(statement: str) -> float:
    """Milliseconds of the top-level imports after numpy's, in one fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=_PYCACHE)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import numpy; {statement}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,  # -c puts the working directory first on sys.path
        check=True,
    )
    total, seen_numpy = 0, False
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith("  "):
            continue  # nested: counted in its parent
        name = name.strip()
        if name == "numpy":
            seen_numpy = True
            continue
        if seen_numpy:
            total += int(cumulative)
    return total / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    print("| what | median ms | min ms |")
    print("|---|---|---|")
    for label, statement in CASES.items():
        after_numpy_ms(statement)  # compiles and caches the bytecode
        times = [after_numpy_ms(statement) for _ in range(args.runs)]
        print(f"| `{label}` | {statistics.median(times):.1f} | {min(times):.1f} |")


if __name__ == "__main__":
    try:
        main()
    finally:
        import shutil

        shutil.rmtree(_PYCACHE, ignore_errors=True)
