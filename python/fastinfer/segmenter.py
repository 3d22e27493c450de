"""Semantic segmentation: preprocess -> backend -> one class per pixel of the original image.

The C++ core does the pre-processing (``make_blob``) and the post-processing
(``_core.segment``): it cuts the image's cells out of the model's class
scores (dropping letterbox padding), resizes them bilinearly to the original
image size as ``torch.nn.functional.interpolate(mode="bilinear",
align_corners=False)`` does, and takes the argmax per pixel.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, overload

import numpy as np

from . import _core, backends, heads
from .detections import _jsonable
from .errors import InvalidInputError, ModelLoadError
from .images import ImageLike, load_image
from .tasks import Size, check_choice, check_size, read_labels, run


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


@dataclass(frozen=True)
class Segmentation:
    """The class of every pixel of one image.

    Attributes:
        class_map: ``(H, W)`` class ids at the original image size, uint8
            (int32 for models with more than 256 classes).
        class_names: the model's class names, indexed by class id.
        metadata: backend, input size, timings (ms) and the like.
        pixel_counts: ``(num_classes,)`` int64 pixels of each class (computed).

    Example:
        >>> seg = fastinfer.Segmenter("deeplabv3.onnx", input_size=520, mean=fastinfer.IMAGENET_MEAN,
        ...                           std=fastinfer.IMAGENET_STD, labels="voc.names")("dog.jpg")
        >>> [(a["label"], round(a["fraction"], 2)) for a in seg.areas()]
        [('background', 0.61), ('dog', 0.27), ('bicycle', 0.12)]
        >>> dog = seg.mask("dog")                   # (H, W) bool
        >>> blended = seg.overlay(fastinfer.read_image("dog.jpg"), alpha=0.5)
    """

    class_map: np.ndarray
    class_names: Sequence[str] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    pixel_counts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        class_map = np.asarray(self.class_map)
        if class_map.ndim != 2 or class_map.dtype.kind not in "iu":
            raise InvalidInputError(f"class_map must be an (H, W) integer array, got {class_map.dtype} with shape "
                                    f"{class_map.shape}")
        names = tuple(str(n) for n in self.class_names)
        largest = int(class_map.max()) if class_map.size else -1
        if class_map.size and int(class_map.min()) < 0:
            raise InvalidInputError(f"class_map holds negative class ids (down to {int(class_map.min())})")
        if names and largest >= len(names):
            raise InvalidInputError(f"class_map holds class id {largest} but there are {len(names)} class names")
        counts = np.bincount(class_map.reshape(-1), minlength=len(names) or largest + 1).astype(np.int64)
        object.__setattr__(self, "class_map", class_map)
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "pixel_counts", counts)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the image."""
        return self.class_map.shape  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        """The number of class names (the largest id + 1 without names)."""
        return len(self.pixel_counts)

    @property
    def labels(self) -> list[str]:
        """The name of each class id (``class3`` where the model names none)."""
        return [self.class_names[i] if i < len(self.class_names) else f"class{i}" for i in range(self.num_classes)]

    @property
    def fractions(self) -> np.ndarray:
        """``(num_classes,)`` float64 share of the image's pixels per class."""
        return self.pixel_counts / max(self.class_map.size, 1)

    def areas(self) -> list[dict[str, Any]]:
        """The classes present, largest first: ``{"class_id", "label", "pixels", "fraction"}`` each."""
        present = np.flatnonzero(self.pixel_counts)
        order = present[np.argsort(-self.pixel_counts[present], kind="stable")]
        labels, fractions = self.labels, self.fractions
        return [{"class_id": int(i), "label": labels[i], "pixels": int(self.pixel_counts[i]),
                 "fraction": float(fractions[i])} for i in order]

    def mask(self, cls: int | str) -> np.ndarray:
        """``(H, W)`` bool: the pixels of one class, by id or name."""
        if isinstance(cls, str):
            if cls not in self.labels:
                raise InvalidInputError(f"no class named {cls!r}; the classes are {', '.join(self.labels)}")
            cls = self.labels.index(cls)
        if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)):
            raise InvalidInputError(f"class must be an int id or a name, got {type(cls).__name__}")
        return self.class_map == int(cls)

    def colorize(self) -> np.ndarray:
        """``(H, W, 3)`` BGR uint8: each pixel in its class's ``palette`` colour."""
        bgr = palette(self.num_classes)[:, ::-1]
        return np.ascontiguousarray(bgr[self.class_map])

    def overlay(self, image: ImageLike, alpha: float = 0.5) -> np.ndarray:
        """A BGR copy of ``image`` blended with the class colours: ``(1 - alpha) * image + alpha * colour``.

        The colours are ``palette``'s (PASCAL VOC's; class 0 black), so
        ``alpha=1`` gives the colour map alone and ``alpha=0`` the image.

        Args:
            image: the segmented image (path, or HxW / HxWx3 / HxWx4 uint8 array).
            alpha: the colours' weight, in [0, 1].
        """
        alpha = float(alpha)
        if not 0.0 <= alpha <= 1.0:
            raise InvalidInputError(f"alpha must be in [0, 1], got {alpha}")
        pixels = load_image(image)
        if pixels.shape[:2] != self.shape:
            raise InvalidInputError(f"image is {pixels.shape[1]}x{pixels.shape[0]} but the segmentation is "
                                    f"{self.shape[1]}x{self.shape[0]}")
        blended = pixels * np.float32(1.0 - alpha) + self.colorize() * np.float32(alpha)
        return np.rint(blended).astype(np.uint8)

    def __repr__(self) -> str:
        items = ", ".join(f"{a['label']}:{a['fraction']:.1%}" for a in self.areas()[:5])
        more = len(self.areas()) - 5
        return f"Segmentation({self.shape[1]}x{self.shape[0]}: [{items}{f', +{more} more' if more > 0 else ''}])"

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types: the image size, the areas of the classes present, the metadata (not the map)."""
        areas = [dict(a, fraction=round(a["fraction"], 6)) for a in self.areas()]
        return {"width": self.shape[1], "height": self.shape[0], "areas": areas,
                "metadata": _jsonable(self.metadata)}

    def to_json(self, **kwargs: Any) -> str:
        """``to_dict()`` as a JSON string; keyword arguments go to ``json.dumps``."""
        return json.dumps(self.to_dict(), **kwargs)


class Segmenter:
    """A semantic segmentation model (DeepLabV3, FCN, LR-ASPP, SegFormer and the like).

    The model's first output is either ``(N, C, h, w)`` class scores, at the
    input resolution or a fraction of it (output stride 4, 8, ...), or an
    ``(N, h, w)`` map of class ids already taken in the graph (as float).
    Scores are mapped back to the original image in C++: the image's cells
    are cut out (letterbox padding dropped), resized bilinearly to the image
    size (``align_corners=False``) and the argmax taken per pixel; class maps
    are resized by nearest neighbour.

    Pre-processing: resize to ``input_size`` (stretch, or ``letterbox``),
    RGB (``swap_rb``), ``(pixel * scale - mean) / std``.

    Args:
        model: an ONNX segmentation model.
        input_size: the network input, an int or ``(width, height)``. Default:
            the model's fixed size.
        mean: per network input channel (R, G, B with ``swap_rb``), in the
            units after ``scale`` (pixel / 255 by default); one value for all
            three is accepted. ``fastinfer.IMAGENET_MEAN`` for torchvision's
            models.
        std: as ``mean``; ``fastinfer.IMAGENET_STD`` for torchvision's.
        labels: class names: a file (one per line) or a list; default: the
            ONNX metadata's ``names``, else ``class0``, ``class1``, ...
        letterbox: keep the aspect ratio and pad (centred) instead of stretching.
        scale: multiplies the 0..255 pixels before ``mean`` and ``std``.
        swap_rb: feed RGB (True) or BGR (False).
        pad_value: letterbox padding, in pixels (0..255, before normalisation).
        backend: ``"auto"`` (ONNX Runtime), ``"onnxruntime"`` or ``"opencv"``.
        threads: ONNX Runtime intra-op threads (None: its default).
        providers: ONNX Runtime execution providers, e.g. ``["CUDAExecutionProvider"]``.
        graph_optimization: ONNX Runtime graph optimisation level.

    Example:
        >>> seg = fastinfer.Segmenter("deeplabv3.onnx", input_size=520, mean=fastinfer.IMAGENET_MEAN,
        ...                           std=fastinfer.IMAGENET_STD, labels="voc.names")
        >>> result = seg("dog.jpg")
        >>> result.class_map.shape                  # the photo's (height, width)
        (576, 768)
        >>> fastinfer.write_image("dog-seg.jpg", result.overlay(fastinfer.read_image("dog.jpg")))
    """

    def __init__(self, model: str | os.PathLike[str], *, input_size: Size | None = None,
                 mean: float | Sequence[float], std: float | Sequence[float],
                 labels: str | os.PathLike[str] | Sequence[str] | None = None, letterbox: bool = False,
                 scale: float = 1.0 / 255.0, swap_rb: bool = True, pad_value: float = 127.5, backend: str = "auto",
                 threads: int | None = None, providers: Sequence[str] | None = None,
                 graph_optimization: str = "all") -> None:
        check_choice("backend", backend, backends.BACKENDS)
        self.scale = float(scale)
        if not np.isfinite(self.scale) or self.scale == 0:
            raise InvalidInputError(f"scale must be finite and non-zero, got {scale!r}")
        self.mean = self._triple("mean", mean)
        self.std = self._triple("std", std)
        if not all(np.isfinite(s) and s != 0 for s in self.std):
            raise InvalidInputError(f"std values must be finite and non-zero, got {self.std}")
        self.letterbox = bool(letterbox)
        self.swap_rb = bool(swap_rb)
        self.pad_value = float(pad_value)

        path = Path(model)
        if not path.is_file():
            raise ModelLoadError(f"model file '{path}' does not exist")
        if path.suffix.lower() != ".onnx":
            raise ModelLoadError(f"a Segmenter runs ONNX models, got '{path}'")
        description = heads.describe_onnx(path)
        self.model_path = path
        self.input_size = self._input_size(path, description["inputs"][0]["shape"], input_size)
        out_shape = description["outputs"][0]["shape"]
        if len(out_shape) not in (3, 4):
            raise ModelLoadError(f"model '{path}' has output shape {tuple(out_shape)}; a Segmenter needs (N, C, h, w) "
                                 "class scores or an (N, h, w) class map")
        #: Class count from the output's fixed shape (None: a class map, or dynamic).
        self.num_classes: int | None = out_shape[1] if len(out_shape) == 4 and isinstance(out_shape[1], int) else None
        given = read_labels(labels)
        if given is not None and self.num_classes is not None and len(given) != self.num_classes:
            raise InvalidInputError(f"labels has {len(given)} names but model '{path}' outputs "
                                    f"{self.num_classes} classes (output shape {tuple(out_shape)})")
        if given is None:
            given = heads.names_from_metadata(description["metadata"])
            if given is not None and self.num_classes is not None and len(given) != self.num_classes:
                given = None  # the metadata names another head's classes
        if given is None and self.num_classes is not None:
            given = [f"class{i}" for i in range(self.num_classes)]
        #: The class names; None when neither labels, the metadata nor the output's shape give them.
        self.class_names: tuple[str, ...] | None = tuple(given) if given else None
        self.backend = backends.load(path, None, backend, threads=threads, providers=providers,
                                     graph_optimization=graph_optimization)

    @staticmethod
    def _triple(name: str, values: float | Sequence[float]) -> tuple[float, float, float]:
        flat = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(flat) == 1:
            flat = np.repeat(flat, 3)
        if len(flat) != 3:
            raise InvalidInputError(f"{name} must have 1 or 3 values (one per input channel), got {len(flat)}: "
                                    f"{tuple(flat.tolist())}")
        if not np.all(np.isfinite(flat)):
            raise InvalidInputError(f"{name} values must be finite, got {tuple(flat.tolist())}")
        return tuple(float(v) for v in flat)  # type: ignore[return-value]

    @staticmethod
    def _input_size(path: Path, shape: Sequence[Any], input_size: Size | None) -> tuple[int, int]:
        if input_size is not None:
            return check_size(input_size)
        if len(shape) == 4 and isinstance(shape[2], int) and isinstance(shape[3], int):
            return shape[3], shape[2]
        raise InvalidInputError(f"ONNX model '{path}' has a dynamic input size ({shape}): pass input_size=(width, "
                                "height)")

    def __repr__(self) -> str:
        w, h = self.input_size
        classes = len(self.class_names) if self.class_names else "?"
        return (f"Segmenter(model='{self.model_path}', backend='{self.backend.name}', input_size={w}x{h}, "
                f"classes={classes}, mode='{'letterbox' if self.letterbox else 'stretch'}')")

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """BGR images -> (NCHW float32 blob, per-image transforms)."""
        return _core.make_blob(list(images), self.input_size, "letterbox" if self.letterbox else "stretch",
                               self.swap_rb, self.scale, [m / self.scale for m in self.mean], list(self.std),
                               self.pad_value)

    def postprocess(self, output: np.ndarray, transforms: np.ndarray) -> list[np.ndarray]:
        """The model's output -> per image an ``(H, W)`` class map at the original size."""
        if output.ndim == 4 and self.class_names is not None and output.shape[1] != len(self.class_names):
            raise InvalidInputError(f"model output of shape {output.shape} has {output.shape[1]} classes but there "
                                    f"are {len(self.class_names)} labels")
        return _core.segment(output, transforms, self.input_size, len(self.class_names or ()))

    @overload
    def __call__(self, source: ImageLike) -> Segmentation: ...

    @overload
    def __call__(self, source: Sequence[ImageLike]) -> list[Segmentation]: ...

    def __call__(self, source):
        """Segments one image (path or BGR array) or a list of them (one batch).

        Returns:
            a ``Segmentation`` for one image, a list of them for a list.
        """
        done = run(self, source, lambda outputs, transforms: self.postprocess(outputs[0], transforms))
        if done is None:
            return []
        output = done.outputs[0]
        names = self.class_names or ([f"class{i}" for i in range(output.shape[1])] if output.ndim == 4 else ())
        meta = {"backend": self.backend.name, "input_size": list(self.input_size),
                "mode": "letterbox" if self.letterbox else "stretch", "output_shape": list(output.shape),
                "timings": done.timings}
        return done.unwrap([Segmentation(m, names, dict(meta, image_size=done.image_size(i)))
                            for i, m in enumerate(done.result)])
