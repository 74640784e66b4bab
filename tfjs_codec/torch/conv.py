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

import numpy as np
import torch
import torch.nn.functional as F

from .registry import (
    ActivationFn,
    BuildContext,
    Builder,
    TfjsLayer,
    maybe_param,
    param,
    register,
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
        c.only("output_padding", (None,), None)
        return ConvTranspose(
            c.name, c.cls, rank=rank, kernel=c.weight("kernel"), bias=c.maybe("bias", c.opt("use_bias", True)),
            strides=c.ints("strides", rank), dilation=c.ints("dilation_rate", rank),
            padding=c.only("padding", ("valid", "same"), "valid"), act=c.activation(), channels_first=cf,
        )

    return build


register("Conv2DTranspose")(_conv_transpose(2))
register("Conv3DTranspose")(_conv_transpose(3))
