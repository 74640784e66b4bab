"""Large decodes and quantizations split over threads give the one-thread result, bit for bit.

``tfjs_codec.parallel`` cuts the gathers of a big quantized weight (and the
range scan and arithmetic of quantizing one) into contiguous ranges written by
different threads. These tests pin the number of threads with
``TFJS_CODEC_THREADS``, check that the split really happens, and compare the
result with the one-thread path and with the per-code definition, for every
code value, for unaligned and odd-sized data, for weights straddling shards,
from many user threads at once, from inside a pool worker and in a forked child.
"""

from __future__ import annotations

import os
import threading
import time
import warnings

import numpy as np
import pytest
from conftest import same_bits

import tfjs_codec as tc
from tfjs_codec import parallel
from tfjs_codec import quantization as Q

#: Elements of a weight whose float32 output spans two huge pages and a bit: always split.
BIG = Q.HUGE_PAGE // 2 + 12345


@pytest.fixture
def ranges(monkeypatch):
    """Records how many ranges each split of the quantization module used."""
    used: list[int] = []
    real = Q.run_split

    def spy(*args, **kwargs):
        used.append(real(*args, **kwargs))
        return used[-1]

    monkeypatch.setattr(Q, "run_split", spy)
    return used


def with_threads(monkeypatch, n: int) -> None:
    monkeypatch.setenv(parallel.THREADS_ENV, str(n))


def every_code(qdtype: str, size: int, offset: int, seed: int) -> np.ndarray:
    """``size`` codes holding every code value, shuffled, at ``offset`` bytes into a buffer."""
    values = 256 if qdtype == "uint8" else 65536
    codes = np.resize(np.arange(values), size)
    np.random.default_rng(seed).shuffle(codes)
    dtype = np.dtype("u1" if qdtype == "uint8" else "<u2")
    raw = bytes(offset) + codes.astype(dtype).tobytes()
    return np.frombuffer(raw, dtype=dtype, offset=offset)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("qdtype,dtype", [("uint8", "float32"), ("uint8", "int32"), ("uint16", "float32"), ("uint16", "int32")])
@pytest.mark.parametrize("size,offset", [(BIG, 0), (BIG + 1, 1), (2 * BIG + 7, 3)])
def test_split_affine_decode_equals_one_thread_for_every_code(monkeypatch, ranges, threads, qdtype, dtype, size, offset):
    q = {"dtype": qdtype, "scale": 0.0123, "min": -1.7} if dtype == "float32" else {"dtype": qdtype, "scale": 0.5, "min": -64.25}
    codes = every_code(qdtype, size, offset, seed=size)
    with_threads(monkeypatch, threads)
    split = Q.affine_decode(codes, q, dtype)
    assert len(ranges) == 1 and 2 <= ranges[0] <= threads  # cut at huge-page boundaries: maybe fewer
    with_threads(monkeypatch, 1)
    serial = Q.affine_decode(codes, q, dtype)
    assert ranges[1:] == [1]
    assert same_bits(split, serial)
    assert same_bits(split, Q.lookup_table(q, dtype)[codes])


@pytest.mark.parametrize("threads", [2, 4])
@pytest.mark.parametrize("size,offset", [(BIG, 0), (3 * BIG + 3, 2)])
def test_split_float16_decode_equals_the_cast_for_every_bit_pattern(monkeypatch, ranges, threads, size, offset):
    codes = every_code("uint16", size, offset, seed=7).view("<f2")
    with_threads(monkeypatch, threads)
    out = np.empty(size, np.float32)
    assert Q.float16_to_float32(codes, out=out) is out
    assert len(ranges) == 1 and 2 <= ranges[0] <= threads
    assert same_bits(out, codes.astype(np.float32))


