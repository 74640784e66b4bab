"""Recurrent layers: LSTM, GRU (both reset variants) and SimpleRNN with the Keras equations.

Layouts: ``weight_ih`` = kernel.T, ``weight_hh`` = recurrent_kernel.T, ``bias`` as stored,
Keras gate order. Recurrent cells follow Keras (``x`` the step input, ``h`` the state,
``ra`` the recurrent activation, ``act`` the activation; kernels split per gate):

- LSTM: ``i, f, c~, o = x K + h R + b`` (gate order i, f, c, o);
  ``c = ra(f) c + ra(i) act(c~)``, ``h = ra(o) act(c)``.
- GRU ``reset_after=True`` (Keras 2 default; bias (2, 3u) = input, recurrent):
  ``z = ra(xK_z + b_z + hR_z + b'_z)``, ``r`` likewise,
  ``h~ = act(xK_h + b_h + r * (hR_h + b'_h))``, ``h = z h + (1 - z) h~``.
- GRU ``reset_after=False`` (the only variant tfjs-layers runs; bias (3u,)):
  ``h~ = act(xK_h + b_h + (r * h) R_h)``.
- SimpleRNN: ``h = act(x K + b + h R)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .registry import ActivationFn, BuildContext, Builder, TfjsLayer, maybe_param, param, register, to_numpy

__all__ = ["Recurrent"]


class Recurrent(TfjsLayer):
    """LSTM, GRU (both reset variants) and SimpleRNN with the Keras equations."""

    def __init__(
        self,
        name: str,
        cls: str,
        *,
        kind: str,
        units: int,
        act: ActivationFn,
        rec_act: ActivationFn,
        kernel: np.ndarray,
        recurrent: np.ndarray,
        bias: np.ndarray | None,
        return_sequences: bool,
        go_backwards: bool,
        dropout: bool,
    ) -> None:
        super().__init__(name, cls)
        self.kind, self.units, self.act, self.rec_act = kind, units, act, rec_act
        self.return_sequences, self.go_backwards, self.dropout = return_sequences, go_backwards, dropout
        self.weight_ih = param(kernel.T)
        self.weight_hh = param(recurrent.T)
        self.bias = maybe_param(bias)
        self.tfjs_vars = ("kernel", "recurrent_kernel") + (("bias",) if bias is not None else ())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.dropout:
            raise RuntimeError(
                f"layer {self.tfjs_name!r} ({self.tfjs_class}): dropout/recurrent_dropout are not implemented in "
                "training mode by tfjs_codec.torch"
            )
        if self.go_backwards:
            x = x.flip(1)
        u = self.units
        bias_in = bias_rec = None
        if self.bias is not None:
            if self.kind == "gru_after":
                bias_in, bias_rec = self.bias[0], self.bias[1]
            else:
                bias_in = self.bias
        xs = F.linear(x, self.weight_ih, bias_in)
        h = x.new_zeros(x.shape[0], u)
        c = x.new_zeros(x.shape[0], u)
        outs = []
        for t in range(x.shape[1]):
            xt = xs[:, t]
            if self.kind == "lstm":
                z = xt + F.linear(h, self.weight_hh)
                i, f, g, o = z.split(u, dim=-1)
                c = self.rec_act(f) * c + self.rec_act(i) * self.act(g)
                h = self.rec_act(o) * self.act(c)
            elif self.kind == "gru_after":
                xz, xr, xh = xt.split(u, dim=-1)
                hz, hr, hh = F.linear(h, self.weight_hh, bias_rec).split(u, dim=-1)
                z, r = self.rec_act(xz + hz), self.rec_act(xr + hr)
                h = z * h + (1 - z) * self.act(xh + r * hh)
            elif self.kind == "gru_before":
                xz, xr, xh = xt.split(u, dim=-1)
                hz, hr = F.linear(h, self.weight_hh[: 2 * u]).split(u, dim=-1)
                z, r = self.rec_act(xz + hz), self.rec_act(xr + hr)
                h = z * h + (1 - z) * self.act(xh + F.linear(r * h, self.weight_hh[2 * u :]))
            else:
                h = self.act(xt + F.linear(h, self.weight_hh))
            outs.append(h)
        if self.return_sequences:
            return torch.stack(outs, dim=1)
        return h

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {"kernel": to_numpy(self.weight_ih).T, "recurrent_kernel": to_numpy(self.weight_hh).T}
        if self.bias is not None:
            out["bias"] = to_numpy(self.bias)
        return out


def _recurrent(kind: str) -> Builder:
    def build(c: BuildContext) -> TfjsLayer:
        for key in ("return_state", "stateful"):
            if c.opt(key):
                raise c.fail(key, "= True is not supported by tfjs_codec.torch")
        if c.opt("time_major"):
            raise c.fail("time_major", "= True is not supported by tfjs_codec.torch")
        k = kind
        if kind == "gru":
            k = "gru_after" if c.opt("reset_after", False) else "gru_before"
        use_bias = c.opt("use_bias", True)
        rec_default = "sigmoid" if kind != "simple" else None
        return Recurrent(
            c.name, c.cls, kind=k, units=int(c.opt("units")), act=c.activation("activation", "tanh"),
            rec_act=c.activation("recurrent_activation", rec_default or "linear"),
            kernel=c.weight("kernel"), recurrent=c.weight("recurrent_kernel"), bias=c.maybe("bias", use_bias),
            return_sequences=bool(c.opt("return_sequences", False)), go_backwards=bool(c.opt("go_backwards", False)),
            dropout=bool(c.opt("dropout", 0) or c.opt("recurrent_dropout", 0)),
        )

    return build


register("LSTM")(_recurrent("lstm"))
register("GRU")(_recurrent("gru"))
register("SimpleRNN")(_recurrent("simple"))
