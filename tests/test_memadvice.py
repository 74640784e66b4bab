"""Decoded values never depend on what the kernel is told about memory (tfjs_codec.memadvice).

Every path a quantized decode's memory can take — pages made present 2 MiB at a time in a
huge-page block, a stall detected and the rest in 4 KiB pages, 4 KiB pages from the start, a
kernel without MADV_POPULATE_WRITE, the advice switched off — gives the decodes tfjs-core
recorded for every fixture, bit for bit, and the same bits as each other for weights large
enough to be populated (and split over threads).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DECODED, FIXTURES, expected_weights, same_bits

import tfjs_codec as tc
from tfjs_codec import arena, memadvice


def _stall_always(monkeypatch) -> None:
    monkeypatch.setattr(memadvice, "STALL_S", -1.0)  # every 2 MiB step "took too long"
    monkeypatch.setattr(memadvice, "_huge_off_until", 0.0)


PATHS = {
    "default": lambda mp: None,
    "off": lambda mp: mp.setattr(memadvice, "ENABLED", False),
    "stall": _stall_always,
    "no-huge-pages": lambda mp: mp.setattr(memadvice, "_huge_off_until", float("inf")),
    "old-kernel": lambda mp: mp.setattr(memadvice, "_MADVISE", None),
}


@pytest.fixture(params=list(PATHS))
def path(request, monkeypatch):
    monkeypatch.setattr(memadvice, "_huge_off_until", 0.0)
    PATHS[request.param](monkeypatch)
    monkeypatch.setattr(arena, "POPULATE_MIN_BYTES", 1)  # the small fixtures' arrays take the path too
    return request.param


QUANTIZED = [c for c in DECODED if any(s in c for s in ("quant", "uint8", "uint16", "float16"))]


def test_quantized_fixtures_exist():
    assert len(QUANTIZED) >= 4, QUANTIZED


@pytest.mark.parametrize("case", QUANTIZED)
def test_fixture_decodes_bit_exact_on_every_memory_path(case, path):
    expected = expected_weights(case)
    with tc.load(FIXTURES / case) as model:
        for name, want in expected.items():
            assert same_bits(model[name], want), (path, name)


def _big_model(folder) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    weights = {f"k{i}": rng.standard_normal((1024, 1000 + 37 * i)).astype(np.float32) for i in range(4)}
    weights["ints"] = rng.integers(-1000, 1000, (700, 900)).astype(np.int32)
    tc.save(folder / "uint8", weights, quantize="uint8")
    tc.save(folder / "uint16", weights, quantize="uint16")
    tc.save(folder / "float16", {k: v for k, v in weights.items() if k != "ints"}, quantize="float16")
    return weights


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big")
    weights = _big_model(folder)
    reference = {}
    for q in ("uint8", "uint16", "float16"):
        with tc.load(folder / q) as model:
            # the reference decode: tc.dequantize of the stored codes, into fresh numpy memory
            stored = {"uint8": "u1", "uint16": "<u2", "float16": "<f2"}[q]
            reference[q] = {
                n: tc.dequantize(np.frombuffer(model.raw(n), dtype=stored).reshape(s.shape), s.quantization, s.dtype)
                if s.quantization is not None
                else weights[n]
                for n, s in model.specs.items()
            }
            assert sum(s.quantization is not None for s in model.specs.values()) >= 4
    return folder, reference


@pytest.mark.parametrize("q", ["uint8", "uint16", "float16"])
def test_large_decodes_are_the_same_bits_on_every_memory_path(big, path, q):
    folder, reference = big
    with tc.load(folder / q) as model:
        for name, want in reference[q].items():
            got = model[name]
            assert got.nbytes >= 2 << 20  # quantized ones: populated in 2 MiB steps, split over threads
            assert same_bits(got, want), (path, q, name)


def test_a_stall_turns_huge_pages_off_for_a_while(monkeypatch):
    """One slow 2 MiB step: populate_huge says so, and no huge pages are asked for until the
    back-off ends (unless the settings say asking cannot stall)."""
    if memadvice._MADVISE is None or not memadvice.ENABLED:
        pytest.skip("no madvise here")
    monkeypatch.setattr(memadvice, "_huge_off_until", 0.0)
    monkeypatch.setattr(memadvice, "thp_settings", lambda: {"enabled": "madvise", "defrag": "madvise"})
    monkeypatch.setattr(memadvice, "free_page_reporting", lambda: False)  # a host's faults: the test below
    block = arena.new_block(4 << 20)
    assert memadvice.huge_pages_worth_asking()
    monkeypatch.setattr(memadvice, "STALL_S", -1.0)
    result = memadvice.populate_huge(block.ctypes.data, block.nbytes)
    if result is None:
        pytest.skip("this kernel has no MADV_POPULATE_WRITE")
    assert result is False
    assert not memadvice.huge_pages_worth_asking()
    monkeypatch.setattr(memadvice, "thp_settings", lambda: {"enabled": "madvise", "defrag": "defer"})
    assert memadvice.huge_pages_worth_asking()  # defer never compacts in the fault


def test_thp_settings_are_read_from_the_bracketed_word(tmp_path, monkeypatch):
    (tmp_path / "enabled").write_text("always [madvise] never\n")
    (tmp_path / "defrag").write_text("always defer defer+madvise [madvise] never\n")
    monkeypatch.setattr(memadvice, "_THP", str(tmp_path) + "/")
    monkeypatch.setattr(memadvice, "_PAGE_REPORTING", str(tmp_path / "no_reporting") + "/")
    assert memadvice.thp_settings() == {"enabled": "madvise", "defrag": "madvise"}
    assert not memadvice.huge_pages_cannot_stall()
    (tmp_path / "defrag").write_text("always [defer] defer+madvise madvise never\n")
    assert memadvice.huge_pages_cannot_stall() == memadvice.ENABLED
    monkeypatch.setattr(memadvice, "_THP", str(tmp_path / "missing") + "/")
    assert memadvice.thp_settings() == {}
    assert not memadvice.huge_pages_worth_asking() or not memadvice.ENABLED


def test_free_page_reporting_means_huge_pages_can_stall_even_without_compaction(tmp_path, monkeypatch):
    """On a VM that hands free 2 MiB blocks back to its host, a huge page can cost a host fault
    per 4 KiB whatever ``defrag`` says: asking is then left to the stall detector."""
    thp, reporting = tmp_path / "thp", tmp_path / "page_reporting"
    thp.mkdir()
    reporting.mkdir()
    (thp / "enabled").write_text("always [madvise] never\n")
    (thp / "defrag").write_text("always [defer] defer+madvise madvise never\n")
    monkeypatch.setattr(memadvice, "_THP", str(thp) + "/")
    monkeypatch.setattr(memadvice, "_PAGE_REPORTING", str(reporting) + "/")
    monkeypatch.setattr(memadvice, "ENABLED", True)
    assert not memadvice.free_page_reporting()  # no such module: bare metal, other kernels
    assert memadvice.huge_pages_cannot_stall()
    (reporting / "page_reporting_order").write_text("9\n")
    (reporting / "reported_kib").write_text("0\n")
    assert not memadvice.free_page_reporting()  # compiled in, but no driver reports
    (reporting / "reported_kib").write_text("87463332\n")
    assert memadvice.free_page_reporting()
    assert not memadvice.huge_pages_cannot_stall()
    monkeypatch.setattr(memadvice, "_huge_off_until", float("inf"))  # a stall was just seen
    assert not memadvice.huge_pages_worth_asking()
    (reporting / "page_reporting_order").write_text("10\n")  # only 4 MiB blocks reported: huge pages are safe
    assert not memadvice.free_page_reporting()
    assert memadvice.huge_pages_worth_asking()
