"""Several processes saving into one directory at once: saves commit one at a time under the
directory's lock (tfjs_codec.dirlock), never remove each other's files, and the last one to
commit wins whole. A reader looping meanwhile sees, each time, exactly one of the models.

Workers are forked processes (POSIX only), each saving its own model (its own weights, names and
sizes) many times; a reader process loads the directory in a loop.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import same_bits

import tfjs_codec as tc
from tfjs_codec.cli import main as cli_main
from tfjs_codec.dirlock import LOCK_NAME, directory_lock
from tfjs_codec.verify import verify

pytestmark = pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="forked workers")

ROUNDS = 12


def model_of(k: int) -> dict[str, np.ndarray]:
    """Writer k's model: its own names, shapes and values (sizes differ between writers)."""
    rng = np.random.default_rng(100 + k)
    return {
        f"w{k}/kernel": rng.standard_normal((20 + 7 * k, 16)).astype("<f4"),
        f"w{k}/bias": np.full(16, k, dtype="<f4"),
        "shared/table": rng.integers(-9, 9, (10, 4 + k)).astype("<i4"),
    }


def which_model(folder: Path, writers: int) -> int:
    """The writer whose model the directory holds, bit for bit (an AssertionError otherwise)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with tc.load(folder) as model:
            got = {name: np.array(model[name]) for name in model.specs}
    for k in range(writers):
        want = model_of(k)
        if got.keys() == want.keys() and all(same_bits(got[n], want[n]) for n in want):
            return k
    raise AssertionError(f"{folder}: none of the writers' models: {sorted(got)}")


def _writer(folder: str, k: int, shard_size: int, start: multiprocessing.synchronize.Event, errors) -> None:
    try:
        start.wait(10)
        for _ in range(ROUNDS):
            tc.save(folder, model_of(k), shard_size=shard_size)
    except BaseException as exc:  # reported to the test, which fails
        errors.put(f"writer {k}: {type(exc).__name__}: {exc}")
        raise


def _reader(folder: str, writers: int, stop: multiprocessing.synchronize.Event, errors, seen) -> None:
    """Load the directory in a loop; each load must be one writer's model whole. A load whose
    manifest was replaced while it read may find the replaced shards gone ("missing shard file":
    shards are opened lazily): that load read a state that no longer exists, and it is retried;
    the same error while the manifest is unchanged fails the test."""
    count = 0
    manifest = Path(folder) / "model.json"
    try:
        while not stop.is_set():
            # Every commit renames a new file over model.json, even when a writer puts back the very
            # bytes of an earlier manifest (its own model again). Holding the current one open keeps
            # its inode from being reused: the name still naming it after the load means no commit
            # happened during the load.
            fd = os.open(manifest, os.O_RDONLY)
            try:
                held = os.fstat(fd).st_ino
                try:
                    k = which_model(Path(folder), writers)
                except tc.TfjsFormatError as exc:
                    if exc.reason != "missing shard file" or os.stat(manifest).st_ino == held:
                        raise
                    seen.put(-1)
                    continue
            finally:
                os.close(fd)
            seen.put(k)
            count += 1
    except BaseException as exc:
        errors.put(f"reader after {count} loads: {type(exc).__name__}: {exc}")
        raise


@pytest.mark.parametrize(
    "writers,shard_sizes",
    [(2, (256, 256)), (2, (200, 1000)), (4, (256, 256, 256, 256)), (4, (128, 300, 4096, 700))],
    ids=["2-same-shards", "2-different-shards", "4-same-shards", "4-different-shards"],
)
def test_concurrent_saves_leave_one_whole_model(tmp_path, writers, shard_sizes):
    ctx = multiprocessing.get_context("fork")
    folder = tmp_path / "model"
    tc.save(folder, model_of(0), shard_size=shard_sizes[0])
    start, stop = ctx.Event(), ctx.Event()
    errors, seen = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(folder), k, shard_sizes[k], start, errors)) for k in range(writers)]
    reader = ctx.Process(target=_reader, args=(str(folder), writers, stop, errors, seen))
    for p in [*procs, reader]:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    stop.set()
    reader.join(60)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    assert [p.exitcode for p in procs] == [0] * writers
    assert reader.exitcode == 0
    loads = []
    while not seen.empty():
        loads.append(seen.get())
    assert [k for k in loads if k >= 0], "the reader loaded the directory at least once"
    which_model(folder, writers)  # the last save to commit, whole
    report = verify(folder)
    assert report.ok and report.notes == [], (report.problems, report.notes)
    with tc.load(folder) as model:
        named = {"model.json"} | {p for g in model.groups for p in g.paths}
    assert {p.name for p in folder.iterdir()} == named  # no temporary, stale shard or lock file left


def _hold_lock(folder: str, ready: multiprocessing.synchronize.Event) -> None:
    with directory_lock(Path(folder)):
        ready.set()
        time.sleep(60)


def test_a_save_waits_for_the_holder_and_names_it(tmp_path):
    """While another process holds the lock, a save with a short lock_timeout gives up naming the
    directory and the holder, and leaves the previous model and no file of its own."""
    ctx = multiprocessing.get_context("fork")
    folder = tmp_path / "model"
    tc.save(folder, model_of(0), shard_size=256)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(folder), ready))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(TimeoutError) as e:
            tc.save(folder, model_of(1), shard_size=256, lock_timeout=0.3)
        host = os.uname().nodename
        prefix = f"{folder}: another save of this directory holds {LOCK_NAME} (pid {holder.pid} on {host} since "
        assert str(e.value).startswith(prefix), str(e.value)
        assert str(e.value).endswith(") and did not finish within 0.3 s")
        after = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != LOCK_NAME}
        assert after == before
    finally:
        holder.kill()
        holder.join(10)


def test_a_holder_killed_mid_commit_releases_the_lock(tmp_path):
    """SIGKILL while holding the lock: the kernel releases it; the next save takes over the lock
    file the holder left, commits, and removes it."""
    ctx = multiprocessing.get_context("fork")
    folder = tmp_path / "model"
    tc.save(folder, model_of(0), shard_size=256)
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(folder), ready))
    holder.start()
    assert ready.wait(10)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    assert holder.exitcode == -signal.SIGKILL
    assert (folder / LOCK_NAME).exists()
    t0 = time.monotonic()
    tc.save(folder, model_of(1), shard_size=256, lock_timeout=5)
    assert time.monotonic() - t0 < 5
    assert which_model(folder, 2) == 1
    assert not (folder / LOCK_NAME).exists()


def test_a_live_writers_temporary_files_survive_another_save(tmp_path):
    """Cleanup removes temporary files of dead processes only: a live writer's shard in progress
    (its pid in the name) stays, a dead one's goes."""
    ctx = multiprocessing.get_context("fork")
    folder = tmp_path / "model"
    tc.save(folder, model_of(0))
    dead = ctx.Process(target=time.sleep, args=(0,))
    dead.start()
    dead.join(10)
    live_name = f".tfjs_codec-p{os.getpid()}-0a0b0c0d-0-0.tmp"
    dead_name = f".tfjs_codec-p{dead.pid}-0a0b0c0d-0-0.tmp"
    (folder / live_name).write_bytes(b"in progress")
    (folder / dead_name).write_bytes(b"abandoned")
    assert [n.split(":")[0] for n in verify(folder).notes] == [dead_name]
    tc.save(folder, model_of(1))
    names = {p.name for p in folder.iterdir()}
    assert live_name in names and dead_name not in names


