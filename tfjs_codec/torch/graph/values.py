"""Small helpers shared by the op families: Python values out of tensors, axis handling."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ints", "scalar_int", "scalar", "norm_axis", "as_tensor_like", "refuse_tracing", "TRACING_REFUSAL"]


def _flat(v: Any) -> list[Any]:
    if isinstance(v, (list, tuple)):
        return [x for item in v for x in _flat(item)]
    return [v]


def ints(t: Any) -> list[Any]:
    """A shape / axis / size input as a flat list of Python ints (a scalar gives a 1-list).

    ``t`` is a tensor, a numpy array, the Python literal the generated forward
    passes for a value known at build time (an int, or a nested list of ints),
    or a list of sizes computed from tensor shapes (which stay ``torch.SymInt``
    when traced, so that a traced program keeps them symbolic).
    """
    if isinstance(t, torch.Tensor):
        v = t.reshape(-1).tolist()
    elif hasattr(t, "reshape"):
        v = t.reshape(-1).tolist()
    else:
        v = t
    if isinstance(v, (int, float, bool)):
        return [int(v)]
    return [x if isinstance(x, torch.SymInt) else int(x) for x in _flat(v)]


def scalar_int(t: Any) -> int:
    """A scalar (or 1-element) integer input as a Python int."""
    return int(ints(t)[0])


def scalar(t: Any) -> Any:
    """A scalar (or 1-element) input as a Python number (tensor ``.item()``, literals as they are)."""
    if isinstance(t, torch.Tensor):
        return t.reshape(-1)[0].item()
    if isinstance(t, (list, tuple)):
        return _flat(t)[0]
    return t


#: How an op that cannot be traced ends its message (see :func:`refuse_tracing`).
TRACING_REFUSAL = "torch.export and torch.compile cannot trace it (the module runs it eagerly)"


def refuse_tracing(node: Any, why: str) -> None:
    """Raise when ``node`` is being traced (``torch.export`` / ``torch.compile``): ``why`` it cannot be.

    Ops whose work is Python on the tensors' values (non-max suppression,
    top-k with a k computed at run time) would otherwise fail deep inside
    torch with a message about data-dependent symbols that names no node.

    Raises:
        TfjsFormatError: naming the model file and the node.
    """
    if torch.compiler.is_compiling():
        raise node.error(f"{why}: {TRACING_REFUSAL}")


def norm_axis(axis: int, rank: int) -> int:
    """A possibly negative axis as an index in ``range(rank)``."""
    return axis + rank if axis < 0 else axis


def as_tensor_like(value: Any, like: torch.Tensor) -> torch.Tensor:
    """``value`` as a tensor on ``like``'s device (its dtype kept when already a tensor)."""
    if isinstance(value, torch.Tensor):
        return value.to(like.device)
    return torch.as_tensor(value, device=like.device)
