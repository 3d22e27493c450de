"""Segmentation results: one class per pixel of the original image, and the VOC palette."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .. import _core
from .._deprecation import rename_names, warn
from ..errors import InvalidInputError
from ..io.images import ImageLike, load_image
from ._common import JsonResult, check_line_width, jsonable, save_drawn, source_image, summary, to_frame

#: The columns of ``Segmentation.to_records()`` / ``to_pandas()``.
RECORD_COLUMNS = ("class_id", "label", "pixels", "fraction")


def palette(num_classes: int) -> np.ndarray:
    """The PASCAL VOC colour of each class id: ``(num_classes, 3)`` uint8, RGB.

    Class ``i``'s colour spreads the bits of ``i`` over the three channels,
    most significant bit first: bit ``3j`` of ``i`` becomes bit ``7 - j`` of
    red, bit ``3j + 1`` of green, bit ``3j + 2`` of blue (``j`` = 0..7). Class 0
    is black, 1 dark red ``(128, 0, 0)``, 2 dark green ``(0, 128, 0)``, 15
    (VOC's person) ``(192, 128, 128)``; the first 2**24 ids all differ.

    Example:
        >>> palette(3).tolist()
        [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 0:
        raise InvalidInputError(f"num_classes must be an int >= 0, got {num_classes!r}")
    ids = np.arange(int(num_classes), dtype=np.int64)
    colours = np.zeros((len(ids), 3), dtype=np.int64)
    for j in range(8):
        for channel in range(3):
            colours[:, channel] |= ((ids >> (3 * j + channel)) & 1) << (7 - j)
    return colours.astype(np.uint8)


@rename_names
@dataclass(frozen=True)
class Segmentation(JsonResult):
    """The class of every pixel of one image.

    Attributes:
        class_map: ``(H, W)`` class ids at the original image size, uint8
            (int32 for models with more than 256 classes).
        names: the name of each class id, ``class0``, ``class1``, ... where the model names none
            (``class_names``: deprecated; ``labels``: deprecated, the same list).
        metadata: backend, input size, timings (ms) and the like.
        pixel_counts: ``(num_classes,)`` int64 pixels of each class (computed).

    Example:
        >>> seg = fastinfer.Segmenter("deeplabv3.onnx", input_size=520, mean=fastinfer.IMAGENET_MEAN,
        ...                           std=fastinfer.IMAGENET_STD, names="voc.names")("dog.jpg")
        >>> [(a["label"], round(a["fraction"], 2)) for a in seg.areas()]
        [('background', 0.61), ('dog', 0.27), ('bicycle', 0.12)]
        >>> dog = seg.mask("dog")                   # (H, W) bool
        >>> blended = seg.overlay(fastinfer.read_image("dog.jpg"), alpha=0.5)
    """

    class_map: np.ndarray
    names: Sequence[str] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    pixel_counts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        class_map = np.asarray(self.class_map)
        if class_map.ndim != 2 or class_map.dtype.kind not in "iu":
            raise InvalidInputError(f"class_map must be an (H, W) integer array, got {class_map.dtype} with shape "
                                    f"{class_map.shape}")
        names = tuple(str(n) for n in self.names)
        largest = int(class_map.max()) if class_map.size else -1
        if class_map.size and int(class_map.min()) < 0:
            raise InvalidInputError(f"class_map holds negative class ids (down to {int(class_map.min())})")
        if names and largest >= len(names):
            raise InvalidInputError(f"class_map holds class id {largest} but there are {len(names)} class names")
        counts = np.bincount(class_map.reshape(-1), minlength=len(names) or largest + 1).astype(np.int64)
        object.__setattr__(self, "class_map", class_map)
        names += tuple(f"class{i}" for i in range(len(names), len(counts)))
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "pixel_counts", counts)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the image."""
        return self.class_map.shape

    @property
    def orig_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the original image (the class map is at its size)."""
        return self.shape

    @property
    def num_classes(self) -> int:
        """The number of class names (the largest id + 1 without names)."""
        return len(self.pixel_counts)

    @property
    def labels(self) -> list[str]:
        """Deprecated: ``names`` (the name of each class id) as a list."""
        warn("Segmentation.labels", "Segmentation.names")
        return list(self.names)

    @property
    def fractions(self) -> np.ndarray:
        """``(num_classes,)`` float64 share of the image's pixels per class."""
        return self.pixel_counts / max(self.class_map.size, 1)

    def areas(self) -> list[dict[str, Any]]:
        """The classes present, largest first: ``{"class_id", "label", "pixels", "fraction"}`` each."""
        present = np.flatnonzero(self.pixel_counts)
        order = present[np.argsort(-self.pixel_counts[present], kind="stable")]
        labels, fractions = self.names, self.fractions
        return [{"class_id": int(i), "label": labels[i], "pixels": int(self.pixel_counts[i]),
                 "fraction": float(fractions[i])} for i in order]

    def mask(self, cls: int | str) -> np.ndarray:
        """``(H, W)`` bool: the pixels of one class, by id or name."""
        if isinstance(cls, str):
            if cls not in self.names:
                raise InvalidInputError(f"no class named {cls!r}; the classes are {', '.join(self.names)}")
            cls = self.names.index(cls)
        if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)):
            raise InvalidInputError(f"class must be an int id or a name, got {type(cls).__name__}")
        return self.class_map == int(cls)

    def colorize(self) -> np.ndarray:
        """``(H, W, 3)`` BGR uint8: each pixel in its class's ``palette`` colour."""
        bgr = palette(self.num_classes)[:, ::-1]
        return np.ascontiguousarray(bgr[self.class_map])

    def overlay(self, image: ImageLike, alpha: float = 0.5, *, legend: bool = False,
                line_width: int | None = None) -> np.ndarray:
        """A BGR copy of ``image`` blended with the class colours: ``(1 - alpha) * image + alpha * colour``.

        The colours are ``palette``'s (PASCAL VOC's; class 0 black), so
        ``alpha=1`` gives the colour map alone and ``alpha=0`` the image.

        Args:
            image: the segmented image (path, or HxW / HxWx3 / HxWx4 uint8 array).
            alpha: the colours' weight, in [0, 1].
            legend: also draw a legend at the top right (``draw_legend``).
            line_width: the legend's text scale, as in ``Detections.draw``.
        """
        alpha = float(alpha)
        if not 0.0 <= alpha <= 1.0:
            raise InvalidInputError(f"alpha must be in [0, 1], got {alpha}")
        line_width = check_line_width(line_width)
        pixels = load_image(image)
        if pixels.shape[:2] != self.shape:
            raise InvalidInputError(f"image is {pixels.shape[1]}x{pixels.shape[0]} but the segmentation is "
                                    f"{self.shape[1]}x{self.shape[0]}")
        blended = np.rint(pixels * np.float32(1.0 - alpha) + self.colorize() * np.float32(alpha)).astype(np.uint8)
        return self.draw_legend(blended, line_width=line_width) if legend else blended

    def draw_legend(self, image: np.ndarray, *, line_width: int | None = None) -> np.ndarray:
        """A BGR copy of ``image`` with a legend at the top right: for each class present, largest first, its
        colour and ``name 27.1%``. Rows that do not fit the image's height are summed up as ``+k more``."""
        areas = self.areas()
        texts = [f"{a['label']} {a['fraction']:.1%}" for a in areas]
        colours = palette(self.num_classes)[[a["class_id"] for a in areas]][:, ::-1].reshape(-1, 3)
        return _core.draw_legend(np.ascontiguousarray(image), texts, np.ascontiguousarray(colours),
                                 check_line_width(line_width))

    def draw(self, image: ImageLike, *, alpha: float = 0.5, line_width: int | None = None,
             legend: bool = True) -> np.ndarray:
        """``overlay`` with a legend of the classes present (``legend=False``: without)."""
        return self.overlay(image, alpha, legend=legend, line_width=line_width)

    def save(self, filename: str | os.PathLike[str] | None = None, *, image: ImageLike | None = None,
             alpha: float = 0.5, line_width: int | None = None, legend: bool = True) -> str:
        """Writes ``draw``'s overlay and returns its path: ``filename``, default ``results_<name of the source
        file>``; ``image`` default: the file the segmenter read (``metadata["path"]``)."""
        pixels = source_image(image, self.metadata, self.shape, "Segmentation.save()")
        return save_drawn(self.draw(pixels, alpha=alpha, line_width=line_width, legend=legend), filename,
                          self.metadata)

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per class present, largest first: ``class_id``, ``label``, ``pixels``, ``fraction``."""
        return self.areas()

    def to_pandas(self) -> Any:
        """``to_records()`` as a ``pandas.DataFrame`` (needs ``pip install pandas``)."""
        return to_frame(self.to_records(), RECORD_COLUMNS, "Segmentation")

    def __repr__(self) -> str:
        """``Segmentation(768x576: background 61.2%, dog 27.0%, ...; onnxruntime)``, about 200 characters at most."""
        items = [(a["label"], f"{a['fraction']:.1%}") for a in self.areas()]
        backend = str(self.metadata.get("backend", ""))
        return f"Segmentation({summary(items, f'{self.shape[1]}x{self.shape[0]}', backend, 184)})"

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types: the image size, the areas of the classes present, the metadata (not the map)."""
        areas = [dict(a, fraction=round(a["fraction"], 6)) for a in self.areas()]
        return {"width": self.shape[1], "height": self.shape[0], "areas": areas,
                "metadata": jsonable(self.metadata)}
