"""Turning what users pass (paths, numpy arrays) into BGR uint8 images."""

from __future__ import annotations

import os
from typing import Any, Union

import numpy as np

from .. import _core
from ..errors import ImageWarning as ImageWarning
from ..errors import InvalidInputError
from ..validate import check_path

ImageLike = Union[str, "os.PathLike[str]", np.ndarray]

#: Image files declaring more pixels than this are refused before decoding (a
#: small file can claim 30000x30000 and take gigabytes). Default 2**28
#: (16384 x 16384), or ``$FASTINFER_MAX_IMAGE_PIXELS``; 0 turns the limit off.
#: The core's default is the same number (``_core.DEFAULT_MAX_IMAGE_PIXELS``, checked by a test).
DEFAULT_MAX_IMAGE_PIXELS = 2**28
MAX_IMAGE_PIXELS: int = int(os.environ.get("FASTINFER_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS))


def load_image(source: ImageLike, *, name: str = "image", bgr: bool = True) -> np.ndarray:
    """Returns ``source`` as a C-contiguous HxWx3 BGR uint8 array.

    With ``bgr=False`` grayscale and BGRA arrays are returned as they are (no
    3-channel copy of a large image): the pre-processing converts them after
    resizing.

    Args:
        source: a path to an image file, or a numpy image: HxWx3 BGR, HxW or
            HxWx1 grayscale, or HxWx4 BGRA, dtype uint8.
        name: how error messages call the argument.

    Raises:
        InvalidInputError: the file cannot be read or decoded, or the array
            has the wrong dtype, rank, channel count or size.
    """
    if isinstance(source, (str, os.PathLike)):
        return _core.imread(check_path(name, source), max_pixels=MAX_IMAGE_PIXELS)
    if not isinstance(source, np.ndarray):
        raise InvalidInputError(f"{name} must be a path or a numpy array, got {type(source).__name__}")
    if source.dtype != np.uint8:
        raise InvalidInputError(f"{name} must have dtype uint8, got {source.dtype} with shape {source.shape}")
    if source.ndim not in (2, 3) or (source.ndim == 3 and source.shape[2] not in (1, 3, 4)):
        raise InvalidInputError(f"{name} must be HxW, HxWx1, HxWx3 or HxWx4, got shape {source.shape}")
    if source.shape[0] == 0 or source.shape[1] == 0:
        raise InvalidInputError(f"{name} is empty, shape {source.shape}")
    image = np.ascontiguousarray(source)
    if (image.ndim == 3 and image.shape[2] == 3) or not bgr:
        return image
    return _core.to_bgr(image)


def is_image_like(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike, np.ndarray))


def read_image(path: str | os.PathLike[str], *, strict: bool = False) -> np.ndarray:
    """Reads an image file as BGR uint8 (no OpenCV Python package needed).

    A truncated JPEG (a partial download) is decoded with its missing part
    grey and a ``fastinfer.ImageWarning`` naming the file; ``strict=True``
    makes it an ``InvalidInputError``. Files declaring more than
    :data:`MAX_IMAGE_PIXELS` pixels are refused before they are decoded.

    Raises:
        InvalidInputError: the file is missing, empty, not an image, too
            large, or (``strict``) truncated.
    """
    return _core.imread(check_path("path", path), max_pixels=MAX_IMAGE_PIXELS, strict=bool(strict))


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Writes an image file; the extension picks the format."""
    _core.imwrite(check_path("path", path), np.ascontiguousarray(image))
