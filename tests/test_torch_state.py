"""state_dict shares memory with the mapped shards; save_state_dict inverts it byte for byte."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from conftest import FIXTURES, dir_bytes, require_torch

import tfjs_codec as tc

SOURCE_ONLY = ("expected.json", "expected.bin", "predict.json")


def _mapped_regions(path: str) -> list[tuple[int, int]]:
    """Address ranges of this process's mappings of ``path`` (Linux /proc)."""
    real = os.path.realpath(path)
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].strip() == real:
                lo, hi = (int(v, 16) for v in parts[0].split("-"))
                out.append((lo, hi))
    return out


@pytest.mark.parametrize("case", ["browser_dense_optimizer", "tfjs_converter_layers_lstm"])
def test_state_dict_shares_memory_with_the_mapping_without_warnings(case):
    torch = require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / case) as model:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sd = tct.state_dict(model)
        assert list(sd) == list(model.specs)
        for name, t in sd.items():
            raw = np.frombuffer(model.raw(name), dtype=np.uint8)
            assert t.data_ptr() == raw.ctypes.data, name
            assert tuple(t.shape) == model.specs[name].shape
        if os.path.exists("/proc/self/maps"):
            shard = model.directory / model.groups[0].paths[0]
            regions = _mapped_regions(str(shard))
            assert regions, "the shard is not mapped"
            for name, t in sd.items():
                if len(model.shards_of(name)) == 1:
                    assert any(lo <= t.data_ptr() < hi for lo, hi in regions), name
        # Writing through a tensor is seen by the model's array (shared), never by the file.
        name = next(n for n, s in model.specs.items() if s.dtype == "float32" and s.size)
        before = (model.directory / model.shards_of(name)[0]).read_bytes()
        sd[name].view(-1)[0] = 12345.0
        assert model.weights[name].reshape(-1)[0] == np.float32(12345.0)
        assert (model.directory / model.shards_of(name)[0]).read_bytes() == before
        assert sd[name].dtype == torch.float32


def test_state_dict_of_quantized_weights_is_dequantized():
    require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "tfjs_converter_dense_mixed") as model:
        sd = tct.state_dict(model)
        for name in model.specs:
            np.testing.assert_array_equal(sd[name].numpy(), model.weights[name])


@pytest.mark.parametrize(
    "case", ["browser_dense_optimizer", "tfjs_converter_dense_uint16", "ml5_bundle", "tfjs_converter_layers_gru"]
)
def test_save_state_dict_round_trip_is_byte_identical(case, tmp_path):
    require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / case) as model:
        tct.save_state_dict(tmp_path / "out", tct.state_dict(model), like=model)
    src = {k: v for k, v in dir_bytes(FIXTURES / case).items() if k not in SOURCE_ONLY}
    assert dir_bytes(tmp_path / "out") == src


def test_save_state_dict_takes_tensors_with_grad(tmp_path):
    torch = require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "browser_dense") as model:
        sd = {k: v.clone().requires_grad_(True) for k, v in tct.state_dict(model).items()}
        sd["bd_dense_1/bias"] = (sd["bd_dense_1/bias"] * 3).detach().requires_grad_(True)
        tct.save_state_dict(tmp_path / "out", sd, like=model)
        with tc.load(tmp_path / "out") as saved:
            np.testing.assert_array_equal(saved["bd_dense_1/bias"], model["bd_dense_1/bias"] * 3)
        sd["bd_dense_1/bias"] = torch.zeros(5)
        with pytest.raises(tc.TfjsFormatError) as err:
            tct.save_state_dict(tmp_path / "bad", sd, like=model)
        assert str(err.value) == "weight 'bd_dense_1/bias': shape: shape (5,) does not match the model's (16,)"


def test_as_tensor_copies_what_torch_cannot_share():
    require_torch()
    from tfjs_codec.torch.state import as_tensor

    buf = bytearray(np.arange(4, dtype="<f4").tobytes() + b"\0")
    unaligned = np.frombuffer(memoryview(buf)[1:], dtype="<u1")[:16].view("<f4")
    readonly = np.frombuffer(bytes(16), dtype="<f4")
    big = np.arange(4, dtype=">f4")
    assert not unaligned.flags.aligned and not readonly.flags.writeable and not big.dtype.isnative
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for arr in (unaligned, readonly, big):
            t = as_tensor(arr)
            np.testing.assert_array_equal(t.numpy(), arr)
            assert t.data_ptr() != arr.ctypes.data
    writable = np.arange(4, dtype="<f4")
    assert as_tensor(writable).data_ptr() == writable.ctypes.data


def test_string_weights_are_refused():
    require_torch()
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / "tfjs_encode_all_dtypes") as model, pytest.raises(tc.TfjsFormatError) as err:
        tct.state_dict(model)
    first = next(n for n, s in model.specs.items() if s.dtype == "string")
    assert str(err.value) == f"weight {first!r}: dtype: string weights have no torch dtype"
