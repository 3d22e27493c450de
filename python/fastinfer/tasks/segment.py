"""Semantic segmentation: preprocess -> backend -> one class per pixel of the original image.

The C++ core does the pre-processing (``make_blob``) and the post-processing
(``_core.segment``): it cuts the image's cells out of the model's class
scores (dropping letterbox padding), resizes them bilinearly to the original
image size as ``torch.nn.functional.interpolate(mode="bilinear",
align_corners=False)`` does, and takes the argmax per pixel.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import _core, _deprecation
from ..errors import InvalidInputError, ModelLoadError
from ..formats import heads
from ..results.segmentation import Segmentation, palette
from ..runtime import backends
from ..validate import Size, check_channels, check_choice, check_instance, check_size
from .base import Names, Task, read_names
from .preprocessing import Preprocessing

__all__ = ["Segmenter", "Segmentation", "palette"]


class Segmenter(Task[Segmentation]):
    """A semantic segmentation model (DeepLabV3, FCN, LR-ASPP, SegFormer and the like).

    The model's first output is either ``(N, C, h, w)`` class scores, at the
    input resolution or a fraction of it (output stride 4, 8, ...), or an
    ``(N, h, w)`` map of class ids already taken in the graph (as float).
    Scores are mapped back to the original image in C++: the image's cells
    are cut out (letterbox padding dropped), resized bilinearly to the image
    size (``align_corners=False``) and the argmax taken per pixel; class maps
    are resized by nearest neighbour.

    Pre-processing: resize to ``input_size`` (stretch, or ``letterbox``),
    RGB (``swap_rb``), ``(pixel / 255 - mean) / std``.

    Args:
        model: an ONNX segmentation model.
        input_size: the network input, an int or ``(width, height)``. Default:
            the model's fixed size.
        mean: per network input channel (R, G, B with ``swap_rb``), in
            pixel / 255 units; one value for all three is accepted.
            ``fastinfer.IMAGENET_MEAN`` for torchvision's models.
        std: as ``mean``; ``fastinfer.IMAGENET_STD`` for torchvision's.
        names: class names: a file (one per line) or a list; default: the
            ONNX metadata's ``names``, else ``class0``, ``class1``, ...
            (``labels=``: deprecated).
        letterbox: keep the aspect ratio and pad (centred) instead of stretching.
        scale: deprecated: multiplied the 0..255 pixels, with ``mean`` and
            ``std`` in the units after it; converted with a warning.
        swap_rb: feed RGB (True) or BGR (False).
        pad_value: letterbox padding, in pixels (0..255, before normalisation).
        backend: ``"auto"`` (ONNX Runtime), ``"onnxruntime"``, ``"opencv"`` or ``"torch"``
            (TorchScript files, ``torch.export`` ``.pt2`` programs and ``nn.Module`` objects, at ``input_size``).
        device: the torch backend's device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (on CUDA the blob is built there).
        half: FP16 weights and activations (torch backend on CUDA).
        threads: ONNX Runtime intra-op threads (None: its default).
        providers: ONNX Runtime execution providers, e.g. ``["CUDAExecutionProvider"]``.
        graph_optimization: ONNX Runtime graph optimisation level.
        preprocessing: a whole ``fastinfer.Preprocessing`` instead of
            ``mean``, ``std``, ``letterbox``, ``swap_rb`` and ``pad_value``.
        backend_options: any backend's own options (see ``fastinfer.runtime.backends.load``).

    Example:
        >>> seg = fastinfer.Segmenter("deeplabv3.onnx", input_size=520, mean=fastinfer.IMAGENET_MEAN,
        ...                           std=fastinfer.IMAGENET_STD, names="voc.names")
        >>> result = seg("dog.jpg")
        >>> result.class_map.shape                  # the photo's (height, width)
        (576, 768)
        >>> fastinfer.write_image("dog-seg.jpg", result.overlay(fastinfer.read_image("dog.jpg")))
    """

    task = "segment"

    @_deprecation.renamed_arguments(labels="names")
    def __init__(self, model: str | os.PathLike[str] | Any, *, input_size: Size | None = None,
                 mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None,
                 names: Names | None = None, letterbox: bool = False, scale: float | None = None,
                 swap_rb: bool = True, pad_value: float = 127.5, backend: str = "auto", threads: int | None = None,
                 providers: Sequence[str] | None = None, graph_optimization: str = "all",
                 preprocessing: Preprocessing | None = None, device: str | None = None, half: bool = False,
                 backend_options: Mapping[str, Any] | None = None) -> None:
        check_choice("backend", backend, backends.BACKENDS)
        self.zoo_model(model)  # a model zoo name of another task: an error naming the class that runs it
        check_instance("preprocessing", preprocessing, Preprocessing, "fastinfer.Preprocessing")
        if preprocessing is None:
            if mean is None or std is None:
                raise InvalidInputError("a Segmenter needs mean= and std= (pixel / 255 units; "
                                        "fastinfer.IMAGENET_MEAN and IMAGENET_STD for torchvision's models) "
                                        "or preprocessing=")
            mean, std = check_channels("mean", mean), check_channels("std", std)
            if scale is not None:  # fastinfer 0.1: mean and std in the units after `scale`
                _deprecation.warn("Segmenter(scale=...)", "mean and std in pixel/255 units")
                factor = float(scale) * 255.0
                if not np.isfinite(factor) or factor == 0:
                    raise InvalidInputError(f"scale must be finite and non-zero, got {scale!r}")
                mean = tuple(m / factor for m in mean)
                std = tuple(s / factor for s in std)
            preprocessing = Preprocessing(mode="letterbox" if letterbox else "stretch", swap_rb=swap_rb, mean=mean,
                                          std=std, pad_value=pad_value)
        self.preprocessing = preprocessing

        options: dict[str, Any] = dict(threads=threads, providers=providers, graph_optimization=graph_optimization,
                                       device=device, half=half)
        description, loaded = self.open_model(model, backend, backend_options, input_size, **options)
        path = self.model_path = description.path
        self.input_size = self._input_size(path, description.inputs[0].shape, input_size)
        out_shape = description.outputs[0].shape
        if len(out_shape) not in (3, 4):
            raise ModelLoadError(f"model '{path}' has output shape {tuple(out_shape)}; a Segmenter needs (N, C, h, w) "
                                 "class scores or an (N, h, w) class map")
        #: Class count from the output's fixed shape (None: a class map, or dynamic).
        self.num_classes: int | None = out_shape[1] if len(out_shape) == 4 and isinstance(out_shape[1], int) else None
        given = read_names(names)
        if given is not None and self.num_classes is not None and len(given) != self.num_classes:
            raise InvalidInputError(f"names has {len(given)} names but model '{path}' outputs "
                                    f"{self.num_classes} classes (output shape {tuple(out_shape)})")
        if given is None:
            given = heads.names_from_metadata(description.metadata)
            if given is not None and self.num_classes is not None and len(given) != self.num_classes:
                given = None  # the metadata names another head's classes
        if given is None and self.num_classes is not None:
            given = [f"class{i}" for i in range(self.num_classes)]
        #: The class names; None when neither names=, the metadata nor the output's shape give them.
        self.names = tuple(given) if given else None
        if not loaded:
            self.load_backend(path, None, backend, backend_options, **options)

    class_names = _deprecation.renamed_attribute("class_names", "names", "Segmenter")

    @property
    def letterbox(self) -> bool:
        """Whether images are letterboxed (else stretched)."""
        return self.preprocessing.mode == "letterbox"

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
        classes = len(self.names) if self.names else "?"
        return (f"Segmenter(model='{self.model_path}', backend='{self.backend.name}', input_size={w}x{h}, "
                f"classes={classes}, mode='{self.preprocessing.mode}')")

    def postprocess(self, outputs: Sequence[np.ndarray], transforms: np.ndarray) -> list[tuple[np.ndarray, Any]]:
        """The model's outputs -> per image ``(class_map (H, W) at the original size, output shape)``."""
        output = outputs[0]
        if output.ndim == 4 and self.names is not None and output.shape[1] != len(self.names):
            raise InvalidInputError(f"model output of shape {output.shape} has {output.shape[1]} classes but there "
                                    f"are {len(self.names)} names")
        maps = _core.segment(output, transforms, self.input_size, len(self.names or ()))
        return [(m, list(output.shape)) for m in maps]

    def make_result(self, decoded: Any, metadata: dict[str, Any], transform: np.ndarray) -> Segmentation:
        class_map, output_shape = decoded
        names = self.names or ([f"class{i}" for i in range(output_shape[1])] if len(output_shape) == 4 else ())
        metadata["output_shape"] = output_shape
        return Segmentation(class_map, names, metadata)
