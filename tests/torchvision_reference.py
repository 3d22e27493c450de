"""torchvision's ImageNet evaluation transforms, written out with PIL exactly as torchvision applies them to a PIL
image (torchvision is too large to install for the tests): the peer of fastinfer's ``resample="pil"`` pipeline.

``Resize(resize)``: the shorter side to ``resize``, the longer to ``int(resize * long / short)``, then
``img.resize((w, h), Image.BILINEAR)``; ``CenterCrop(crop)``: offsets ``int(round((h - crop) / 2.0))`` and
``int(round((w - crop) / 2.0))``; ``ToTensor``: float32 / 255, CHW; ``Normalize``: ``(x - mean) / std`` in float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image


def resized_size(width: int, height: int, resize: int) -> tuple[int, int]:
    """torchvision's ``Resize(resize)`` output size ``(w, h)`` for an int size."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = resize, int(resize * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def pil_image(source: Path | np.ndarray) -> Image.Image:
    """A photo opened as torchvision users do (``Image.open(path).convert("RGB")``), or an RGB array."""
    if isinstance(source, np.ndarray):
        return Image.fromarray(source)
    with Image.open(source) as image:
        return image.convert("RGB")


def resize_crop(image: Image.Image, resize: int, crop: tuple[int, int]) -> np.ndarray:
    """``Resize(resize)`` + ``CenterCrop((crop_h, crop_w))`` of a PIL image: an (h, w, C) uint8 array."""
    w, h = resized_size(*image.size, resize)
    resized = image if (w, h) == image.size else image.resize((w, h), Image.BILINEAR)
    crop_w, crop_h = crop
    top, left = int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0))
    return np.asarray(resized)[top:top + crop_h, left:left + crop_w]


def blob(source: Path | np.ndarray, resize: int = 256, crop: tuple[int, int] = (224, 224),
         mean: Sequence[float] = (0.485, 0.456, 0.406), std: Sequence[float] = (0.229, 0.224, 0.225)) -> np.ndarray:
    """The (3, h, w) float32 tensor torchvision's eval transforms make of an RGB photo."""
    pixels = resize_crop(pil_image(source), resize, crop).astype(np.float32) / np.float32(255)
    mean32, std32 = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    return ((pixels - mean32) / std32).transpose(2, 0, 1)
