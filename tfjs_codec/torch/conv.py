"""Convolutions: Conv1D, Conv2D, Conv3D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, Conv3DTranspose.

Channels-last outside, channels-first inside. Kernel layouts (tfjs -> torch): Conv1D
(k, in, out) -> (out, in, k); Conv2D (kh, kw, in, out) -> (out, in, kh, kw);
DepthwiseConv2D (kh, kw, in, m) -> (in*m, 1, kh, kw) with ``groups=in``; SeparableConv2D
both kernels likewise; Conv2DTranspose (kh, kw, out, in) -> (in, out, kh, kw).
``padding: same`` is TensorFlow's (the odd pixel at the end), not torch's symmetric one.
Conv3D (kd, kh, kw, in, out) and Conv3DTranspose (kd, kh, kw, out, in) likewise.
``data_format: channels_first`` layers take and return channels-first tensors, as in tfjs.
DepthwiseConv2D applies ``dilation_rate`` as the layer defines it (tfjs 4.22's kernel
ignores it: see the README).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .registry import (
    ActivationFn,
    BuildContext,
    Builder,
    ExportedLayer,
    TfjsLayer,
    attach_export,
    maybe_param,
    param,
    register,
    same_pad,
    same_pads,
    to_cf,
    to_cl,
    to_numpy,
)

__all__ = ["Conv", "ConvTranspose", "data_format"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def data_format(c: BuildContext, *, refuse_first: str = "") -> bool:
    """True for ``data_format: channels_first`` (the layer then takes and returns channels-first tensors).

    Args:
        c: the build context.
        refuse_first: when set, why channels_first is refused for this class.

    Raises:
        TfjsFormatError: an unknown data format, or channels_first where refused.
    """
    value = c.opt("data_format")
    if value in (None, "channels_last", "channelsLast"):
        return False
    if value in ("channels_first", "channelsFirst") and not refuse_first:
        return True
    if value in ("channels_first", "channelsFirst"):
        raise c.fail("data_format", f"= {value!r} is not supported by tfjs_codec.torch: {refuse_first}")
    raise c.fail("data_format", f"= {value!r} is not 'channels_last' or 'channels_first'")


class Conv(TfjsLayer):
    """Conv1D, Conv2D, DepthwiseConv2D and SeparableConv2D."""

    def __init__(
        self,
        name: str,
        cls: str,
        *,
        rank: int,
        kind: str,
        kernels: dict[str, np.ndarray],
        bias: np.ndarray | None,
        strides: tuple[int, ...],
        dilation: tuple[int, ...],
        padding: str,
        act: ActivationFn,
        channels_first: bool = False,
    ) -> None:
        super().__init__(name, cls)
        self.rank, self.kind, self.channels_first = rank, kind, channels_first
        self.strides, self.dilation, self.padding, self.act = strides, dilation, padding, act
        if kind == "conv":
            k = kernels["kernel"]  # (*k, in, out)
            self.weight = param(np.moveaxis(k, [-1, -2], [0, 1]))
            self.tfjs_vars = ("kernel",)
        else:
            dk = kernels["depthwise_kernel"]  # (kh, kw, in, m)
            self.in_channels, self.multiplier = dk.shape[-2], dk.shape[-1]
            w = np.moveaxis(dk, [-2, -1], [0, 1])  # (in, m, kh, kw)
            self.depthwise_weight = param(w.reshape((w.shape[0] * w.shape[1], 1) + w.shape[2:]))
            self.tfjs_vars = ("depthwise_kernel",)
            if kind == "separable":
                pk = kernels["pointwise_kernel"]  # (1, 1, in*m, out)
                self.pointwise_weight = param(np.moveaxis(pk, [-1, -2], [0, 1]))
                self.tfjs_vars += ("pointwise_kernel",)
        self.bias = maybe_param(bias)
        if bias is not None:
            self.tfjs_vars += ("bias",)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        k = (self.weight if self.kind == "conv" else self.depthwise_weight).shape[2:]
        if self.padding == "same":
            return F.pad(x, same_pads(x.shape[2:], k, self.strides, self.dilation))
        if self.padding == "causal":
            return F.pad(x, [(k[0] - 1) * self.dilation[0], 0])
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._pad(x if self.channels_first else to_cf(x))
        conv = _CONV[self.rank]
        if self.kind == "conv":
            y = conv(x, self.weight, self.bias, self.strides, 0, self.dilation)
        else:
            bias = self.bias if self.kind == "depthwise" else None
            y = conv(x, self.depthwise_weight, bias, self.strides, 0, self.dilation, groups=self.in_channels)
            if self.kind == "separable":
                y = conv(y, self.pointwise_weight, self.bias)
        return self.act(y if self.channels_first else to_cl(y))

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {}
        if self.kind == "conv":
            out["kernel"] = np.moveaxis(to_numpy(self.weight), [0, 1], [-1, -2])
        else:
            w = to_numpy(self.depthwise_weight)
            w = w.reshape((self.in_channels, self.multiplier) + w.shape[2:])
            out["depthwise_kernel"] = np.moveaxis(w, [0, 1], [-2, -1])
            if self.kind == "separable":
                out["pointwise_kernel"] = np.moveaxis(to_numpy(self.pointwise_weight), [0, 1], [-1, -2])
        if self.bias is not None:
            out["bias"] = to_numpy(self.bias)
        return out


#: Classes whose channels_first variant tfjs 4.22 itself cannot run (so no reference exists).
_TFJS_CANNOT_RUN_CF = {
    "Conv1D": "tfjs-layers 4.22 cannot run it (shape mismatch in its conv1d), so there is no reference to follow",
    "SeparableConv2D": "tfjs-layers 4.22 cannot run it (it adds the bias along the wrong axis)",
}


def _conv(rank: int, kind: str) -> Builder:
    def build(c: BuildContext) -> TfjsLayer:
        cf = data_format(c, refuse_first=_TFJS_CANNOT_RUN_CF.get(c.cls, ""))
        padding = c.only("padding", ("valid", "same", "causal") if rank == 1 else ("valid", "same"), "valid")
        c.only("groups", (1, None), 1)
        if kind == "conv":
            kernels = {"kernel": c.weight("kernel")}
        else:
            kernels = {"depthwise_kernel": c.weight("depthwise_kernel")}
            if kind == "separable":
                kernels["pointwise_kernel"] = c.weight("pointwise_kernel")
        strides = c.ints("strides", rank)
        dilation = c.ints("dilation_rate", rank)
        if max(strides) > 1 and max(dilation) > 1:
            raise c.fail("dilation_rate", "> 1 together with strides > 1 is not supported (Keras rejects it too)")
        return Conv(
            c.name, c.cls, rank=rank, kind=kind, kernels=kernels, bias=c.maybe("bias", c.opt("use_bias", True)),
            strides=strides, dilation=dilation, padding=padding, act=c.activation(), channels_first=cf,
        )

    return build


register("Conv1D")(_conv(1, "conv"))
register("Conv3D")(_conv(3, "conv"))
register("Conv2D")(_conv(2, "conv"))
register("DepthwiseConv2D")(_conv(2, "depthwise"))
register("SeparableConv2D")(_conv(2, "separable"))


class ConvTranspose(TfjsLayer):
    """Conv2DTranspose (and Conv1DTranspose): kernel (*k, out, in) -> (in, out, *k)."""

    def __init__(
        self,
        name: str,
        cls: str,
        *,
        rank: int,
        kernel: np.ndarray,
        bias: np.ndarray | None,
        strides: tuple[int, ...],
        dilation: tuple[int, ...],
        padding: str,
        act: ActivationFn,
        channels_first: bool = False,
    ) -> None:
        super().__init__(name, cls)
        self.rank, self.strides, self.dilation, self.padding, self.act = rank, strides, dilation, padding, act
        self.channels_first = channels_first
        self.weight = param(np.moveaxis(kernel, [-1, -2], [0, 1]))
        self.bias = maybe_param(bias)
        self.tfjs_vars = ("kernel", "bias") if bias is not None else ("kernel",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x if self.channels_first else to_cf(x)
        y = _CONV_T[self.rank](x, self.weight, None, self.strides, 0, 0, 1, self.dilation)
        index: list[slice] = [slice(None), slice(None)]
        pads: list[int] = []
        for i, (n, k, s, d) in enumerate(zip(x.shape[2:], self.weight.shape[2:], self.strides, self.dilation, strict=False)):
            eff = (k - 1) * d + 1
            out = n * s if self.padding == "same" else n * s + max(eff - s, 0)
            before = max((n - 1) * s + eff - out, 0) // 2
            have = y.shape[2 + i] - before
            index.append(slice(before, before + min(out, have)))
            pads = [0, max(out - have, 0)] + pads
        y = y[tuple(index)]
        if any(pads):
            y = F.pad(y, pads)
        if self.bias is not None:
            y = y + self.bias.reshape((1, -1) + (1,) * self.rank)
        return self.act(y if self.channels_first else to_cl(y))

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {"kernel": np.moveaxis(to_numpy(self.weight), [0, 1], [-1, -2])}
        if self.bias is not None:
            out["bias"] = to_numpy(self.bias)
        return out


def _conv_transpose(rank: int) -> Builder:
    def build(c: BuildContext) -> TfjsLayer:
        cf = data_format(c)
        # tfjs 4.22 reads no output_padding: its output length is deconvLength (length x stride for
        # 'same', length x stride + max(kernel - stride, 0) for 'valid'), which is Keras' with the
        # output_padding Keras 2 infers when none is given; tfjs is followed (the browser runs it).
        output_padding = c.opt("output_padding")
        if output_padding is not None and not (
            isinstance(output_padding, (list, tuple)) and all(isinstance(v, int) and v >= 0 for v in output_padding)
        ):
            raise c.fail("output_padding", f"= {output_padding!r} is not a list of non-negative ints")
        return ConvTranspose(
            c.name, c.cls, rank=rank, kernel=c.weight("kernel"), bias=c.maybe("bias", c.opt("use_bias", True)),
            strides=c.ints("strides", rank), dilation=c.ints("dilation_rate", rank),
            padding=c.only("padding", ("valid", "same"), "valid"), act=c.activation(), channels_first=cf,
        )

    return build


register("Conv2DTranspose")(_conv_transpose(2))
register("Conv3DTranspose")(_conv_transpose(3))


# ---------------------------------------------------------------------------
# Export halves (torch module call -> Keras layers): see tfjs_codec.torch.exporter


def _np32(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy()


def _conv_config(
    filters: int | None, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...] | None, padding: str, bias: bool
) -> dict[str, Any]:
    from .exporter.graph import GLOROT, ZEROS

    config: dict[str, Any] = {}
    if filters is not None:
        config.update({"filters": filters, "kernel_initializer": GLOROT, "kernel_regularizer": None, "kernel_constraint": None})
    config.update({"kernel_size": list(k), "strides": list(s), "padding": padding})
    if len(k) == 2:
        config["data_format"] = "channels_last"
    if d is not None:
        config["dilation_rate"] = list(d)
    config.update({
        "activation": "linear", "use_bias": bias, "bias_initializer": ZEROS, "bias_regularizer": None,
        "activity_regularizer": None, "bias_constraint": None,
    })
    return config


@attach_export("Conv1D", nn.Conv1d)
@attach_export("Conv2D", nn.Conv2d)
def _export_conv(ex: Any, call: Any) -> Any:
    """Conv1d / Conv2d (groups 1) and depthwise Conv2d (groups == in_channels) on channels-last input.

    Torch's symmetric zero padding becomes 'same' where TensorFlow's 'same' pads
    alike for this input size, else ZeroPadding2D + 'valid'.
    """
    from .exporter.graph import GLOROT, Value, channels_last
    from .exporter.ops import zero_pad

    m, x = call.module, call.tensor()
    rank = 1 if isinstance(m, nn.Conv1d) else 2
    if x.rank != rank + 2:
        raise call.fail(f"input of rank {x.rank}: Conv{rank}d without a batch axis is not supported")
    if m.padding_mode != "zeros":
        raise call.fail(f"padding_mode={m.padding_mode!r}: tfjs convolutions pad with zeros only")
    k, s, d = tuple(m.kernel_size), tuple(m.stride), tuple(m.dilation)
    cin, cout, groups = m.in_channels, m.out_channels, m.groups
    depthwise = groups > 1 and groups == cin and cout % cin == 0
    if groups > 1 and not depthwise:
        raise call.fail(
            f"groups={groups} (in {cin}, out {cout}): tfjs has no grouped convolution, only depthwise (groups == in_channels)"
        )
    if depthwise and rank == 1:
        raise call.fail("a depthwise Conv1d (groups == in_channels) has no tfjs layer (DepthwiseConv2D only)")
    if max(d) > 1 and max(s) > 1:
        raise call.fail(f"dilation {list(d)} with stride {list(s)}: tfjs convolutions refuse both > 1")
    if depthwise and max(d) > 1:
        raise call.fail(f"dilation {list(d)} on a depthwise convolution: tfjs 4.22's CPU DepthwiseConv2D ignores dilation_rate")
    if m.padding == "valid":
        pads = [(0, 0)] * rank
    elif m.padding == "same":  # torch: total d*(k-1), the extra one at the end (as TensorFlow at stride 1)
        pads = [(dd * (kk - 1) // 2, dd * (kk - 1) - dd * (kk - 1) // 2) for kk, dd in zip(k, d, strict=True)]
    else:
        pads = [(int(p), int(p)) for p in m.padding]
    tf_same = [same_pad(n, kk, ss, dd) for n, kk, ss, dd in zip(x.shape[2:], k, s, d, strict=True)]
    x = call.graph.layout(x, channels_last(x.rank), call.base)
    if all(p == (0, 0) for p in pads):
        padding = "valid"
    elif pads == tf_same:
        padding = "same"
    else:
        x = zero_pad(call, x, pads)
        padding = "valid"
    w = _np32(m.weight)
    weights: dict[str, np.ndarray] = {}
    if depthwise:
        mult = cout // cin
        config = _conv_config(None, k, s, d, padding, m.bias is not None)
        config.update({
            "depth_multiplier": mult, "depthwise_initializer": GLOROT, "depthwise_regularizer": None,
            "depthwise_constraint": None,
        })
        weights["depthwise_kernel"] = w.reshape(cin, mult, *k).transpose(2, 3, 0, 1)  # (kh, kw, in, m)
        cls = "DepthwiseConv2D"
    else:
        config = _conv_config(cout, k, s, d, padding, m.bias is not None)
        weights["kernel"] = np.moveaxis(w, [0, 1], [-1, -2])  # (*k, in, out)
        cls = f"Conv{rank}D"
    if m.bias is not None:
        weights["bias"] = _np32(m.bias)
    ref = call.emit(ExportedLayer(cls, config, weights), [x])
    return Value(ref, call.out_shape, channels_last(x.rank))


@attach_export("Conv2DTranspose", nn.ConvTranspose2d)
def _export_conv_transpose(ex: Any, call: Any) -> Any:
    """ConvTranspose2d: tfjs' 'valid' output starts where torch's uncropped one does; padding and
    output_padding become a Cropping2D (or 'same' where it crops alike)."""
    from .exporter.graph import Value, channels_last

    m, x = call.module, call.tensor()
    if x.rank != 4:
        raise call.fail(f"input of rank {x.rank}: ConvTranspose2d without a batch axis is not supported")
    if m.groups != 1:
        raise call.fail(f"groups={m.groups}: tfjs' Conv2DTranspose has no groups")
    if tuple(m.dilation) != (1, 1):
        raise call.fail(f"dilation {list(m.dilation)}: tfjs' Conv2DTranspose has no dilation")
    if m.padding_mode != "zeros":
        raise call.fail(f"padding_mode={m.padding_mode!r} is not supported")
    k, s = tuple(m.kernel_size), tuple(m.stride)
    p, op = tuple(int(v) for v in m.padding), tuple(int(v) for v in m.output_padding)
    out = call.out_shape
    crops = []
    for n, kk, ss, pp, want in zip(x.shape[2:], k, s, p, out[2:], strict=True):
        end = n * ss + max(kk - ss, 0) - pp - want  # tfjs 'valid' length: n*s + max(k - s, 0)
        if end < 0:
            raise call.fail(
                f"output_padding {list(op)} > padding {list(p)}: the extra rows hold only the bias in torch; tfjs' "
                "Conv2DTranspose has no such output"
            )
        crops.append((pp, end))
    x = call.graph.layout(x, channels_last(4), call.base)
    same = all(
        want == n * ss and c[0] == max(kk - ss, 0) // 2
        for want, n, ss, kk, c in zip(out[2:], x.shape[2:], s, k, crops, strict=True)
    )
    config = _conv_config(m.out_channels, k, s, None, "same" if same else "valid", m.bias is not None)
    weights = {"kernel": _np32(m.weight).transpose(2, 3, 1, 0)}  # (kh, kw, out, in)
    if m.bias is not None:
        weights["bias"] = _np32(m.bias)
    ref = call.emit(ExportedLayer("Conv2DTranspose", config, weights), [x])
    if not same and any(c != (0, 0) for c in crops):
        crop = ExportedLayer("Cropping2D", {"cropping": [list(c) for c in crops], "data_format": "channels_last"})
        ref = call.graph.add(call.base + "_crop", crop.class_name, crop.config, [ref])
    return Value(ref, out, channels_last(4))
