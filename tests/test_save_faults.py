"""save() under faults: SIGKILL at every step of a save over an existing model,
and exceptions mid-save. After any of them the directory holds the old model
bit-exact or the new one complete, never a mix; a clean failure leaves no
temporary file; the next save removes what a killed one left behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, same_bits

import tfjs_codec as tc
from tfjs_codec.dirlock import LOCK_NAME
from tfjs_codec.verify import verify

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and fork semantics are POSIX")

#: The writer child: counts the steps of a save (every write, fsync, rename,
#: replace and unlink, before and after) and SIGKILLs itself at step KILL_AT.
CHILD = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import tfjs_codec as tc
from tfjs_codec import commit

target, kill_at, shard_size = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
steps = [0]

def step():
    steps[0] += 1
    if steps[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

def counted(fn):
    def wrapper(*args, **kwargs):
        step()
        result = fn(*args, **kwargs)
        step()
        return result
    return wrapper

model = tc.load(target)
new = {name: np.asarray(model[name]) + np.ones((), model[name].dtype) for name in model.specs}
for name in ("rename", "replace", "unlink", "fsync"):
    setattr(os, name, counted(getattr(os, name)))
commit._FileSink.write = counted(commit._FileSink.write)
print("ready", flush=True)
if kill_at < 0:
    import time
    time.sleep(0.2)
tc.save(target, new, like=model, shard_size=shard_size or None)
print("steps", steps[0], flush=True)
"""

SHARD_SIZE = 1000


def old_weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {
        "dense/kernel": rng.standard_normal((40, 10)).astype("<f4"),
        "dense/bias": rng.standard_normal(10).astype("<f4"),
        "embedding/table": rng.integers(-100, 100, (30, 8)).astype("<i4"),
    }


def new_weights() -> dict[str, np.ndarray]:
    return {k: v + np.ones((), v.dtype) for k, v in old_weights().items()}


def make_old(folder: Path, shard_size: int | None) -> None:
    tc.save(folder, old_weights(), shard_size=shard_size)


def run_child(folder: Path, kill_at: int, shard_size: int, delay: float | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-c", CHILD, str(ROOT), str(folder), str(kill_at), str(shard_size)]
    if delay is None:
        return subprocess.run(args, capture_output=True, text=True, timeout=120)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, "ready\n" + out, err)


def state_of(folder: Path) -> str:
    """'old' or 'new' when the model loads and every weight equals one of them bit
    for bit; fails the test otherwise (a mix, a missing shard, a broken manifest)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with tc.load(folder) as model:
            got = {name: np.array(model[name]) for name in model.specs}
    for label, want in (("old", old_weights()), ("new", new_weights())):
        if got.keys() == want.keys() and all(same_bits(got[k], want[k]) for k in want):
            return label
    raise AssertionError(f"{folder}: neither the old model nor the new one: {sorted(got)}")


def model_files(folder: Path) -> set[str]:
    with tc.load(folder) as model:
        return {"model.json"} | {p for g in model.groups for p in g.paths}


def count_steps(tmp_path: Path, shard_size: int) -> int:
    folder = tmp_path / "count"
    make_old(folder, shard_size or None)
    done = run_child(folder, 0, shard_size)
    assert done.returncode == 0, done.stderr
    assert state_of(folder) == "new"
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize("shard_size", [SHARD_SIZE, 0], ids=["sharded-1000", "same-layout"])
def test_sigkill_at_every_step_leaves_old_or_new(tmp_path, shard_size):
    total = count_steps(tmp_path, shard_size)
    assert total > 10
    seen = {"old": 0, "new": 0}
    for kill_at in range(1, total + 1):
        folder = tmp_path / f"kill{kill_at}"
        make_old(folder, shard_size or None)
        result = run_child(folder, kill_at, shard_size)
        assert result.returncode == -signal.SIGKILL, (kill_at, result.stderr)
        state = state_of(folder)
        seen[state] += 1
        report = verify(folder)
        assert report.ok, (kill_at, report.problems)
        # a kill inside the commit leaves the lock file (released by the kernel; not an orphan)
        leftovers = {p.name for p in folder.iterdir()} - model_files(folder) - {LOCK_NAME}
        assert all(n.startswith(".tfjs_codec-") or n.endswith(".bin") for n in leftovers), leftovers
        # every leftover is reported as an orphan
        assert sorted(leftovers) == sorted(n.split(":")[0] for n in report.notes), (kill_at, report.notes)
        # the next save over it removes all of them
        tc.save(folder, new_weights(), like=folder)
        assert state_of(folder) == "new"
        assert {p.name for p in folder.iterdir()} == model_files(folder), kill_at
    # the kills fell both before and after the commit point
    assert seen["old"] > 0 and seen["new"] > 0, seen


def test_sigkill_at_random_times(tmp_path):
    rng = random.Random(7)
    for i in range(6):
        folder = tmp_path / f"r{i}"
        make_old(folder, SHARD_SIZE)
        result = run_child(folder, -1, SHARD_SIZE, delay=0.2 + rng.random() * 0.1)
        assert result.returncode in (0, -signal.SIGKILL), result.stderr
        assert state_of(folder) in ("old", "new")


class Boom(Exception):
    pass


@pytest.mark.parametrize("fail_after", [1, 3, 5])
def test_exception_mid_save_leaves_old_model_and_no_temp_files(tmp_path, fail_after):
    folder = tmp_path / "m"
    make_old(folder, SHARD_SIZE)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == fail_after:
            raise Boom

    with pytest.raises(Boom):
        tc.save(folder, new_weights(), like=folder, progress=progress)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert state_of(folder) == "old"


def test_manifest_rename_failure_leaves_old_model_and_no_temp_files(tmp_path, monkeypatch):
    folder = tmp_path / "m"
    make_old(folder, SHARD_SIZE)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith("model.json"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        tc.save(folder, new_weights(), like=folder)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert state_of(folder) == "old"


def test_failure_after_the_commit_keeps_the_new_shards(tmp_path, monkeypatch):
    # a sidecar that cannot be written after model.json was replaced must not
    # take the new model's shards with it
    folder = tmp_path / "m"
    make_old(folder, SHARD_SIZE)
    (folder / "model_meta.json").write_text('{"inputUnits": 1}')
    like = tc.load(folder)
    (folder / "model_meta.json").write_text('{"inputUnits": 2}')
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith("model_meta.json"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        tc.save(folder, new_weights(), like=like)
    monkeypatch.undo()
    like.close()
    assert state_of(folder) == "new"
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".tfjs_codec-")]


def test_next_save_keeps_fresh_named_files_another_manifest_uses(tmp_path):
    folder = tmp_path / "m"
    make_old(folder, SHARD_SIZE)
    tc.save(folder, new_weights(), like=folder)  # same names taken: fresh-named shards
    fresh = sorted(p.name for p in folder.iterdir() if p.name not in model_files(folder))
    assert fresh == []
    (folder / "model.json").rename(folder / "other.json")  # another model in the same directory
    make_old(folder / "sub", SHARD_SIZE)
    for p in (folder / "sub").iterdir():
        p.rename(folder / p.name)
    tc.save(folder / "model.json", new_weights(), like=folder / "model.json")
    with tc.load(folder / "other.json") as other:
        assert all(same_bits(np.array(other[k]), v) for k, v in new_weights().items())
