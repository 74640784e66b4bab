"""Handlers for torch functions and tensor methods (``F.relu``, ``torch.cat``, ``+``, ``view``...).

Each handler adds the Keras layers that compute what the torch call computes
(exactly, up to float rounding) or refuses with the reason. Module calls
(``nn.Conv2d``...) are the export halves of the layer registry's entries, in the
family files (:mod:`tfjs_codec.torch.conv`, ...); both share the helpers here.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..registry import same_pad
from .calls import FUNCTIONS, METHODS, Call
from .graph import Value, channels_last, identity

if TYPE_CHECKING:
    from .engine import Exporter

__all__ = [
    "CHANNELS_FIRST_FUNCTIONS", "activation", "adaptive_avg", "distinct", "elu", "gelu", "global_pool", "hardsigmoid",
    "hardswish", "hardtanh", "leaky_relu", "pad_spatial", "pool", "rescale", "reshape_to",
    "softmax", "softplus", "upsample", "zero_pad",
]

#: Functions whose input is (N, C, ...) (decides an input's layout).
CHANNELS_FIRST_FUNCTIONS = {
    F.conv1d, F.conv2d, F.max_pool1d, F.max_pool2d, F.avg_pool1d, F.avg_pool2d,
    F.adaptive_avg_pool2d, F.adaptive_avg_pool1d, F.interpolate, F.batch_norm,
}

#: Keras activations whose output is >= 0.
NONNEG = {"relu", "relu6", "sigmoid", "softmax", "softplus"}


def activation(call: Call, name: str, x: Value | None = None) -> Value:
    """A Keras ``Activation(name)`` layer on ``x`` (default: the first argument); any layout."""
    x = call.tensor() if x is None else x
    ref = call.add("", "Activation", {"activation": name}, [x])
    return x.with_(ref=ref, nonneg=name in NONNEG, integer=False)


def softmax(call: Call, x: Value, dim: int | None, log: bool) -> Value:
    """softmax / log_softmax over torch axis ``dim``: the Keras ``Activation`` on the last axis."""
    if dim is None:  # torch's implicit dim (deprecated): 0 for ranks 0, 1, 3, else 1
        dim = 0 if x.rank in (0, 1, 3) else 1
    dim = dim % x.rank
    if dim == 0:
        raise call.fail("softmax over the batch axis 0 cannot be expressed (Keras layers work per sample)")
    x = call.graph.last_axis(x, dim, call.base)  # tfjs' softmax runs on the last axis only
    if log:
        return activation(call, "log_softmax", x)
    return x.with_(ref=call.add("", "Softmax", {"axis": -1}, [x]), nonneg=True, integer=False)


def distinct(call: Call, values: list[Value]) -> list[Value]:
    """``values`` with repeats replaced by copies (``Rescaling(1, 0)``).

    A tfjs layers model loaded from JSON frees a tensor once as many layers as use it
    have run, counting a layer once however often it takes the tensor: a merge layer
    given the same tensor twice (``x * x``) then fails with "Tensor is disposed".
    """
    seen: set[Any] = set()
    out = []
    for i, v in enumerate(values):
        if v.ref in seen:
            v = v.with_(ref=call.add(f"_copy{i}", "Rescaling", {"scale": 1.0, "offset": 0.0}, [v]))
        seen.add(v.ref)
        out.append(v)
    return out


def zero_pad(call: Call, x: Value, pads: Sequence[tuple[int, int]]) -> Value:
    """``x`` (channels-last, rank 3 or 4) zero-padded by ``pads`` per spatial axis (torch order).

    tfjs 4.22 has ZeroPadding2D only, so a 1-D sequence goes through a
    ``Reshape`` to ``(L, 1, C)`` and back.
    """
    if all(p == (0, 0) for p in pads):
        return x
    spatial = [x.shape[a] for a in range(2, x.rank)]
    if x.rank == 4:
        ref = call.add("_pad", "ZeroPadding2D", {"padding": [list(p) for p in pads], "data_format": "channels_last"}, [x])
        return x.with_(ref=ref, shape=(*x.shape[:2], *(n + a + b for n, (a, b) in zip(spatial, pads, strict=False))))
    (a, b), (n,), c = pads[0], spatial, x.shape[1]
    r1 = call.add("_pad_2d", "Reshape", {"target_shape": [n, 1, c]}, [x])
    r2 = call.graph.add(call.base + "_pad", "ZeroPadding2D",
                        {"padding": [[a, b], [0, 0]], "data_format": "channels_last"}, [r1])
    r3 = call.graph.add(call.base + "_pad_1d", "Reshape", {"target_shape": [n + a + b, c]}, [r2])
    return x.with_(ref=r3, shape=(x.shape[0], c, n + a + b))


def _tuple(v: Any, rank: int) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return (int(v[0]),) * rank
        return tuple(int(i) for i in v)
    return (int(v),) * rank


def pool(
    call: Call,
    x: Value,
    *,
    op: str,
    rank: int,
    kernel: Any,
    stride: Any,
    padding: Any,
    dilation: Any = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Any = None,
) -> Value:
    """MaxPool / AvgPool 1d / 2d as MaxPooling / AveragePooling{1,2}D (+ ZeroPadding2D)."""
    if x.rank != rank + 2:
        raise call.fail(f"input of rank {x.rank}: pooling {rank}d takes (N, C, {'L' if rank == 1 else 'H, W'})")
    k = _tuple(kernel, rank)
    s = _tuple(stride if stride not in (None, []) else kernel, rank)
    p = _tuple(padding, rank)
    if _tuple(dilation, rank) != (1,) * rank:
        raise call.fail(f"dilation {dilation!r}: Keras pooling layers have no dilation")
    if divisor_override:
        raise call.fail(f"divisor_override={divisor_override!r}: Keras average pooling always divides by the window")
    spatial = x.shape[2:]
    if ceil_mode:
        floor = [(n + 2 * pp - kk) // ss + 1 for n, kk, ss, pp in zip(spatial, k, s, p, strict=False)]
        if list(call.out_shape[2:]) != floor:
            raise call.fail("ceil_mode=True makes a partial last window here; Keras pools full windows only (ceil_mode=False)")
    x = call.graph.layout(x, channels_last(x.rank), call.base)
    same = [same_pad(n, kk, ss) for n, kk, ss in zip(spatial, k, s, strict=False)]
    padding_mode = "valid"
    if any(p):
        if all(sp == (pp, pp) for sp, pp in zip(same, p, strict=False)) and not (op == "avg" and count_include_pad):
            padding_mode = "same"
        elif op == "avg" and count_include_pad:
            x = zero_pad(call, x, [(pp, pp) for pp in p])
        elif op == "max" and x.nonneg:
            x = zero_pad(call, x, [(pp, pp) for pp in p])  # zeros never win a max of values >= 0
        elif op == "max":
            raise call.fail(
                f"padding {list(p)}: torch pads max pooling with -inf; tfjs can only pad with zeros (exact only on "
                f"values >= 0, e.g. after a ReLU) or use 'same' padding, which pads {[list(a) for a in same]} here"
            )
        else:
            raise call.fail(
                f"padding {list(p)} with count_include_pad=False: tfjs' 'same' average pooling pads "
                f"{[list(a) for a in same]} here; only equal padding can be expressed"
            )
    cls = ("MaxPooling" if op == "max" else "AveragePooling") + f"{rank}D"
    config: dict[str, Any] = {"pool_size": list(k), "padding": padding_mode, "strides": list(s)}
    if rank == 2:
        config["data_format"] = "channels_last"
    ref = call.add("", cls, config, [x])
    return x.with_(ref=ref, shape=call.out_shape, perm=channels_last(x.rank))


def global_pool(call: Call, x: Value, dims: Sequence[int], keepdim: bool, op: str) -> Value:
    """Mean / max over spatial axes as GlobalAverage/MaxPooling{1,2}D."""
    dims = sorted({d % x.rank for d in dims})
    kept = [a for a in range(1, x.rank) if a not in dims]
    if 0 in dims or len(kept) != 1 or len(dims) not in (1, 2):
        raise call.fail(
            f"{'mean' if op == 'avg' else 'max'} over dims {list(dims)} of a rank-{x.rank} tensor: only a reduction "
            "over all axes but the batch and one channel axis (global pooling over 1 or 2 axes) can be expressed"
        )
    x = call.graph.layout(x, (0, *dims, kept[0]), call.base)
    cls = ("GlobalAveragePooling" if op == "avg" else "GlobalMaxPooling") + f"{len(dims)}D"
    config: dict[str, Any] = {"data_format": "channels_last"} if len(dims) == 2 else {}
    ref = call.add("", cls, config, [x])
    return x.with_(ref=ref, shape=call.out_shape, perm=(0, kept[0]) if keepdim else (0, 1))


# ---------------------------------------------------------------------------
# Activations


def _act(name: str) -> Any:
    def handle(ex: Exporter, call: Call) -> Value:
        return activation(call, name)

    return handle


def hardtanh(call: Call, x: Value, lo: float, hi: float) -> Value:
    """hardtanh(0, 6) is ReLU6; other bounds have no tfjs activation."""
    if (float(lo), float(hi)) != (0.0, 6.0):
        raise call.fail(f"hardtanh({lo}, {hi}): only hardtanh(0, 6) (ReLU6) has a tfjs layer")
    return activation(call, "relu6", x)


def leaky_relu(call: Call, x: Value, slope: float) -> Value:
    """A Keras ``LeakyReLU(alpha=slope)`` layer."""
    return x.with_(ref=call.add("", "LeakyReLU", {"alpha": float(slope)}, [x]), nonneg=False)


def elu(call: Call, x: Value, alpha: float) -> Value:
    """ELU: the ``elu`` activation for alpha 1 (the only alpha tfjs 4.22's ELU layer takes); otherwise
    ``relu(x) - alpha * relu(-elu(x))`` (elu(x) < 0 exactly where x < 0) in layers."""
    if float(alpha) == 1.0:
        return activation(call, "elu", x)
    e = call.add("_elu", "Activation", {"activation": "elu"}, [x])
    neg = call.graph.add(call.base + "_negate", "Rescaling", {"scale": -1.0, "offset": 0.0}, [e])
    neg = call.graph.add(call.base + "_negative_part", "Activation", {"activation": "relu"}, [neg])
    neg = call.graph.add(call.base + "_alpha", "Rescaling", {"scale": -float(alpha), "offset": 0.0}, [neg])
    pos = call.graph.add(call.base + "_positive_part", "Activation", {"activation": "relu"}, [x.ref])
    return x.with_(ref=call.graph.add(call.base, "Add", {}, [pos, neg]), nonneg=False, integer=False)


def gelu(call: Call, x: Value, approximate: str) -> Value:
    """The exact GELU (tfjs' erf approximation is within 1.5e-7); the tanh one built from layers.

    tfjs 4.22 writes the tanh approximation as ``gelu_new`` but cannot load it back (it
    looks up ``geluNew``), so ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` is
    ``Multiply`` / ``Rescaling`` / ``Add`` / ``Activation('tanh')`` layers.
    """
    if approximate == "none":
        return activation(call, "gelu", x)
    if approximate != "tanh":
        raise call.fail(f"approximate={approximate!r} is not a GELU torch knows")
    square = call.add("_square", "Multiply", {}, distinct(call, [x, x]))
    cube = call.graph.add(call.base + "_cube", "Multiply", {}, [square, x.ref])
    inner = call.graph.add(call.base + "_cubic", "Rescaling", {"scale": 0.044715, "offset": 0.0}, [cube])
    inner = call.graph.add(call.base + "_sum", "Add", {}, [x.ref, inner])
    inner = call.graph.add(call.base + "_scale", "Rescaling", {"scale": math.sqrt(2.0 / math.pi), "offset": 0.0}, [inner])
    gate = call.graph.add(call.base + "_tanh", "Activation", {"activation": "tanh"}, [inner])
    gate = call.graph.add(call.base + "_half", "Rescaling", {"scale": 0.5, "offset": 0.5}, [gate])
    return x.with_(ref=call.graph.add(call.base, "Multiply", {}, [x.ref, gate]), nonneg=False, integer=False)


def softplus(call: Call, x: Value, beta: float) -> Value:
    """softplus with beta 1 (torch's linear branch above the threshold differs by < 1e-8)."""
    if float(beta) != 1.0:
        raise call.fail(f"beta={beta}: Keras softplus is log(1 + exp(x)) (beta 1)")
    return activation(call, "softplus", x)


def hardsigmoid(call: Call, x: Value) -> Value:
    """torch's hard sigmoid, ``clip(x/6 + 1/2, 0, 1)``: ``Rescaling(1/6, 0.5)`` then ``ReLU(max_value=1)``.

    Not tfjs' ``hard_sigmoid`` activation, which is ``clip(0.2 x + 0.5, 0, 1)`` (Keras 2's).
    """
    scaled = x.with_(ref=call.add("_scale", "Rescaling", {"scale": 1.0 / 6.0, "offset": 0.5}, [x]))
    return scaled.with_(ref=call.add("", "ReLU", {"max_value": 1.0}, [scaled]), nonneg=True, integer=False)


def hardswish(call: Call, x: Value) -> Value:
    """torch's hard swish, ``x * hardsigmoid(x)``: the hard sigmoid, then ``Multiply`` with ``x``."""
    gate = hardsigmoid(call, x)
    return x.with_(ref=call.add("_multiply", "Multiply", {}, [x, gate]), nonneg=False, integer=False)


def _relu6_hardtanh(ex: Exporter, call: Call) -> Value:
    return hardtanh(call, call.tensor(), call.arg(1, "min_val", -1.0), call.arg(2, "max_val", 1.0))


def _leaky(ex: Exporter, call: Call) -> Value:
    return leaky_relu(call, call.tensor(), call.arg(1, "negative_slope", 0.01))


def _elu(ex: Exporter, call: Call) -> Value:
    return elu(call, call.tensor(), call.arg(1, "alpha", 1.0))


def _gelu(ex: Exporter, call: Call) -> Value:
    return gelu(call, call.tensor(), call.arg(1, "approximate", "none"))


def _softplus(ex: Exporter, call: Call) -> Value:
    return softplus(call, call.tensor(), call.arg(1, "beta", 1.0))


def _hardsigmoid(ex: Exporter, call: Call) -> Value:
    return hardsigmoid(call, call.tensor())


def _hardswish(ex: Exporter, call: Call) -> Value:
    return hardswish(call, call.tensor())


def _softmax_fn(log: bool) -> Any:
    def handle(ex: Exporter, call: Call) -> Value:
        if call.arg(2, "_stacklevel", None) is not None and not isinstance(call.arg(2, "_stacklevel"), int):
            raise call.fail("unexpected arguments")
        if call.kwargs.get("dtype") is not None:
            raise call.fail("dtype= is not supported")
        return softmax(call, call.tensor(), call.arg(1, "dim"), log)

    return handle


def _identity(ex: Exporter, call: Call) -> Value:
    return call.tensor()


for _fn, _name in (
    (F.relu, "relu"), (torch.relu, "relu"), (F.relu6, "relu6"), (torch.sigmoid, "sigmoid"), (F.sigmoid, "sigmoid"),
    (torch.tanh, "tanh"), (F.tanh, "tanh"), (F.silu, "swish"), (F.mish, "mish"), (F.selu, "selu"), (torch.selu, "selu"),
    (F.softsign, "softsign"),
):
    FUNCTIONS[_fn] = _act(_name)
FUNCTIONS[F.hardtanh] = _relu6_hardtanh
FUNCTIONS[F.leaky_relu] = _leaky
FUNCTIONS[F.elu] = _elu
FUNCTIONS[F.gelu] = _gelu
FUNCTIONS[F.softplus] = _softplus
FUNCTIONS[F.hardsigmoid] = _hardsigmoid
FUNCTIONS[F.hardswish] = _hardswish
FUNCTIONS[F.softmax] = FUNCTIONS[torch.softmax] = _softmax_fn(False)
FUNCTIONS[F.log_softmax] = FUNCTIONS[torch.log_softmax] = _softmax_fn(True)
for _fn in (F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout, F.feature_alpha_dropout):
    FUNCTIONS[_fn] = _identity
for _m, _name in (("relu", "relu"), ("sigmoid", "sigmoid"), ("tanh", "tanh")):
    METHODS[_m] = _act(_name)
METHODS["softmax"] = _softmax_fn(False)
METHODS["log_softmax"] = _softmax_fn(True)
METHODS["contiguous"] = _identity


# ---------------------------------------------------------------------------
# Arithmetic: residual +, *, scalar affine maps


def _broadcast_pair(call: Call, a: Value, b: Value) -> tuple[Value, Value, tuple[int, ...]]:
    if a.rank != b.rank:
        raise call.fail(f"operands of ranks {a.rank} and {b.rank}: only tensors of the same rank can be combined")
    for i, (m, n) in enumerate(zip(a.shape, b.shape, strict=False)):
        if m != n and 1 not in (m, n) or (i == 0 and m != n):
            raise call.fail(f"shapes {list(a.shape)} and {list(b.shape)} do not broadcast per sample")
    # The layout of the operand with more non-unit axes, made full.
    lead = a if len(a.big()) >= len(b.big()) else b
    full = lead.perm + tuple(x for x in range(lead.rank) if x not in lead.perm)
    if a.perm == b.perm and len(a.perm) == a.rank:
        full = a.perm
    return call.graph.layout(a, full, call.base), call.graph.layout(b, full, call.base), full


def _binary(cls: str) -> Any:
    def handle(ex: Exporter, call: Call) -> Value:
        a, b = call.arg(0, "input"), call.arg(1, "other")
        if call.kwargs.get("alpha", 1) != 1:
            raise call.fail(f"alpha={call.kwargs['alpha']!r} is not supported")
        if isinstance(a, Value) and isinstance(b, Value):
            a, b, perm = _broadcast_pair(call, a, b)
            a, b = distinct(call, [a, b])
            if cls == "Subtract":  # tfjs 4.22 registers no Subtract layer: a + (-1 * b)
                b = b.with_(ref=call.add("_negate", "Rescaling", {"scale": -1.0, "offset": 0.0}, [b]))
                ref = call.add("", "Add", {}, [a, b])
                return Value(ref, call.out_shape, perm)
            ref = call.add("", cls, {}, [a, b])
            nonneg = a.nonneg and b.nonneg and cls in ("Add", "Multiply")
            return Value(ref, call.out_shape, perm, nonneg=nonneg)
        x, c = (a, b) if isinstance(a, Value) else (b, a)
        if not isinstance(c, (int, float)) or isinstance(c, bool):
            raise call.fail(f"operand {_short(c)}: only tensors computed from the input, or Python numbers, can be combined")
        scale, offset = {
            "Add": (1.0, float(c)),
            "Subtract": (1.0, -float(c)) if x is a else (-1.0, float(c)),
            "Multiply": (float(c), 0.0),
        }[cls]
        return rescale(call, x, scale, offset)

    return handle


def _short(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        return f"a constant tensor of shape {list(v.shape)}"
    return repr(v)


def rescale(call: Call, x: Value, scale: float, offset: float) -> Value:
    """``x * scale + offset`` as a Keras ``Rescaling`` layer."""
    if (scale, offset) == (1.0, 0.0):
        return x
    ref = call.add("", "Rescaling", {"scale": scale, "offset": offset}, [x])
    return x.with_(ref=ref, nonneg=x.nonneg and scale >= 0 and offset >= 0)


def _div(ex: Exporter, call: Call) -> Value:
    a, b = call.arg(0, "input"), call.arg(1, "other")
    if isinstance(a, Value) and isinstance(b, (int, float)) and not isinstance(b, bool) and b != 0:
        return rescale(call, a, 1.0 / float(b), 0.0)
    raise call.fail("only division of a tensor by a non-zero Python number can be expressed (Keras has no Divide layer)")


def _neg(ex: Exporter, call: Call) -> Value:
    return rescale(call, call.tensor(), -1.0, 0.0)


FUNCTIONS[operator.add] = FUNCTIONS[torch.add] = FUNCTIONS[operator.iadd] = _binary("Add")
FUNCTIONS[operator.sub] = FUNCTIONS[torch.sub] = FUNCTIONS[operator.isub] = _binary("Subtract")
FUNCTIONS[operator.mul] = FUNCTIONS[torch.mul] = FUNCTIONS[operator.imul] = _binary("Multiply")
FUNCTIONS[operator.truediv] = FUNCTIONS[torch.div] = _div
FUNCTIONS[operator.neg] = FUNCTIONS[torch.neg] = _neg
METHODS["add"] = METHODS["add_"] = _binary("Add")
METHODS["sub"] = _binary("Subtract")
METHODS["mul"] = METHODS["mul_"] = _binary("Multiply")
METHODS["div"] = _div


def _cat(ex: Exporter, call: Call) -> Value:
    tensors = call.arg(0, "tensors")
    dim = int(call.arg(1, "dim", 0))
    if not isinstance(tensors, (list, tuple)):
        raise call.fail("needs a list of tensors")
    from .rnn import rnn_cat

    special = rnn_cat(call, list(tensors), dim)
    if special is not None:
        return special
    if not all(isinstance(t, Value) for t in tensors):
        raise call.fail("concatenates something that is not a tensor computed from the input")
    vals: list[Value] = list(tensors)
    rank = vals[0].rank
    dim %= rank
    if dim == 0:
        raise call.fail("concatenation along the batch axis 0 cannot be expressed (Keras layers work per sample)")
    lead = max(vals, key=lambda v: (len(v.perm) == v.rank, v.perm == channels_last(rank)))
    full = lead.perm if len(lead.perm) == rank else identity(rank)
    vals = distinct(call, [call.graph.layout(v, full, call.base) for v in vals])
    if len(vals) == 1:
        return vals[0]
    ref = call.add("", "Concatenate", {"axis": full.index(dim)}, vals)
    return Value(ref, call.out_shape, full, nonneg=all(v.nonneg for v in vals))


FUNCTIONS[torch.cat] = FUNCTIONS[torch.concat] = FUNCTIONS[torch.concatenate] = _cat


# ---------------------------------------------------------------------------
# Shapes: view / reshape / flatten / permute / transpose / squeeze / unsqueeze


def reshape_to(call: Call, x: Value, out_shape: tuple[int, ...]) -> Value:
    """``x.reshape(out_shape)`` (the batch axis kept) as Flatten / Reshape, in torch's data order."""
    if out_shape[0] != x.shape[0]:
        raise call.fail(
            f"reshapes {list(x.shape)} to {list(out_shape)}: the batch axis must stay first and whole "
            "(Keras reshapes each sample)"
        )
    if tuple(out_shape) == tuple(x.shape):
        return x
    ref = call.graph.torch_order(x, call.base)
    if len(out_shape) == 2:
        if len(x.perm) == 2 and x.keras_shape == [out_shape[1]]:
            return x.with_(shape=tuple(out_shape), perm=(0, 1))
        ref = call.graph.add(call.base, "Flatten", {}, [ref])
    else:
        ref = call.graph.add(call.base, "Reshape", {"target_shape": list(out_shape[1:])}, [ref])
    return Value(ref, tuple(out_shape), identity(len(out_shape)), nonneg=x.nonneg, integer=x.integer)


def _reshape(ex: Exporter, call: Call) -> Value:
    return reshape_to(call, call.tensor(0, "input"), call.out_shape)


def permuted(call: Call, x: Value, dims: Sequence[int]) -> Value:
    """``x.permute(dims)``: no layer, only the bookkeeping of where torch's axes are."""
    dims = [int(d) % x.rank for d in dims]
    if sorted(dims) != list(range(x.rank)):
        raise call.fail(f"dims {dims} are not a permutation of the {x.rank} axes")
    if dims[0] != 0:
        raise call.fail(f"permute {dims} moves the batch axis; Keras layers work per sample (the batch stays first)")
    inverse = [dims.index(a) for a in range(x.rank)]
    return x.with_(shape=tuple(x.shape[d] for d in dims), perm=tuple(inverse[a] for a in x.perm))


def _permute(ex: Exporter, call: Call) -> Value:
    x = call.tensor(0, "input")
    dims = call.args[1:] if call.node.op == "call_method" else call.arg(1, "dims")
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = dims[0]
    return permuted(call, x, list(dims))


def _transpose(ex: Exporter, call: Call) -> Value:
    x = call.tensor(0, "input")
    a, b = int(call.arg(1, "dim0")) % x.rank, int(call.arg(2, "dim1")) % x.rank
    dims = list(range(x.rank))
    dims[a], dims[b] = dims[b], dims[a]
    return permuted(call, x, dims)


def _flatten(ex: Exporter, call: Call) -> Value:
    return reshape_to(call, call.tensor(0, "input"), call.out_shape)


def _unsqueeze(ex: Exporter, call: Call) -> Value:
    x = call.tensor(0, "input")
    d = int(call.arg(1, "dim")) % (x.rank + 1)
    if d == 0:
        raise call.fail("adds an axis before the batch axis")
    return x.with_(shape=call.out_shape, perm=tuple(a + 1 if a >= d else a for a in x.perm))


def _squeeze(ex: Exporter, call: Call) -> Value:
    x = call.tensor(0, "input")
    out = call.out_shape
    if out == x.shape:
        return x
    gone = [a for a in range(x.rank) if x.shape[a] == 1 and (len(out) < x.rank)]
    dim = call.arg(1, "dim")
    if dim is not None:
        dims = [int(d) % x.rank for d in (dim if isinstance(dim, (list, tuple)) else [dim])]
        gone = [a for a in dims if x.shape[a] == 1]
    if 0 in gone:
        raise call.fail("squeezes the batch axis")
    if any(a in x.perm for a in gone):
        v = reshape_to(call, x, out)
        return v
    shift = {a: a - sum(1 for g in gone if g < a) for a in range(x.rank)}
    return x.with_(shape=out, perm=tuple(shift[a] for a in x.perm))


FUNCTIONS[torch.reshape] = _reshape
FUNCTIONS[torch.flatten] = _flatten
FUNCTIONS[torch.permute] = _permute
FUNCTIONS[torch.transpose] = _transpose
FUNCTIONS[torch.unsqueeze] = _unsqueeze
FUNCTIONS[torch.squeeze] = _squeeze
METHODS["view"] = METHODS["reshape"] = _reshape
METHODS["flatten"] = _flatten
METHODS["permute"] = _permute
METHODS["transpose"] = _transpose
METHODS["unsqueeze"] = _unsqueeze
METHODS["squeeze"] = _squeeze


# ---------------------------------------------------------------------------
# Reductions and pooling functions


def _mean(op: str) -> Any:
    def handle(ex: Exporter, call: Call) -> Value:
        x = call.tensor(0, "input")
        dims = call.arg(1, "dim")
        if dims is None:
            raise call.fail("a reduction over every axis (including the batch) cannot be expressed")
        dims = list(dims) if isinstance(dims, (list, tuple)) else [dims]
        keepdim = bool(call.arg(2, "keepdim", False))
        return global_pool(call, x, [int(d) for d in dims], keepdim, op)

    return handle


FUNCTIONS[torch.mean] = _mean("avg")
FUNCTIONS[torch.amax] = _mean("max")
METHODS["mean"] = _mean("avg")
METHODS["amax"] = _mean("max")


def adaptive_avg(call: Call, x: Value, output_size: Any, rank: int) -> Value:
    """AdaptiveAvgPool{1,2}d: global pooling for size 1, else average pooling on exact divisions."""
    size = _tuple(output_size, rank) if output_size is not None else None
    spatial = x.shape[2:]
    if x.rank != rank + 2 or size is None:
        raise call.fail(f"input of rank {x.rank}: adaptive pooling {rank}d takes (N, C, ...)")
    size = tuple(n if o is None else o for o, n in zip(size, spatial, strict=False))
    if all(o == 1 for o in size):
        return global_pool(call, x, list(range(2, x.rank)), True, "avg")
    if any(n % o for n, o in zip(spatial, size, strict=False)):
        raise call.fail(
            f"output size {list(size)} does not divide the input's {list(spatial)}: torch's adaptive windows then "
            "overlap unevenly, which no Keras pooling computes"
        )
    k = [n // o for n, o in zip(spatial, size, strict=False)]
    return pool(call, x, op="avg", rank=rank, kernel=k, stride=k, padding=0)


def _adaptive(rank: int) -> Any:
    def handle(ex: Exporter, call: Call) -> Value:
        return adaptive_avg(call, call.tensor(), call.arg(1, "output_size"), rank)

    return handle


def _pool_fn(op: str, rank: int) -> Any:
    def handle(ex: Exporter, call: Call) -> Value:
        if call.arg(6 if op == "max" else 99, "return_indices", False):
            raise call.fail("return_indices=True is not supported")
        if op == "max":
            return pool(
                call, call.tensor(), op=op, rank=rank, kernel=call.arg(1, "kernel_size"), stride=call.arg(2, "stride"),
                padding=call.arg(3, "padding", 0), dilation=call.arg(4, "dilation", 1), ceil_mode=call.arg(5, "ceil_mode", False),
            )
        return pool(
            call, call.tensor(), op=op, rank=rank, kernel=call.arg(1, "kernel_size"), stride=call.arg(2, "stride"),
            padding=call.arg(3, "padding", 0), ceil_mode=call.arg(4, "ceil_mode", False),
            count_include_pad=call.arg(5, "count_include_pad", True), divisor_override=call.arg(6, "divisor_override"),
        )

    return handle


FUNCTIONS[F.adaptive_avg_pool2d] = _adaptive(2)
FUNCTIONS[F.adaptive_avg_pool1d] = _adaptive(1)
FUNCTIONS[F.max_pool2d] = _pool_fn("max", 2)
FUNCTIONS[F.max_pool1d] = _pool_fn("max", 1)
FUNCTIONS[F.avg_pool2d] = _pool_fn("avg", 2)
FUNCTIONS[F.avg_pool1d] = _pool_fn("avg", 1)


def upsample(call: Call, x: Value, mode: str, align_corners: Any) -> Value:
    """Nearest upsampling by integer factors as UpSampling2D."""
    out = call.out_shape
    if x.rank != 4:
        raise call.fail(f"input of rank {x.rank}: only 2-D (N, C, H, W) upsampling has a tfjs layer (UpSampling2D)")
    if mode not in ("nearest", "nearest-exact"):
        raise call.fail(
            f"mode {mode!r} (align_corners={align_corners!r}): tfjs 4.22's UpSampling2D resizes bilinearly with "
            "align_corners=False and no half-pixel centers (source = destination / factor), which no torch bilinear "
            "mode computes; only 'nearest' upsampling is exact"
        )
    factors = [o // n for o, n in zip(out[2:], x.shape[2:], strict=False)]
    if any(o != n * f for o, n, f in zip(out[2:], x.shape[2:], factors, strict=False)) or min(factors) < 1:
        raise call.fail(f"resizes {list(x.shape[2:])} to {list(out[2:])}: only integer upsampling factors are exact")
    x = call.graph.layout(x, channels_last(4), call.base)
    ref = call.add("", "UpSampling2D", {"size": factors, "data_format": "channels_last", "interpolation": "nearest"}, [x])
    return x.with_(ref=ref, shape=out)


def _interpolate(ex: Exporter, call: Call) -> Value:
    return upsample(call, call.tensor(), call.arg(3, "mode", "nearest"), call.arg(4, "align_corners"))


FUNCTIONS[F.interpolate] = _interpolate


def _pad(ex: Exporter, call: Call) -> Value:
    x = call.tensor()
    pad = list(call.arg(1, "pad"))
    mode, value = call.arg(2, "mode", "constant"), call.arg(3, "value", None)
    if mode != "constant" or value not in (None, 0, 0.0):
        raise call.fail(f"mode={mode!r}, value={value!r}: only zero padding (ZeroPadding2D) has a tfjs layer")
    return pad_spatial(call, x, pad)


def pad_spatial(call: Call, x: Value, pad: Sequence[int]) -> Value:
    """torch's F.pad list (last axis first) on the spatial axes of (N, C, H, W) / (N, C, L)."""
    if any(p < 0 for p in pad):
        raise call.fail(f"negative padding {list(pad)} is not supported")
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)][::-1]  # first spatial axis first
    if x.rank not in (3, 4) or len(pairs) > x.rank - 2:
        raise call.fail(f"pads {len(pairs)} axes of a rank-{x.rank} tensor: only the spatial axes of (N, C, H, W) or (N, C, L)")
    pairs = [(0, 0)] * (x.rank - 2 - len(pairs)) + pairs
    x = call.graph.layout(x, channels_last(x.rank), call.base)
    return zero_pad(call, x, pairs)


FUNCTIONS[F.pad] = _pad


def _getitem(ex: Exporter, call: Call) -> Any:
    from .rnn import rnn_getitem

    obj, index = call.args[0], call.args[1]
    special = rnn_getitem(call, obj, index)
    if special is not None:
        return special
    if isinstance(obj, (tuple, list)):
        return obj[index]
    raise call.fail(f"indexing a tensor with {index!r} (slicing has no Keras layer here)")


FUNCTIONS[operator.getitem] = _getitem
