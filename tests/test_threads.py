"""8 threads reading one loaded model concurrently get the same bytes as one thread."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from conftest import FIXTURES, same_bits

import tfjs_codec as tc

#: Fixtures with multi-shard groups, straddling weights, quantized and string weights.
CASES = ["py_write_weights_quantized", "tfjs_converter_dense_mixed", "tfjs_encode_all_dtypes", "tfjs_quantized_manual"]

THREADS = 8


def baseline(case: str) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tc.TfjsFormatWarning)
        with tc.load(FIXTURES / case, mmap=False) as model:
            return {name: np.array(model[name], copy=True) for name in model.specs}


@pytest.mark.parametrize("use_mmap", [True, False], ids=["mmap", "read"])
@pytest.mark.parametrize("case", CASES)
def test_eight_threads_read_the_same_bytes(case, use_mmap):
    want = baseline(case)
    names = list(want)
    assert len(names) >= 2
    for round_ in range(5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tc.TfjsFormatWarning)
            model = tc.load(FIXTURES / case, mmap=use_mmap)
        barrier = threading.Barrier(THREADS)
        got: list[dict[str, np.ndarray]] = [{} for _ in range(THREADS)]
        errors: list[BaseException] = []

        def reader(t: int, model=model, barrier=barrier, got=got, errors=errors) -> None:
            try:
                barrier.wait()
                # each thread starts at a different weight, then reads them all, so
                # first accesses (mapping, decoding, caching) race on every weight
                order = names[t % len(names) :] + names[: t % len(names)]
                for name in order:
                    got[t][name] = np.array(model[name], copy=True)
                    got[t][name + "/raw"] = np.frombuffer(bytes(model.raw(name)), np.uint8)
            except BaseException as exc:  # reported in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=reader, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        raw = {name: np.frombuffer(bytes(model.raw(name)), np.uint8) for name in names}
        model.close()
        assert errors == []
        for t in range(THREADS):
            for name in names:
                assert same_bits(got[t][name], want[name]), (round_, t, name)
                assert same_bits(got[t][name + "/raw"], raw[name]), (round_, t, name)
