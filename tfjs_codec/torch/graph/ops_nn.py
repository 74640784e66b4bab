"""Neural-network ops: convolutions (plain and fused), matmuls, pooling, batch norm, activations.

Semantics are tfjs-converter 4.22's (``convolution_executor``,
``matrices_executor``, ``normalization_executor``, ``basic_math_executor``)
with tfjs-backend-cpu's kernels, TensorFlow's for every attribute tfjs reads.
Where tfjs departs from TensorFlow, this module does what tfjs does:

- ``strides`` and ``dilations`` are read at positions 1 and 2 whatever the
  ``data_format`` (for NCHW, TensorFlow reads positions 2 and 3);
- ``data_format`` is honoured by ``Conv2D`` / ``_FusedConv2D`` only: the
  depthwise convolutions, ``Conv2DBackpropInput``, pooling and
  ``FusedBatchNorm`` compute as NHWC whatever it says.

Tensors stay in the graph's layout; a NHWC input reaches
torch's NCHW kernels as a permuted view (channels-last memory), so no copies.
Kernels stay in their TensorFlow layout (``[kh, kw, in, out]``) and are permuted
to torch's on the fly, so gradients land on the graph's own weights.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ..activations import SELU_ALPHA, SELU_SCALE
from ..registry import same_pad
from .registry import Node, register, validator
from .values import ints

# --------------------------------------------------------------------------
# activations


def prelu(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """tfjs ``prelu``: ``x < 0 ? alpha * x : x`` with ``alpha`` broadcast.

    An ``alpha`` that varies along one axis of ``x`` (a channel's slope) or not at all runs as
    torch's ``prelu`` kernel on ``x`` with that axis moved to 1 (``x > 0 ? x : alpha * x``: the
    same values but for the sign of a zero), one pass instead of the three of ``where`` (20-30x
    faster on a NHWC feature map); any other broadcast as ``where``.
    """
    if x.is_floating_point() and alpha.dtype == x.dtype and 1 <= x.dim() and alpha.dim() <= x.dim():
        shape = [1] * (x.dim() - alpha.dim()) + list(alpha.shape)
        axes = [i for i, n in enumerate(shape) if n != 1]
        if not axes:
            return F.prelu(x, alpha.reshape(1))
        ax = axes[0]
        if len(axes) == 1 and x.dim() >= 2 and shape[ax] == x.shape[ax]:
            return F.prelu(x.movedim(ax, 1), alpha.reshape(-1)).movedim(1, ax)
    return torch.where(x < 0, alpha * x, x)


def leaky_relu(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """tfjs ``leakyRelu``: ``x < 0 ? alpha * x : x`` (torch's kernel: ``x > 0 ? x : x * alpha``, one pass)."""
    if x.is_floating_point():
        return F.leaky_relu(x, alpha)
    return torch.where(x < 0, alpha * x, x)


def relu6(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, 0.0, 6.0)


_FUSED_ACTIVATIONS = {None, "relu", "relu6", "elu", "prelu", "leakyrelu", "sigmoid"}


def _activate(x: torch.Tensor, act: str | None, prelu_w: torch.Tensor | None, alpha: float) -> torch.Tensor:
    if act is None:
        return x
    if act == "relu":
        return torch.relu(x)
    if act == "relu6":
        return relu6(x)
    if act == "elu":
        return F.elu(x)
    if act == "prelu":
        assert prelu_w is not None
        return prelu(x, prelu_w)
    if act == "leakyrelu":
        return leaky_relu(x, alpha)
    if act == "sigmoid":
        return torch.sigmoid(x)
    raise ValueError(act)


@register("Relu")
def _relu(node: Node, x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x)


@register("Relu6")
def _relu6(node: Node, x: torch.Tensor) -> torch.Tensor:
    return relu6(x)


@register("Elu")
def _elu(node: Node, x: torch.Tensor) -> torch.Tensor:
    return F.elu(x)


@register("Selu")
def _selu(node: Node, x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, SELU_SCALE * x, (SELU_SCALE * SELU_ALPHA) * (torch.exp(x) - 1))


@register("Sigmoid")
def _sigmoid(node: Node, x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


@register("Tanh")
def _tanh(node: Node, x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x)


@register("Softplus")
def _softplus(node: Node, x: torch.Tensor) -> torch.Tensor:
    return F.softplus(x)


@register("LeakyRelu")
def _leaky(node: Node, x: torch.Tensor) -> torch.Tensor:
    return leaky_relu(x, float(node.attr("alpha", 0.2)))


@register("Prelu")
def _prelu(node: Node, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    return prelu(x, alpha)


@register("Softmax")
def _softmax(node: Node, x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


@register("LogSoftmax")
def _log_softmax(node: Node, x: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(x, dim=-1)


# --------------------------------------------------------------------------
# padding and layouts


def _fmt(node: Node) -> str:
    fmt = node.attr("data_format", "NHWC")
    return fmt.upper() if isinstance(fmt, str) else "NHWC"


def _hw(values: list[int]) -> tuple[int, int]:
    """Entries 1 and 2 of a strides / dilations / ksize 4-list, as tfjs reads them (whatever the layout)."""
    return (values[1], values[2])


def _pads(
    node: Node, size_hw: tuple[int, int], k_hw: tuple[int, int], s_hw: tuple[int, int], d_hw: tuple[int, int], fmt: str
) -> list[tuple[int, int]]:
    """[(top, bottom), (left, right)] for SAME / VALID / EXPLICIT padding."""
    padding = node.attr("padding")
    if padding == "VALID":
        return [(0, 0), (0, 0)]
    if padding == "SAME":
        return [same_pad(size_hw[i], k_hw[i], s_hw[i], d_hw[i]) for i in range(2)]
    if padding == "EXPLICIT":
        ex = node.attr("explicit_paddings")
        dims = (2, 3) if fmt == "NCHW" else (1, 2)
        return [(ex[2 * a], ex[2 * a + 1]) for a in dims]
    raise node.error(f"padding {padding!r} is not supported")


def _conv_params(node: Node) -> tuple[str, tuple[int, int], tuple[int, int]]:
    depthwise = "epthwise" in node.op  # tfjs-backend-cpu's depthwise kernels ignore data_format
    fmt = "NHWC" if depthwise else _fmt(node)
    return fmt, _hw(node.attr("strides")), _hw(node.attr("dilations", [1, 1, 1, 1]))


def _check_conv(node: Node) -> str | None:
    padding = node.attr("padding", None)
    if padding not in ("SAME", "VALID", "EXPLICIT"):
        return f"padding {padding!r}"
    if padding == "EXPLICIT" and len(node.attr("explicit_paddings", [])) != 8:
        return "EXPLICIT padding without 8 explicit_paddings"
    if _fmt(node) not in ("NHWC", "NCHW"):
        return f"data_format {_fmt(node)!r}"
    if len(node.attr("strides", [])) != 4 or len(node.attr("dilations", [1, 1, 1, 1])) != 4:
        return "strides / dilations that are not 4-lists"
    return None


def _to_nchw(x: torch.Tensor, fmt: str) -> torch.Tensor:
    return x.permute(0, 3, 1, 2) if fmt == "NHWC" else x


def _from_nchw(y: torch.Tensor, fmt: str) -> torch.Tensor:
    return y.permute(0, 2, 3, 1) if fmt == "NHWC" else y


def _pad_nchw(
    x: torch.Tensor, pads: list[tuple[int, int]], fmt: str, value: float = 0.0
) -> tuple[torch.Tensor, list[int] | int]:
    """Pad an NCHW tensor; symmetric pads are left to the kernel (returned as its padding)."""
    (t, b), (l, r) = pads
    if t == b and l == r:
        return x, [t, l]
    return _pad_hw(x, (l, r, t, b), fmt, value), 0


def _pad_hw(x: torch.Tensor, lrtb: tuple[int, int, int, int], fmt: str, value: float = 0.0) -> torch.Tensor:
    """Pad H and W of an NCHW tensor that is, for ``fmt`` NHWC, the permuted view of a NHWC one.

    A NHWC graph's tensor is padded as NHWC: the result keeps channels-last memory. (``F.pad`` of
    the NCHW view writes NCHW memory; every kernel after it then follows that layout, and torch's
    CPU convolutions run 2-10x slower on it than on the channels-last memory tfjs' layout gives.)
    """
    if fmt == "NHWC":
        l, r, t, b = lrtb
        return F.pad(x.permute(0, 2, 3, 1), (0, 0, l, r, t, b), value=value).permute(0, 3, 1, 2)
    return F.pad(x, lrtb, value=value)


# --------------------------------------------------------------------------
# convolutions


def _conv_core(
    node: Node, x: torch.Tensor, w: torch.Tensor, *, depthwise: bool, bias: torch.Tensor | None = None
) -> tuple[torch.Tensor, str]:
    """The convolution (plus a per-channel ``bias``, added by the kernel but for 1x1), output in NCHW, and
    the node's data format.

    The filter ``w`` is tfjs' ``[kh, kw, in, out]``; the kernel reads it as the permuted view
    ``[out, in, kh, kw]``, which costs no copy when the module holds the filter in the memory
    order :func:`~.module.conv_filter_memory` gives it (as :func:`~.module.build_graph_module` does)."""
    fmt, strides, dil = node.cached("conv", _conv_params)
    xn = _to_nchw(x, fmt)
    kh, kw, cin, cout = w.shape
    pads = _pads(node, (xn.shape[2], xn.shape[3]), (kh, kw), strides, dil, fmt)
    xp, padding = _pad_nchw(xn, pads, fmt)
    if depthwise:
        weight = w.permute(2, 3, 0, 1).reshape(cin * cout, 1, kh, kw)
        groups = cin
    else:
        weight = w.permute(3, 2, 0, 1)
        groups = xn.shape[1] // cin
    # torch's 1x1 kernel (one thread) copies a bias into a channels-last output element by
    # element (0.6 ms for blazeface's 128x128x24): added after it instead
    in_kernel = (kh, kw) != (1, 1)
    y = F.conv2d(xp, weight, bias if in_kernel else None, strides, padding, dil, groups)
    return (y if in_kernel or bias is None else y + bias.reshape(-1, 1, 1)), fmt


def _bias_nchw(y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return y + (bias.reshape(-1, 1, 1) if bias.dim() == 1 else bias)


@validator("Conv2D", "DepthwiseConv2dNative", "DepthwiseConv2d")
def _check_plain_conv(node: Node) -> str | None:
    return _check_conv(node)


@register("Conv2D")
def _conv2d(node: Node, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    y, fmt = _conv_core(node, x, w, depthwise=False)
    return _from_nchw(y, fmt)


@register("DepthwiseConv2dNative", "DepthwiseConv2d")
def _depthwise(node: Node, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    y, fmt = _conv_core(node, x, w, depthwise=True)
    return _from_nchw(y, fmt)


def _fused_ops(node: Node) -> list[str]:
    return [s.lower() for s in node.attr("fused_ops", [])]


@validator("_FusedConv2D", "FusedDepthwiseConv2dNative")
def _check_fused_conv(node: Node) -> str | None:
    why = _check_conv(node)
    if why:
        return why
    return _check_fused(node)


def _check_fused(node: Node) -> str | None:
    ops = _fused_ops(node)
    if not ops or len(ops) > 2:
        return f"fused_ops {node.attr('fused_ops', [])!r}"
    extra = ops[0]
    act = ops[1] if len(ops) > 1 else None
    if extra != "biasadd":
        return f"fused_ops {node.attr('fused_ops')!r} (tfjs fuses only BiasAdd first)"
    if act not in _FUSED_ACTIVATIONS:
        return f"fused activation {act!r} (tfjs knows relu, relu6, elu, prelu, leakyrelu, sigmoid)"
    need = 2 if act == "prelu" else 1
    if int(node.attr("num_args", need)) != need:
        return f"num_args {node.attr('num_args')} with fused_ops {node.attr('fused_ops')!r}"
    return None


def _fused_params(node: Node) -> tuple[str | None, float, bool, bool]:
    ops = _fused_ops(node)
    act = ops[1] if len(ops) > 1 else None
    ta, tb = bool(node.attr("transpose_a", False)), bool(node.attr("transpose_b", False))
    return act, float(node.attr("leakyrelu_alpha", 0.2)), ta, tb


def _fused_args(node: Node, args: tuple[Any, ...]) -> tuple[torch.Tensor, str | None, torch.Tensor | None, float]:
    act, alpha, _, _ = node.cached("fused", _fused_params)
    return args[0], act, args[1] if act == "prelu" else None, alpha


def _fused_conv(node: Node, x: torch.Tensor, w: torch.Tensor, args: tuple[Any, ...], depthwise: bool) -> torch.Tensor:
    bias, act, prelu_w, alpha = _fused_args(node, args)
    out_channels = w.shape[3] * (w.shape[2] if depthwise else 1)
    # a per-channel bias of the conv's dtype goes to the conv; any other broadcast is added here
    to_conv = bias.dim() == 1 and bias.shape[0] == out_channels and bias.dtype == x.dtype == w.dtype
    y, fmt = _conv_core(node, x, w, depthwise=depthwise, bias=bias if to_conv else None)
    if fmt == "NCHW":
        y = y if to_conv else _bias_nchw(y, bias)
        if prelu_w is not None and prelu_w.dim() == 1:
            prelu_w = prelu_w.reshape(-1, 1, 1)
        return _activate(y, act, prelu_w, alpha)
    y = _from_nchw(y, fmt)
    return _activate(y if to_conv else y + bias, act, prelu_w, alpha)


@register("_FusedConv2D")
def _fused_conv2d(node: Node, x: torch.Tensor, w: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
    return _fused_conv(node, x, w, args, depthwise=False)


@register("FusedDepthwiseConv2dNative")
def _fused_depthwise(node: Node, x: torch.Tensor, w: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
    return _fused_conv(node, x, w, args, depthwise=True)


@validator("Conv2DBackpropInput")
def _check_deconv(node: Node) -> str | None:
    return _check_conv(node)


@register("Conv2DBackpropInput", static=(0,))
def _conv2d_transpose(node: Node, sizes: torch.Tensor, w: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """The gradient of a SAME/VALID/EXPLICIT conv: ``input_sizes`` gives the output shape.

    As tfjs's ``conv2dTranspose``: NHWC, no dilations (both attributes ignored).
    """
    out_shape = ints(sizes)
    strides = _hw(node.attr("strides"))
    kh, kw = int(w.shape[0]), int(w.shape[1])
    pads = _pads(node, (out_shape[1], out_shape[2]), (kh, kw), strides, (1, 1), "NHWC")
    weight = w.permute(3, 2, 0, 1)  # [dy channels, out channels, kh, kw]
    full = F.conv_transpose2d(_to_nchw(dy, "NHWC"), weight, None, strides)
    h, wd = out_shape[1], out_shape[2]
    top, left = pads[0][0], pads[1][0]
    need_h, need_w = top + h - full.shape[2], left + wd - full.shape[3]
    if need_h > 0 or need_w > 0:
        full = F.pad(full, (0, max(need_w, 0), 0, max(need_h, 0)))
    return _from_nchw(full[:, :, top : top + h, left : left + wd], "NHWC")


# --------------------------------------------------------------------------
# matmul


def _matmul(a: torch.Tensor, b: torch.Tensor, ta: bool, tb: bool) -> torch.Tensor:
    if ta:
        a = a.transpose(-1, -2)
    if tb:
        b = b.transpose(-1, -2)
    return torch.matmul(a, b)


@register("MatMul")
def _mm(node: Node, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _matmul(a, b, bool(node.attr("transpose_a", False)), bool(node.attr("transpose_b", False)))


@register("BatchMatMul", "BatchMatMulV2")
def _bmm(node: Node, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _matmul(a, b, bool(node.attr("adj_x", False)), bool(node.attr("adj_y", False)))


@validator("_FusedMatMul")
def _check_fused_mm(node: Node) -> str | None:
    return _check_fused(node)


@register("_FusedMatMul")
def _fused_mm(node: Node, a: torch.Tensor, b: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
    act, alpha, ta, tb = node.cached("fused", _fused_params)
    y = _matmul(a, b, ta, tb) + args[0]
    return _activate(y, act, args[1] if act == "prelu" else None, alpha)


# --------------------------------------------------------------------------
# pooling


@validator("MaxPool", "AvgPool")
def _check_pool(node: Node) -> str | None:
    padding = node.attr("padding", None)
    if padding not in ("SAME", "VALID"):
        return f"padding {padding!r}"
    if len(node.attr("ksize", [])) != 4 or len(node.attr("strides", [])) != 4:
        return "ksize / strides that are not 4-lists"
    return None


def _pool_geometry(node: Node, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int], list[tuple[int, int]]]:
    k = _hw(node.attr("ksize"))
    s = _hw(node.attr("strides"))
    xn = _to_nchw(x, "NHWC")
    pads = _pads(node, (xn.shape[2], xn.shape[3]), k, s, (1, 1), "NHWC")
    return xn, k, s, pads


@register("MaxPool")
def _max_pool(node: Node, x: torch.Tensor) -> torch.Tensor:
    xn, k, s, pads = _pool_geometry(node, x)
    (t, b), (l, r) = pads
    if t or b or l or r:
        xn = _pad_hw(xn, (l, r, t, b), "NHWC", -math.inf)
    return _from_nchw(F.max_pool2d(xn, k, s), "NHWC")


@register("AvgPool")
def _avg_pool(node: Node, x: torch.Tensor) -> torch.Tensor:
    """Average over the window's in-bounds elements only (TensorFlow's SAME)."""
    xn, k, s, pads = _pool_geometry(node, x)
    (t, b), (l, r) = pads
    if not (t or b or l or r):
        return _from_nchw(F.avg_pool2d(xn, k, s), "NHWC")
    total = F.avg_pool2d(_pad_hw(xn, (l, r, t, b), "NHWC"), k, s, divisor_override=1)
    ones = torch.ones((1, 1, xn.shape[2], xn.shape[3]), dtype=xn.dtype, device=xn.device)
    count = F.avg_pool2d(F.pad(ones, (l, r, t, b)), k, s, divisor_override=1)
    return _from_nchw(total / count, "NHWC")


# --------------------------------------------------------------------------
# normalization


@validator("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def _check_bn(node: Node) -> str | None:
    if node.attr("is_training", False):
        return "is_training true (tfjs runs batch norm in inference mode only)"
    return None


@register("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def _batch_norm(
    node: Node, x: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, *_: Any
) -> torch.Tensor:
    eps = float(node.attr("epsilon", 1e-3))
    return offset + (x - mean) * scale / torch.sqrt(var + eps)


@register("LRN")
def _lrn(node: Node, x: torch.Tensor) -> torch.Tensor:
    """tfjs ``localResponseNormalization``: x / (bias + alpha * sum(x^2 over depth_radius))^beta."""
    r = int(node.attr("depth_radius", 5))
    bias, alpha, beta = float(node.attr("bias", 1.0)), float(node.attr("alpha", 1.0)), float(node.attr("beta", 0.5))
    sq = (x * x).unsqueeze(1)  # [N, 1, H, W, C]
    sq = F.pad(sq, (r, r))
    summed = F.avg_pool3d(sq, (1, 1, 2 * r + 1), 1, divisor_override=1).squeeze(1)
    return x / torch.pow(bias + alpha * summed, beta)
