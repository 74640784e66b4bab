"""Preprocessing layers (Rescaling, CenterCrop, Resizing, ...) with their inference behaviour.

No class is registered here yet; see :mod:`tfjs_codec.torch.registry` for how to add one.
"""

from __future__ import annotations

__all__: list[str] = []
