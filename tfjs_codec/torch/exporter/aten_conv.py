"""Aten handlers for matrix products and convolutions: ``mm`` / ``bmm`` / ``addmm``, 1-D and 2-D
convolutions (grouped, depthwise, strided and dilated) and transposed convolutions. The
convolutions run NHWC between ``Transpose`` nodes, which the layout pass cancels.

Semantics are tfjs-converter 4.22's, as the project's graph interpreter runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .aten_base import NCHW, NHWC, Call, as_value, const_tensor, handles, pad_nhwc, strided_slice, tensor
from .tf_emit import Unsupported, Value
from .tf_graph import attr_bool, attr_int, attr_ints, attr_str, attr_type


@handles("mm", "bmm", "matmul")
def _mm(c: Call) -> Value:
    a, b = (c.e.cast(tensor(c, x), "float32") for x in c.args[:2])
    if a.rank == 2 and b.rank == 2:
        return c.e.op(
            "MatMul",
            [a, b],
            {"T": attr_type("float32"), "transpose_a": attr_bool(False), "transpose_b": attr_bool(False)},
            c.shape,
            "float32",
        )
    if a.rank < 2 or b.rank < 2:
        raise Unsupported("matmul of a vector")
    return c.e.op(
        "BatchMatMulV2",
        [a, b],
        {"T": attr_type("float32"), "adj_x": attr_bool(False), "adj_y": attr_bool(False)},
        c.shape,
        "float32",
    )


@handles("addmm")
def _addmm(c: Call) -> Value:
    bias, a, b = c.args[:3]
    beta, alpha = c.kwargs.get("beta", 1), c.kwargs.get("alpha", 1)
    y = c.e.op(
        "MatMul",
        [tensor(c, a), tensor(c, b)],
        {"T": attr_type("float32"), "transpose_a": attr_bool(False), "transpose_b": attr_bool(False)},
        c.shape,
        "float32",
    )
    if alpha != 1:
        y = c.e.binary("Mul", y, c.e.const(alpha, "float32"), c.shape)
    bv = as_value(c, bias, "float32")
    if beta != 1:
        bv = c.e.binary("Mul", bv, c.e.const(beta, "float32"), bv.shape)
    if bv.rank == 1:
        return c.e.op("BiasAdd", [y, bv], {"T": attr_type("float32"), "data_format": attr_str("NHWC")}, c.shape, "float32")
    return c.e.binary("AddV2", y, bv, c.shape)


# ------------------------------------------------------------------ convolution


def _conv_padding(
    size: tuple[int, int], k: tuple[int, int], s: tuple[int, int], d: tuple[int, int], p: Sequence[int]
) -> str | None:
    """'VALID' / 'SAME' when torch's symmetric padding ``p`` is exactly that, else None."""
    if not any(p):
        return "VALID"
    for i in range(2):
        eff = (k[i] - 1) * d[i] + 1
        out = -(-size[i] // s[i])
        total = max((out - 1) * s[i] + eff - size[i], 0)
        if total // 2 != p[i] or total - total // 2 != p[i]:
            return None
        if (size[i] + 2 * p[i] - eff) // s[i] + 1 != out:
            return None
    return "SAME"


def _conv2d_nhwc(
    c: Call,
    x: Value,
    w: np.ndarray,
    stride: tuple[int, int],
    dil: tuple[int, int],
    pad: Sequence[int],
    name: str | None,
    depthwise: bool = False,
) -> Value:
    """One Conv2D / DepthwiseConv2dNative on NHWC ``x`` with the TF kernel ``w`` ([kh, kw, in, out|mult])."""
    kh, kw = w.shape[0], w.shape[1]
    if stride != (1, 1) and dil != (1, 1):
        # tfjs: "Either strides or dilations must be 1": every stride-th output of the stride-1 convolution
        x = pad_nhwc(c, x, [(pad[0], pad[0]), (pad[1], pad[1])])
        y = _conv2d_nhwc(c, x, w, (1, 1), dil, [0, 0], name, depthwise)
        ho, wo = (y.shape[1] - 1) // stride[0] + 1, (y.shape[2] - 1) // stride[1] + 1
        return strided_slice(
            c,
            y,
            [0, 0, 0, 0],
            [0, 0, 0, 0],
            [1, stride[0], stride[1], 1],
            begin_mask=15,
            end_mask=15,
            shape=[y.shape[0], ho, wo, y.shape[3]],
        )
    size = (x.shape[1], x.shape[2])
    padding = _conv_padding(size, (kh, kw), stride, dil, pad)
    if padding is None:
        x = pad_nhwc(c, x, [(pad[0], pad[0]), (pad[1], pad[1])])
        padding = "VALID"
        size = (x.shape[1], x.shape[2])
    ho = (size[0] + (2 * pad[0] if padding == "SAME" else 0) - (kh - 1) * dil[0] - 1) // stride[0] + 1
    wo = (size[1] + (2 * pad[1] if padding == "SAME" else 0) - (kw - 1) * dil[1] - 1) // stride[1] + 1
    cout = w.shape[2] * w.shape[3] if depthwise else w.shape[3]
    kernel = c.e.g.const(name or c.e._name("kernel"), w)
    attrs = _conv_attrs(stride, padding, dil, conv2d=not depthwise)
    if depthwise:
        return c.e.op("DepthwiseConv2dNative", [x, kernel], attrs, [x.shape[0], ho, wo, cout], "float32")
    return c.e.op("Conv2D", [x, kernel], attrs, [x.shape[0], ho, wo, cout], "float32", name="Conv2D")


def _conv_attrs(stride: Sequence[int], padding: str, dil: Sequence[int], *, conv2d: bool) -> dict[str, Any]:
    """The attributes of an NHWC float32 convolution op; ``conv2d`` adds the two that ``Conv2D`` and
    ``Conv2DBackpropInput`` carry and ``DepthwiseConv2dNative`` does not."""
    attrs = {
        "T": attr_type("float32"),
        "strides": attr_ints([1, stride[0], stride[1], 1]),
        "padding": attr_str(padding),
        "data_format": attr_str("NHWC"),
        "dilations": attr_ints([1, dil[0], dil[1], 1]),
    }
    if conv2d:
        attrs["explicit_paddings"] = {"list": {}}
        attrs["use_cudnn_on_gpu"] = attr_bool(True)
    return attrs


@handles("convolution", "_convolution")
def _convolution(c: Call) -> Value:
    x, wv, bv = c.args[0], c.args[1], c.args[2]
    stride, padding, dilation, transposed, out_pad, groups = c.args[3:9]
    x = c.e.cast(tensor(c, x), "float32")
    w = const_tensor(wv, "the convolution weight").detach().to(torch.float32)
    wname = wv.name
    if x.rank == 3:  # conv1d: as a 2-D convolution over (1, L)
        x4 = c.e.op(
            "ExpandDims",
            [x, c.e.int_scalar(2)],
            {"T": attr_type("float32"), "Tdim": attr_type("int32")},
            [x.shape[0], x.shape[1], 1, x.shape[2]],
            "float32",
        )
        y4 = _conv_core(
            c,
            x4,
            w.unsqueeze(2),
            bv,
            [1, stride[0]],
            [0, padding[0]],
            [1, dilation[0]],
            transposed,
            [0, out_pad[0]],
            groups,
            wname,
        )
        return c.e.op("Squeeze", [y4], {"T": attr_type("float32"), "squeeze_dims": attr_ints([2])}, c.shape, "float32")
    if x.rank != 4:
        raise Unsupported(f"{x.rank - 2}-D convolution (tfjs graph models run 1-D and 2-D ones here)")
    return _conv_core(c, x, w, bv, list(stride), list(padding), list(dilation), transposed, list(out_pad), groups, wname)


def _conv_core(
    c: Call,
    x: Value,
    w: torch.Tensor,
    bv: Any,
    stride: list[int],
    padding: list[int],
    dilation: list[int],
    transposed: bool,
    out_pad: list[int],
    groups: int,
    wname: str | None,
) -> Value:
    e = c.e
    xn = e.transpose(x, NHWC)
    s, d = (stride[0], stride[1]), (dilation[0], dilation[1])
    if transposed:
        y = _deconv(c, xn, w, s, d, padding, out_pad, groups, wname)
    else:
        cin = x.shape[1]
        cout = w.shape[0]
        wt = w.permute(2, 3, 1, 0).contiguous().numpy()  # [kh, kw, in/groups, out]
        if groups == 1:
            y = _conv2d_nhwc(c, xn, wt, s, d, padding, wname)
        elif groups == cin:
            mult = cout // cin
            dw = w.reshape(cin, mult, w.shape[2], w.shape[3]).permute(2, 3, 0, 1).contiguous().numpy()
            y = _conv2d_nhwc(c, xn, dw, s, d, padding, wname, depthwise=True)
        else:  # grouped: one Conv2D per group on a split of the channels
            per_in, per_out = cin // groups, cout // groups
            parts = e.multi(
                "Split",
                [e.int_scalar(3), xn],
                {"T": attr_type("float32"), "num_split": attr_int(groups)},
                [[xn.shape[0], xn.shape[1], xn.shape[2], per_in]] * groups,
                ["float32"] * groups,
            )
            outs = [
                _conv2d_nhwc(
                    c,
                    parts[g],
                    wt[:, :, :, g * per_out : (g + 1) * per_out],
                    s,
                    d,
                    padding,
                    f"{wname}/group{g}" if wname else None,
                )
                for g in range(groups)
            ]
            y = e.op(
                "ConcatV2",
                [*outs, e.int_scalar(3)],
                {"T": attr_type("float32"), "N": attr_int(groups), "Tidx": attr_type("int32")},
                [*outs[0].shape[:3], cout],
                "float32",
            )
    if bv is not None:
        bias = e.const(const_tensor(bv, "the convolution bias").to(torch.float32), "float32", name=bv.name)
        y = e.op("BiasAdd", [y, bias], {"T": attr_type("float32"), "data_format": attr_str("NHWC")}, y.shape, "float32")
    return e.transpose(y, NCHW)


def _deconv(
    c: Call,
    xn: Value,
    w: torch.Tensor,
    s: tuple[int, int],
    d: tuple[int, int],
    padding: list[int],
    out_pad: list[int],
    groups: int,
    wname: str | None,
) -> Value:
    e = c.e
    if d != (1, 1):
        raise Unsupported(f"dilation {list(d)} on a transposed convolution (tfjs' conv2dTranspose has no dilation)")
    if groups != 1:
        raise Unsupported(f"groups={groups} on a transposed convolution")
    cin, cout, kh, kw = w.shape
    h, wd = xn.shape[1], xn.shape[2]
    full_h, full_w = (h - 1) * s[0] + kh + out_pad[0], (wd - 1) * s[1] + kw + out_pad[1]
    kernel = e.g.const(wname or e._name("kernel"), w.permute(2, 3, 1, 0).contiguous().numpy())  # [kh, kw, out, in]
    sizes = e.shape_vector([e.dim(xn, 0) if xn.shape[0] < 0 else xn.shape[0], full_h, full_w, cout])
    y = e.op(
        "Conv2DBackpropInput",
        [sizes, kernel, xn],
        _conv_attrs(s, "VALID", (1, 1), conv2d=True),
        [xn.shape[0], full_h, full_w, cout],
        "float32",
    )
    ho = (h - 1) * s[0] - 2 * padding[0] + kh + out_pad[0]
    wo = (wd - 1) * s[1] - 2 * padding[1] + kw + out_pad[1]
    if (ho, wo) != (full_h, full_w):
        y = strided_slice(
            c,
            y,
            [0, padding[0], padding[1], 0],
            [0, padding[0] + ho, padding[1] + wo, 0],
            [1, 1, 1, 1],
            begin_mask=0b1001,
            end_mask=0b1001,
            shape=[xn.shape[0], ho, wo, cout],
        )
    return y
