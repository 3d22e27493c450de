"""Turning what users pass (paths, numpy arrays) into BGR uint8 images."""

from __future__ import annotations

import os
from typing import Any, Union

import numpy as np

from .. import _core
from ..errors import InvalidInputError
from ..validate import check_path

ImageLike = Union[str, "os.PathLike[str]", np.ndarray]


def load_image(source: ImageLike, *, name: str = "image") -> np.ndarray:
    """Returns ``source`` as a C-contiguous HxWx3 BGR uint8 array.

    Args:
        source: a path to an image file, or a numpy image: HxWx3 BGR, HxW or
            HxWx1 grayscale, or HxWx4 BGRA, dtype uint8.
        name: how error messages call the argument.

    Raises:
        InvalidInputError: the file cannot be read or decoded, or the array
            has the wrong dtype, rank, channel count or size.
    """
    if isinstance(source, (str, os.PathLike)):
        return _core.imread(check_path(name, source))
    if not isinstance(source, np.ndarray):
        raise InvalidInputError(f"{name} must be a path or a numpy array, got {type(source).__name__}")
    if source.dtype != np.uint8:
        raise InvalidInputError(f"{name} must have dtype uint8, got {source.dtype} with shape {source.shape}")
    if source.ndim not in (2, 3) or (source.ndim == 3 and source.shape[2] not in (1, 3, 4)):
        raise InvalidInputError(f"{name} must be HxW, HxWx1, HxWx3 or HxWx4, got shape {source.shape}")
    if source.shape[0] == 0 or source.shape[1] == 0:
        raise InvalidInputError(f"{name} is empty, shape {source.shape}")
    image = np.ascontiguousarray(source)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    return _core.to_bgr(image)


def is_image_like(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike, np.ndarray))


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Reads an image file as BGR uint8 (no OpenCV Python package needed)."""
    return _core.imread(check_path("path", path))


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Writes an image file; the extension picks the format."""
    _core.imwrite(check_path("path", path), np.ascontiguousarray(image))