def test_threads_1_and_small_weights_decode_in_the_calling_thread(monkeypatch):
    seen: list[tuple[str, int, int]] = []

    def work(start: int, stop: int) -> None:
        seen.append((threading.current_thread().name, start, stop))

    with_threads(monkeypatch, 1)
    assert parallel.run_split(work, 10_000_000, grain=64, min_part=1000) == 1
    with_threads(monkeypatch, 4)
    assert parallel.run_split(work, 1999, grain=64, min_part=1000) == 1
    assert seen == [(threading.current_thread().name, 0, 10_000_000), (threading.current_thread().name, 0, 1999)]


@pytest.mark.parametrize(
    "total,grain,phase,threads,want",
    [
        (1_000_003, 64, 0, 3, [(0, 333312), (333312, 666688), (666688, 1_000_003)]),
        (1_000_003, 64, 5, 2, [(0, 499973), (499973, 1_000_003)]),  # 5 + 64 * 7812, 28 below the middle
        (1000, 512, 100, 2, [(0, 612), (612, 1000)]),  # the cut nearest the middle
        (1000, 512, 300, 4, [(0, 300), (300, 812), (812, 1000)]),  # cuts fall together: fewer ranges
        (1000, 4096, 2000, 4, [(0, 1000)]),  # no cut point inside: one range, in the calling thread
    ],
)
def test_ranges_are_contiguous_cut_at_the_grain_and_cover_everything(monkeypatch, total, grain, phase, threads, want):
    with_threads(monkeypatch, threads)
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def work(start: int, stop: int) -> None:
        with lock:
            seen.append((start, stop))

    assert parallel.run_split(work, total, grain=grain, min_part=100, phase=phase) == len(want)
    assert sorted(seen) == want


def test_a_failing_range_is_raised_after_every_range_finished(monkeypatch):
    with_threads(monkeypatch, 2)
    finished: list[int] = []

    def work(start: int, stop: int) -> None:
        if start:
            raise OSError("range failed")
        time.sleep(0.05)
        finished.append(start)

    with pytest.raises(OSError, match=r"^range failed$"):
        parallel.run_split(work, 2000, grain=1, min_part=1000)
    assert finished == [0]


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_thread_count_is_refused(monkeypatch, value):
    monkeypatch.setenv(parallel.THREADS_ENV, value)
    with pytest.raises(ValueError, match=rf"^TFJS_CODEC_THREADS must be a positive integer, got '{value}'$"):
        parallel.threads()


def test_the_default_is_the_usable_cpus_up_to_four(monkeypatch):
    monkeypatch.delenv(parallel.THREADS_ENV, raising=False)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    assert parallel.threads() == min(cpus, 4)


def test_a_decode_inside_a_pool_worker_does_not_wait_on_the_pool(monkeypatch):
    """A split started from a pool worker runs in that worker: no worker waits for another."""
    with_threads(monkeypatch, 2)
    q = {"dtype": "uint8", "scale": 0.25, "min": -3.0}
    codes = every_code("uint8", BIG, 0, seed=3)
    want = Q.lookup_table(q, "float32")[codes]
    inner: list[int] = []

    def nested(start: int, stop: int) -> None:
        inner.append(parallel.run_split(lambda a, b: None, 10_000, grain=1, min_part=1))
        assert same_bits(Q.affine_decode(codes, q, "float32"), want)

    assert parallel.run_split(nested, 2, grain=1, min_part=1) == 2
    assert sorted(inner) == [1, 2]  # the worker's split ran alone; the calling thread's did not


def test_many_user_threads_decode_big_weights_at_once(monkeypatch):
    with_threads(monkeypatch, 2)
    q = {"dtype": "uint16", "scale": 0.001, "min": -7.0}
    codes = every_code("uint16", BIG, 0, seed=11)
    want = Q.lookup_table(q, "float32")[codes]
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def user() -> None:
        try:
            barrier.wait()
            for _ in range(2):
                assert same_bits(Q.affine_decode(codes, q, "float32"), want)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    users = [threading.Thread(target=user) for _ in range(8)]
    for t in users:
        t.start()
    for t in users:
        t.join(120)
    assert not any(t.is_alive() for t in users), "a decode hung"
    assert errors == []


