"""Weights as a ``{tfjs name: torch.Tensor}`` dict, sharing memory with the model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import writer
from ..errors import TfjsFormatError
from ..reader import Model

__all__ = ["state_dict", "save_state_dict", "as_tensor", "as_numpy"]


def as_tensor(array: np.ndarray, *, name: str | None = None) -> torch.Tensor:
    """A tensor sharing ``array``'s memory when torch can, else a copy.

    torch needs native byte order, aligned data and a writable buffer (it warns
    about read-only arrays); anything else is copied first.
    """
    if array.dtype.kind in "OUS":
        raise TfjsFormatError("string weights have no torch dtype", weight=name, field="dtype")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if not (array.flags.writeable and array.flags.aligned):
        array = np.array(array, copy=True, order="C")
    return torch.from_numpy(array)


def as_numpy(tensor: Any) -> np.ndarray:
    """A torch tensor (any device, with or without grad) as a numpy array."""
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().cpu().numpy()
    return np.asarray(tensor)


def state_dict(model: Model) -> dict[str, torch.Tensor]:
    """Every weight of a model as a torch tensor, under its tfjs name.

    Unquantized weights share memory with the model's mapping (zero-copy, no
    warning; shards are mapped copy-on-write, so writing into a tensor never
    changes the files). Quantized weights are dequantized as tfjs-core does,
    into new tensors. Shapes are the tfjs shapes (no layout change: see
    :func:`to_module` for torch layouts).

    Args:
        model: a model from :func:`tfjs_codec.load`.

    Returns:
        name -> ``torch.Tensor`` in manifest order, optimizer weights included.

    Raises:
        TfjsFormatError: for a string weight (torch has no string tensors).
    """
    return {name: as_tensor(model.weights[name], name=name) for name in model.specs}


def save_state_dict(
    out: str | os.PathLike[str],
    sd: Mapping[str, Any],
    *,
    like: Model | str | os.PathLike[str],
    **kwargs: Any,
) -> Path:
    """Write a ``{tfjs name: tensor}`` dict as a TensorFlow.js model.

    The inverse of :func:`state_dict`, with the rules of
    ``tfjs_codec.save(out, ..., like=like)``: the same names, shapes and dtypes;
    the topology, groups, shard layout, quantization and sidecar files of
    ``like`` are kept; unchanged weights give identical bytes.

    Args:
        out: the manifest path or directory to write.
        sd: name -> ``torch.Tensor`` (any device; grads are detached) or array.
        like: the model whose structure is copied (loaded or a path).
        **kwargs: passed to :func:`tfjs_codec.save` (``quantize``, ``shard_size``, ``progress``).

    Returns:
        The path of the written manifest.

    Raises:
        TfjsFormatError: names, shapes or dtypes that do not match ``like``.
    """
    return writer.save(out, {k: as_numpy(v) for k, v in sd.items()}, like=like, **kwargs)