def test_lock_file_is_ignored_by_verify_inspect_and_load(tmp_path, capsys):
    """A lock file left by a killed writer is not a model file, an orphan or a candidate manifest."""
    folder = tmp_path / "model"
    tc.save(folder, model_of(0), shard_size=256)
    (folder / LOCK_NAME).write_bytes(b"\npid 1 on elsewhere since 2026-01-01T00:00:00Z\n")
    report = verify(folder)
    assert report.ok and report.notes == []
    assert which_model(folder, 1) == 0
    assert cli_main(["inspect", str(folder)]) == 0
    assert LOCK_NAME not in capsys.readouterr().out
    assert cli_main(["verify", str(folder)]) == 0
    assert LOCK_NAME not in capsys.readouterr().out


def test_a_file_system_without_locks_saves_with_a_warning(tmp_path, monkeypatch):
    """flock failing with ENOLCK / EOPNOTSUPP (some network and FUSE file systems): the save goes
    on as before, unserialized, and says so."""
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.warns(tc.TfjsFormatWarning) as record:
        tc.save(tmp_path / "m", model_of(0))
    assert [str(w.message) for w in record] == [
        f"cannot lock {LOCK_NAME} ({os.strerror(errno.EOPNOTSUPP)}): saves into this directory from several "
        "processes at once are not serialized on this file system"
    ]
    assert which_model(tmp_path / "m", 1) == 0
