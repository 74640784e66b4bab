"""Normalization: BatchNormalization and LayerNormalization with tfjs-layers' statistics.

BatchNormalization: ``weight``/``bias`` = gamma/beta, buffers ``running_mean`` /
``running_var`` = moving_mean / moving_variance, Keras epsilon, ``momentum`` the Keras
momentum m (torch's would be 1 - m); train mode uses the biased batch variance as tfjs
and Keras 2 do. LayerNormalization: gamma/beta in their tfjs shape, over the saved axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .masks import passes_mask
from .registry import BuildContext, ExportedLayer, TfjsLayer, attach_export, maybe_param, register, to_numpy

__all__ = ["BatchNorm", "LayerNorm"]


@passes_mask
class BatchNorm(TfjsLayer):
    """BatchNormalization with tfjs-layers' (and Keras 2's) statistics.

    ``momentum`` is the Keras momentum m (torch's momentum would be 1 - m). In eval mode the
    input is normalized with the moving statistics. In train mode it is normalized with the
    batch mean and biased batch variance (over every axis but ``axis``), and the moving
    statistics move towards them as tfjs-layers does::

        moving_mean     -= (moving_mean - batch_mean) * (1 - m)
        moving_variance -= (moving_variance - batch_variance) * (1 - m)

    with the biased batch variance (divided by n, the number of values per channel), as
    tfjs-layers (``tf.moments``) and Keras 2 (whose fused kernel's Bessel correction it
    removes again) use, not torch's ``nn.BatchNorm`` unbiased n / (n - 1) variance.
    """

    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(
        self,
        name: str,
        cls: str,
        *,
        axis: int,
        eps: float,
        momentum: float,
        gamma: np.ndarray | None,
        beta: np.ndarray | None,
        mean: np.ndarray,
        var: np.ndarray,
    ) -> None:
        super().__init__(name, cls)
        self.axis, self.eps, self.momentum = axis, eps, momentum
        self.weight = maybe_param(gamma)
        self.bias = maybe_param(beta)
        self.register_buffer("running_mean", torch.from_numpy(np.array(mean, np.float32)))
        self.register_buffer("running_var", torch.from_numpy(np.array(var, np.float32)))
        self.tfjs_vars = tuple(
            v for v, p in (("gamma", gamma), ("beta", beta), ("moving_mean", 0), ("moving_variance", 0)) if p is not None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        moved = x.movedim(self.axis, -1)
        flat = moved.reshape(-1, moved.shape[-1])
        if not self.training:
            y = F.batch_norm(flat, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        else:
            var, mean = torch.var_mean(flat, dim=0, correction=0)
            with torch.no_grad():
                decay = 1.0 - self.momentum
                self.running_mean.sub_((self.running_mean - mean) * decay)
                self.running_var.sub_((self.running_var - var) * decay)
            y = (flat - mean) * torch.rsqrt(var + self.eps)
            if self.weight is not None:
                y = y * self.weight
            if self.bias is not None:
                y = y + self.bias
        return y.reshape(moved.shape).movedim(-1, self.axis)

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {"moving_mean": to_numpy(self.running_mean), "moving_variance": to_numpy(self.running_var)}
        if self.weight is not None:
            out["gamma"] = to_numpy(self.weight)
        if self.bias is not None:
            out["beta"] = to_numpy(self.bias)
        return out


def _axis(c: BuildContext, default: int = -1) -> Any:
    axis = c.opt("axis", default)
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    return axis


@register("BatchNormalization")
def _batchnorm(c: BuildContext) -> TfjsLayer:
    axis = _axis(c)
    if not isinstance(axis, int):
        raise c.fail("axis", f"= {axis!r} is not supported (one axis only)")
    if c.opt("renorm"):
        raise c.fail("renorm", "= True is not supported by tfjs_codec.torch")
    if c.opt("virtual_batch_size") is not None:
        raise c.fail("virtual_batch_size", f"= {c.opt('virtual_batch_size')!r} is not supported by tfjs_codec.torch")
    center, scale = c.opt("center", True), c.opt("scale", True)
    return BatchNorm(
        c.name, c.cls, axis=axis, eps=float(c.opt("epsilon", 1e-3)), momentum=float(c.opt("momentum", 0.99)),
        gamma=c.maybe("gamma", scale), beta=c.maybe("beta", center),
        mean=c.weight("moving_mean"), var=c.weight("moving_variance"),
    )


@passes_mask
class LayerNorm(TfjsLayer):
    """LayerNormalization over the given axes, as tfjs-layers and Keras 2 compute it.

    ``axes`` are the config's ``axis`` entries in their saved order (negative ones resolved
    against the input's rank at call time). Mean and (biased) variance are taken over those
    axes; gamma and beta keep their tfjs shape ``[input_shape[a] for a in axes]`` and are
    reshaped (not transposed) to the input's rank with the normalized axes' sizes in place,
    as both tfjs-layers and Keras do, so axes given out of order ([2, 1]) behave as there.
    """

    def __init__(
        self, name: str, cls: str, *, axes: tuple[int, ...], eps: float, gamma: np.ndarray | None, beta: np.ndarray | None
    ) -> None:
        super().__init__(name, cls)
        self.axes, self.eps = axes, eps
        self.weight = maybe_param(gamma)
        self.bias = maybe_param(beta)
        self.tfjs_vars = tuple(v for v, p in (("gamma", gamma), ("beta", beta)) if p is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rank = x.dim()
        axes = [a + rank if a < 0 else a for a in self.axes]
        if any(a < 1 or a >= rank for a in axes) or len(set(axes)) != len(axes):
            raise RuntimeError(
                f"layer {self.tfjs_name!r} ({self.tfjs_class}): axis {list(self.axes)!r} does not fit an input of "
                f"rank {rank} (the batch axis 0 cannot be normalized)"
            )
        sizes = tuple(x.shape[a] for a in axes)
        for param in (self.weight, self.bias):
            if param is not None and tuple(param.shape) != sizes:
                raise RuntimeError(
                    f"layer {self.tfjs_name!r} ({self.tfjs_class}): gamma/beta of shape {list(param.shape)!r} do not "
                    f"fit axis {list(self.axes)!r} of an input of shape {list(x.shape)!r}"
                )
        dims = tuple(sorted(axes))
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        shape = [1] * rank
        for a in axes:
            shape[a] = x.shape[a]
        if self.weight is not None:
            y = y * self.weight.reshape(shape)
        if self.bias is not None:
            y = y + self.bias.reshape(shape)
        return y

    def export_tfjs(self) -> dict[str, np.ndarray]:
        out = {}
        if self.weight is not None:
            out["gamma"] = to_numpy(self.weight)
        if self.bias is not None:
            out["beta"] = to_numpy(self.bias)
        return out


@register("LayerNormalization")
def _layernorm(c: BuildContext) -> TfjsLayer:
    axis = c.opt("axis", -1)
    axes = [axis] if isinstance(axis, int) else axis
    if not isinstance(axes, list) or not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise c.fail("axis", f"= {axis!r} is not an integer or a list of integers")
    if 0 in axes:
        raise c.fail("axis", f"= {axis!r} includes the batch axis 0, which is not supported by tfjs_codec.torch")
    if len(set(axes)) != len(axes):
        raise c.fail("axis", f"= {axis!r} repeats an axis")
    gamma = c.maybe("gamma", c.opt("scale", True))
    beta = c.maybe("beta", c.opt("center", True))
    for var, array in (("gamma", gamma), ("beta", beta)):
        if array is not None and array.ndim != len(axes):
            raise c.fail("axis", f"= {axis!r} does not match the shape {list(array.shape)!r} of weight {var!r}")
    return LayerNorm(c.name, c.cls, axes=tuple(axes), eps=float(c.opt("epsilon", 1e-3)), gamma=gamma, beta=beta)


# ---------------------------------------------------------------------------
# Export halves (torch module call -> Keras layers): see tfjs_codec.torch.exporter


def _np32(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy()


@attach_export("BatchNormalization", nn.BatchNorm1d, nn.BatchNorm2d)
def _export_batchnorm(ex: Any, call: Any) -> Any:
    """Eval statistics; the channel axis (torch axis 1) last; Keras momentum = 1 - torch's (None -> 0.99)."""
    from .exporter.graph import ONES, ZEROS, identity

    m, x = call.module, call.tensor()
    if not m.track_running_stats or m.running_mean is None or m.running_var is None:
        raise call.fail(
            "track_running_stats=False normalizes with the batch's statistics at inference; tfjs uses moving statistics"
        )
    x = call.graph.last_axis(x, 1, call.base) if x.rank >= 3 else call.graph.layout(x, identity(2), call.base)
    config = {
        "axis": -1, "momentum": 0.99 if m.momentum is None else 1.0 - float(m.momentum), "epsilon": float(m.eps),
        "center": m.affine, "scale": m.affine, "beta_initializer": ZEROS, "gamma_initializer": ONES,
        "moving_mean_initializer": ZEROS, "moving_variance_initializer": ONES, "beta_regularizer": None,
        "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None,
    }
    weights: dict[str, np.ndarray] = {}
    if m.affine:
        weights["gamma"] = _np32(m.weight)
        weights["beta"] = _np32(m.bias)
    weights["moving_mean"] = _np32(m.running_mean)
    weights["moving_variance"] = _np32(m.running_var)
    ref = call.emit(ExportedLayer("BatchNormalization", config, weights), [x])
    return x.with_(ref=ref, nonneg=False)


@attach_export("LayerNormalization", nn.LayerNorm)
def _export_layernorm(ex: Any, call: Any) -> Any:
    """LayerNorm over the last k axes (held last, in torch's order): gamma/beta keep their shape."""
    from .exporter.graph import ONES, ZEROS

    m, x = call.module, call.tensor()
    k = len(m.normalized_shape)
    if k >= x.rank:
        raise call.fail(f"normalizes over {k} axes of a rank-{x.rank} tensor, including the batch axis")
    tail = tuple(range(x.rank - k, x.rank))
    if not (len(x.perm) == x.rank and x.perm[-k:] == tail):
        full = x.perm + tuple(a for a in range(x.rank) if a not in x.perm)
        x = call.graph.layout(x, tuple(a for a in full if a not in tail) + tail, call.base)
    config = {
        "axis": list(range(x.rank - k, x.rank)), "epsilon": float(m.eps), "center": m.bias is not None,
        "scale": m.weight is not None, "beta_initializer": ZEROS, "gamma_initializer": ONES,
        "beta_regularizer": None, "gamma_regularizer": None,
    }
    weights: dict[str, np.ndarray] = {}
    if m.weight is not None:
        weights["gamma"] = _np32(m.weight)
    if m.bias is not None:
        weights["beta"] = _np32(m.bias)
    ref = call.emit(ExportedLayer("LayerNormalization", config, weights), [x])
    return x.with_(ref=ref, nonneg=False)
