"""tfjs_codec.heap: with glibc's thresholds fixed, memory a process frees and allocates again (a
model's activations from one call to the next) is reused without page faults; the switch in the
environment leaves the heap alone. Each case runs in a fresh interpreter (the setting is per process)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import resource, sys
import numpy as np
from tfjs_codec.heap import keep_freed_memory
print(keep_freed_memory())
def call():  # three 8 MiB activations, written, then freed
    xs = [np.ones(2 << 20, dtype=np.float32) for _ in range(3)]
    del xs
call()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    call()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds"
)


def _run(**env: str) -> tuple[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], float(out[1])


@glibc_only
def test_freed_memory_is_reused_without_page_faults():
    set_, faults = _run(TFJS_CODEC_MALLOPT="1")
    assert set_ == "True"
    assert faults <= 4  # 24 MiB written per call: 6144 pages if they were given back each time


@glibc_only
def test_switched_off_the_heap_is_left_alone():
    set_, _ = _run(TFJS_CODEC_MALLOPT="0")
    assert set_ == "False"