def test_a_straddling_model_loads_the_same_with_any_number_of_threads(monkeypatch, tmp_path):
    rng = np.random.default_rng(2)
    weights = {
        "small": rng.standard_normal(1001).astype(np.float32),
        "kernel": rng.standard_normal((3, BIG // 3 + 5)).astype(np.float32),
        "odd": rng.standard_normal(BIG + 1).astype(np.float32),
    }
    with_threads(monkeypatch, 1)
    for qdtype in ("uint8", "uint16", "float16"):
        folder = tmp_path / qdtype
        tc.save(folder, weights, quantize=qdtype, shard_size=(1 << 20) + 3)  # every big weight straddles shards
        decoded = {}
        for threads in (1, 2, 3):
            with_threads(monkeypatch, threads)
            with tc.load(folder) as model:
                assert model.shards_of("kernel")[0] != model.shards_of("kernel")[-1]
                decoded[threads] = {name: np.array(model[name]) for name in weights}
        for threads in (2, 3):
            for name in weights:
                assert same_bits(decoded[threads][name], decoded[1][name]), (qdtype, threads, name)


def quantize_data(size: int, seed: int) -> np.ndarray:
    data = np.random.default_rng(seed).standard_normal(size).astype(np.float32)
    data[size // 3] = 70000.0  # beyond float16; and outside the nudged uint range, so the clip runs
    data[size // 2] = -0.0
    return data


@pytest.mark.parametrize("qdtype", ["uint8", "uint16", "float16"])
@pytest.mark.parametrize("size", [Q.CHUNK_ELEMENTS * 2 + 77, BIG])
def test_split_quantization_gives_the_one_thread_codes_and_metadata(monkeypatch, ranges, qdtype, size):
    data = quantize_data(size, seed=size)
    results = {}
    for threads in (1, 2, 3):
        with_threads(monkeypatch, threads)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # numpy's error state must hold in every thread
            warnings.simplefilter("ignore", tc.TfjsFormatWarning)
            results[threads] = tc.quantize(data, qdtype)
    assert max(ranges) > 1
    for threads in (2, 3):
        assert results[threads][0].tobytes() == results[1][0].tobytes()
        assert results[threads][1] == results[1][1]
        assert [repr(v) for v in results[threads][1].values()] == [repr(v) for v in results[1][1].values()]


def test_split_range_scan_is_the_one_thread_range(monkeypatch):
    data = quantize_data(BIG * 3, seed=4)
    for threads in (1, 2, 3):
        with_threads(monkeypatch, threads)
        assert Q._value_range(data) == (float(data.min()), float(data.max()))
    data[BIG * 2 + 5] = np.nan
    with_threads(monkeypatch, 3)
    lo, hi = Q._value_range(data)
    assert np.isnan(lo) and np.isnan(hi)


def wait_child(pid: int, what: str) -> int:
    start = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() - start > 60:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail(f"{what} in a forked child hung")
        time.sleep(0.05)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("lock_held", [False, True], ids=["idle", "lock-held-at-fork"])
def test_a_forked_child_decodes_with_a_pool_of_its_own(monkeypatch, lock_held):
    with_threads(monkeypatch, 2)
    q = {"dtype": "uint8", "scale": 0.25, "min": -3.0}
    codes = every_code("uint8", BIG, 1, seed=5)
    want = Q.lookup_table(q, "float32")[codes]
    assert same_bits(Q.affine_decode(codes, q, "float32"), want)  # the parent's pool exists now
    lock = parallel._POOL_LOCK
    if lock_held:  # another thread of the parent is creating the pool when the fork happens
        lock.acquire()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
            pid = os.fork()
        if pid == 0:
            try:
                ok = same_bits(Q.affine_decode(codes, q, "float32"), want)
                os._exit(0 if ok else 1)
            except BaseException:
                os._exit(2)
    finally:
        if lock_held:
            lock.release()
    assert wait_child(pid, "a decode") == 0
