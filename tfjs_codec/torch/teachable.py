"""Teachable Machine ``metadata.json``: labels, versions and the input preprocessing, as torch helpers.

A Teachable Machine export is ``model.json`` + ``weights.bin`` + ``metadata.json``. The
metadata says which library runs the model and how:

- image (``@teachablemachine/image``): ``labels``, ``imageSize`` (224 when absent, as
  the library fills it), ``grayscale``. The library center-crops the picture to a
  square of ``imageSize`` pixels and feeds ``pixel / 127 - 1`` (RGB, so 0 -> -1 and
  255 -> 1.0079, not 1).
- pose (``@teachablemachine/pose``): ``labels``, ``modelSettings.posenet``; the model
  takes the PoseNet outputs the library computes (not reproduced here).
- audio (``@tensorflow-models/speech-commands``, ``tfjsSpeechCommandsVersion``):
  ``wordLabels`` (``words`` in old files); the model takes a spectrogram z-normalized as the library does,
  ``(x - mean) / (sqrt(variance) + 1e-7)`` over each example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..reader import Model
from .sidecar import read_sidecar_json

__all__ = ["TeachableMeta", "teachable_meta"]

META_FILE = "metadata.json"

#: @teachablemachine/image's default ``imageSize`` (its ``IMAGE_SIZE``).
DEFAULT_IMAGE_SIZE = 224

#: tfjs' float32 backend epsilon, which speech-commands' ``normalize`` adds to the deviation.
AUDIO_EPSILON = 1e-7

#: @teachablemachine/pose's ``fillConfig`` defaults for ``modelSettings.posenet``.
POSENET_DEFAULTS: dict[str, Any] = {
    "architecture": "MobileNetV1", "outputStride": 16, "inputResolution": 257, "multiplier": 0.75,
}

#: RGB weights of @teachablemachine/image's grayscale crop (``cropTensor``).
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def _is_audio(meta: dict[str, Any]) -> bool:
    return "tfjsSpeechCommandsVersion" in meta or "wordLabels" in meta or "words" in meta


def _labels_key(meta: dict[str, Any]) -> str:
    if not _is_audio(meta):
        return "labels"
    return "wordLabels" if meta.get("wordLabels") is not None else "words"


@dataclass
class TeachableMeta:
    """What the Teachable Machine libraries do around the network, for a torch user.

    Attributes:
        meta: the parsed ``metadata.json``.
    """

    meta: dict[str, Any]

    @property
    def kind(self) -> str:
        """``"image"``, ``"pose"`` or ``"audio"``."""
        if _is_audio(self.meta):
            return "audio"
        if self.meta.get("packageName") == "@teachablemachine/pose" or "modelSettings" in self.meta:
            return "pose"
        return "image"

    @property
    def labels(self) -> list[str]:
        """Class labels in output-unit order (``labels``; audio: ``wordLabels``, or ``words`` in old files)."""
        return [str(v) for v in self.meta[_labels_key(self.meta)]]

    @property
    def image_size(self) -> int | None:
        """Side of the square image the model takes (image models), else None."""
        if self.kind != "image":
            return None
        return int(self.meta.get("imageSize") or DEFAULT_IMAGE_SIZE)

    @property
    def posenet(self) -> dict[str, Any] | None:
        """Pose models: the PoseNet settings, the library's defaults filled in (MobileNetV1,
        outputStride 16, inputResolution 257, multiplier 0.75); else None."""
        if self.kind != "pose":
            return None
        settings = dict((self.meta.get("modelSettings") or {}).get("posenet") or {})
        for key, default in POSENET_DEFAULTS.items():
            settings[key] = settings.get(key) or default
        return settings

    @property
    def grayscale(self) -> bool:
        """Whether the image model takes one gray channel."""
        return bool(self.meta.get("grayscale", False))

    @property
    def package_name(self) -> str | None:
        """``@teachablemachine/image`` / ``pose``, ``@tensorflow-models/speech-commands`` for audio."""
        if self.kind == "audio":
            return "@tensorflow-models/speech-commands"
        name = self.meta.get("packageName")
        return str(name) if name is not None else None

    @property
    def package_version(self) -> str | None:
        """The version of the library that trained the model (``packageVersion`` / ``tfjsSpeechCommandsVersion``)."""
        version = self.meta.get("tfjsSpeechCommandsVersion" if self.kind == "audio" else "packageVersion")
        return str(version) if version is not None else None

    @property
    def tfjs_version(self) -> str | None:
        """``tfjsVersion`` as saved, or None."""
        version = self.meta.get("tfjsVersion")
        return str(version) if version is not None else None

    @property
    def model_name(self) -> str | None:
        """``modelName`` as saved, or None."""
        name = self.meta.get("modelName")
        return str(name) if name is not None else None

    def preprocess(self, data: Any) -> torch.Tensor:
        """Raw inputs -> the tensor the network takes, as the Teachable Machine library builds it.

        Image models: pixels 0..255 as (H, W, 3) or (N, H, W, 3) (uint8 or float,
        RGB, channels last), center-cropped to a square, scaled to
        :attr:`image_size` when not that size already (bilinear with antialiasing:
        the browser's canvas scaling is close to it, not bit-equal; give images of
        the right size for exact inputs), turned gray when :attr:`grayscale`, then
        ``pixel / 127 - 1``. Audio models: spectrograms (N, frames, bins, 1) or
        one without the batch axis, z-normalized per example.

        Args:
            data: an array or tensor as described.

        Returns:
            float32 tensor with a batch axis.

        Raises:
            ValueError: a pose model (its inputs come from PoseNet), or an image
                that is not (H, W, 3) / (N, H, W, 3).
        """
        x = torch.as_tensor(data).to(torch.float32)
        if self.kind == "audio":
            if x.dim() == 3:
                x = x.unsqueeze(0)
            dims = tuple(range(1, x.dim()))
            var, mean = torch.var_mean(x, dim=dims, keepdim=True, correction=0)
            return (x - mean) / (torch.sqrt(var) + AUDIO_EPSILON)
        if self.kind == "pose":
            raise ValueError("a Teachable Machine pose model takes PoseNet outputs, which tfjs_codec does not compute")
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.dim() != 4 or x.shape[-1] != 3:
            raise ValueError(f"images should be (H, W, 3) or (N, H, W, 3) RGB pixels, got shape {list(x.shape)}")
        h, w = x.shape[1], x.shape[2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        x = x[:, top : top + side, left : left + side, :]
        size = self.image_size or DEFAULT_IMAGE_SIZE
        if side != size:
            x = F.interpolate(x.movedim(-1, 1), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            x = x.movedim(1, -1)
        if self.grayscale:
            x = (x * torch.tensor(GRAY_WEIGHTS, dtype=torch.float32)).sum(dim=-1, keepdim=True)
        return x / 127 - 1

    def classify(self, output: torch.Tensor) -> list[str]:
        """Predicted label per row of the model's output (argmax)."""
        labels = self.labels
        return [labels[i] for i in output.reshape(-1, output.shape[-1]).argmax(dim=-1).tolist()]


def teachable_meta(model: Model) -> TeachableMeta | None:
    """The Teachable Machine helpers of a model exported by Teachable Machine, else None.

    Args:
        model: a loaded model (its ``sidecars`` hold ``metadata.json``).

    Returns:
        A :class:`TeachableMeta` when ``metadata.json`` is there and has a list of
        ``labels`` (image, pose) or ``wordLabels`` / ``words`` (audio); None without the file
        or without such a list (another tool's ``metadata.json``).

    Raises:
        TfjsFormatError: ``metadata.json`` is not a JSON object.
    """
    meta = read_sidecar_json(model, META_FILE)
    if meta is None:
        return None
    if not isinstance(meta.get(_labels_key(meta)), list):
        return None
    return TeachableMeta(meta)
