"""What both export formats do around their own translation (layers: :mod:`~tfjs_codec.torch.exporter.api`,
graph: :mod:`~tfjs_codec.torch.exporter.graph_model`): trace and run the module in eval mode, and
place the written files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

__all__ = ["in_eval_mode", "output_location"]

T = TypeVar("T")


def in_eval_mode(module: nn.Module, examples: tuple[torch.Tensor, ...], trace: Callable[[], T]) -> tuple[T, list[torch.Tensor]]:
    """``trace()`` (which translates ``module``) and the module's outputs on ``examples`` (a list,
    one output or several), both run in eval mode; the module's training flag is restored after."""
    was_training = module.training
    module.eval()
    try:
        traced = trace()
        with torch.no_grad():
            want = module(*examples)
    finally:
        module.train(was_training)
    return traced, list(want) if isinstance(want, (tuple, list)) else [want]


def output_location(out: str | os.PathLike[str]) -> tuple[Path, str]:
    """The directory and manifest name ``out`` names, the directory created: a ``.json`` path that
    is not a directory is the manifest itself; anything else is a directory for ``model.json``."""
    out_path = Path(out)
    if out_path.suffix == ".json" and not out_path.is_dir():
        directory, manifest_name = out_path.parent, out_path.name
    else:
        directory, manifest_name = out_path, "model.json"
    directory.mkdir(parents=True, exist_ok=True)
    return directory, manifest_name
