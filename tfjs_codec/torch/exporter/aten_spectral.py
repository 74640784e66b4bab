"""Aten handlers for spectral ops and complex tensors: ``rfft`` / ``irfft`` along one dimension
(tfjs' RFFT / IRFFT transform the innermost one), ``view_as_real``, ``real`` and ``imag``.

Semantics are tfjs-converter 4.22's, as the project's graph interpreter runs them.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .aten_base import Call, complex_safe, handles, norm_dim, target_key, tensor
from .tf_emit import Unsupported, Value
from .tf_graph import attr_int, attr_type


def _to_last(c: Call, x: Value, dims: Any) -> tuple[Value, list[int]]:
    ds = [dims] if isinstance(dims, int) else list(dims)
    if len(ds) != 1:
        raise Unsupported(f"a {len(ds)}-D FFT (tfjs' RFFT / IRFFT transform the innermost dimension only)")
    axis = norm_dim(ds[0], x.rank)
    perm = list(range(x.rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    return c.e.transpose(x, perm), perm


@handles("_fft_r2c")
def _rfft(c: Call) -> Value:
    x = c.e.cast(tensor(c, c.args[0]), "float32")
    norm, onesided = int(c.args[2]), bool(c.args[3])
    if not onesided:
        raise Unsupported("a two-sided real FFT (torch.fft.fft of a real tensor): use torch.fft.rfft")
    xt, perm = _to_last(c, x, c.args[1])
    n = xt.shape[-1]
    y = c.e.op(
        "RFFT",
        [xt, c.e.int_vec([n])],
        {"Treal": attr_type("float32"), "Tcomplex": attr_type("complex64")},
        [*xt.shape[:-1], n // 2 + 1],
        "complex64",
    )
    if norm:
        scale = c.e.const(1.0 / math.sqrt(n) if norm == 1 else 1.0 / n, "float32")
        y = c.e.binary("Mul", y, complex_safe(c, scale, y), y.shape)
    return c.e.transpose(y, perm)


@handles("_fft_c2r")
def _irfft(c: Call) -> Value:
    x = tensor(c, c.args[0])
    norm, n = int(c.args[2]), int(c.args[3])
    xt, perm = _to_last(c, x, c.args[1])
    m = xt.shape[-1]
    if m <= 2 or n != 2 * (m - 1):
        raise Unsupported(f"irfft to {n} points from {m} bins (tfjs' IRFFT gives 2 * (bins - 1), for more than 2 bins)")
    y = c.e.op(
        "IRFFT",
        [xt, c.e.int_vec([n])],
        {"Treal": attr_type("float32"), "Tcomplex": attr_type("complex64")},
        [*xt.shape[:-1], n],
        "float32",
    )
    if norm != 2:  # IRFFT divides by n ("backward"); torch asks for none (0) or 1 / sqrt(n) (1)
        y = c.e.binary("Mul", y, c.e.const(float(n) if norm == 0 else math.sqrt(n), "float32"), y.shape)
    return c.e.transpose(y, perm)


@handles("view_as_real")
def _view_as_real(c: Call) -> Value:
    x = tensor(c, c.args[0])
    re = c.e.op("Real", [x], {"T": attr_type("complex64"), "Tout": attr_type("float32")}, x.shape, "float32")
    im = c.e.op("Imag", [x], {"T": attr_type("complex64"), "Tout": attr_type("float32")}, x.shape, "float32")
    return c.e.op("Pack", [re, im], {"T": attr_type("float32"), "N": attr_int(2), "axis": attr_int(x.rank)}, c.shape, "float32")


@handles("real", "imag")
def _real_imag(c: Call) -> Value:
    x = tensor(c, c.args[0])
    op = "Real" if target_key(c.node.target) == "aten.real" else "Imag"
    if x.dtype != "complex64":
        return x if op == "Real" else c.e.const(torch.zeros(c.shape), "float32")
    return c.e.op(op, [x], {"T": attr_type("complex64"), "Tout": attr_type("float32")}, c.shape, "float32")
