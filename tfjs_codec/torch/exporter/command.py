"""``tfjs-codec export MODULE.py:build_fn OUT --input-shape 1,3,32,32 [--format graph]``: tct.export from the command line.

The parser lives in :mod:`tfjs_codec.cli` (which must not import torch); this
module runs the command once torch is needed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn

from .api import export

__all__ = ["run"]

_DTYPES = {"float32": torch.float32, "int32": torch.int32, "int64": torch.int64}


def _load_builder(spec: str) -> Any:
    """``path/to/file.py:name`` or ``package.module:name`` -> the object named."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(f"module spec {spec!r} is not FILE.py:NAME or package.module:NAME")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"module spec {spec!r}: no file {target}")
        mod_spec = importlib.util.spec_from_file_location(f"_tfjs_codec_export_{path.stem}", path)
        if mod_spec is None or mod_spec.loader is None:
            raise ValueError(f"module spec {spec!r}: cannot import {target}")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module
        mod_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    if not hasattr(module, attr):
        raise ValueError(f"module spec {spec!r}: {target} has no {attr!r}")
    return getattr(module, attr)


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--input-shape {text!r} is not comma-separated integers (1,3,32,32)") from None
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"--input-shape {text!r}: a batch axis and at least one more, all >= 1")
    return shape


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Build the module, export it, print where it went."""
    builder = _load_builder(args.module)
    module = builder if isinstance(builder, nn.Module) or not callable(builder) else builder()
    if not isinstance(module, nn.Module):
        raise ValueError(f"{args.module} gave {type(module).__name__}, not a torch.nn.Module")
    dtypes = args.input_dtype or ["float32"]
    if len(dtypes) not in (1, len(args.input_shape)):
        raise ValueError("give one --input-dtype, or one per --input-shape")
    generator = torch.Generator().manual_seed(0)
    examples = []
    for i, text in enumerate(args.input_shape):
        dtype = _DTYPES[dtypes[i] if len(dtypes) > 1 else dtypes[0]]
        shape = _shape(text)
        examples.append(torch.rand(shape, generator=generator) if dtype.is_floating_point else torch.zeros(shape, dtype=dtype))
    quantize: Any = args.quantize
    if quantize and quantize.startswith("{"):
        quantize = json.loads(quantize)
    try:
        path = export(
            args.out, module, examples[0] if len(examples) == 1 else tuple(examples), quantize=quantize,
            shard_size=args.shard_size, labels=args.labels.split(",") if args.labels else None,
            channels_last=not args.channels_first, verify=not args.no_verify, format=getattr(args, "format", "layers"),
        )
    except RuntimeError as exc:  # the module itself failed on the example input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{args.module} fails on the example input ({', '.join(args.input_shape)}): {first}") from None
    out.write(f"wrote {path}\n")
    return 0
