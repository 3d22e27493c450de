"""Static INT8 quantization (QDQ) of ONNX models for the CPU, with ONNX Runtime's tools."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import InvalidInputError, ModelLoadError
from ..formats import onnx as onnx_format
from ..io.images import ImageLike, load_image
from . import cache

log = logging.getLogger(__name__)

#: Where the default calibration photos come from: the sample photos of
#: Debian's darknet package (installed by the project's set-up).
DEFAULT_CALIBRATION_DIR = Path("/usr/share/darknet/data")
DEFAULT_CALIBRATION_IMAGES = ("dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg", "person.jpg",
                              "scream.jpg")

# Operators quantized by default: the convolutions (where the time goes) and
# the operators that only move values (pooling, concatenation, resizing).
# Activations stay in float between a dequantize and a quantize: quantizing
# LeakyRelu as well lost a confident yolov3-tiny detection on the sample
# photos (the truck in dog.jpg) and was no faster.
DEFAULT_OP_TYPES = ("Conv", "MaxPool", "Concat", "Resize")
# Changes whenever the default recipe changes, so cached INT8 models follow.
RECIPE_VERSION = 2


def default_calibration_images() -> list[Path]:
    """The default calibration set: Darknet's sample photos (``apt-get install darknet``)."""
    found = [DEFAULT_CALIBRATION_DIR / name for name in DEFAULT_CALIBRATION_IMAGES
             if (DEFAULT_CALIBRATION_DIR / name).is_file()]
    if not found:
        raise InvalidInputError(
            f"no calibration images given and the default set ({DEFAULT_CALIBRATION_DIR}/*.jpg from Debian's darknet "
            "package) is not installed: pass calibration images")
    return found


def head_nodes(model) -> list[str]:
    """Names of the nodes between each graph output and the last convolution before it (included).

    These decode boxes (sigmoid, exp, grid offsets) or produce the raw values
    they decode; quantizing them would cost box precision for little speed.
    """
    producers = {out: node for node in model.graph.node for out in node.output}
    excluded: dict[str, None] = {}
    stack = [o.name for o in model.graph.output]
    seen: set[str] = set()
    while stack:
        tensor = stack.pop()
        node = producers.get(tensor)
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        excluded[node.name] = None
        if node.op_type != "Conv":
            stack.extend(node.input)
    return list(excluded)


class _BlobReader:
    """Feeds pre-processed calibration blobs to ONNX Runtime's calibrator."""

    def __init__(self, input_name: str, blobs: Iterable[np.ndarray]) -> None:
        self._items = iter([{input_name: blob} for blob in blobs])

    def get_next(self):
        return next(self._items, None)


def quantize(model: str | os.PathLike[str], calibration_images: Sequence[ImageLike] | None,
             out: str | os.PathLike[str] | None = None, *,
             preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
             input_size: tuple[int, int] | None = None, per_channel: bool = True, reduce_range: bool = True,
             op_types: Sequence[str] = DEFAULT_OP_TYPES, exclude_head: bool = True) -> Path:
    """Writes a static QDQ INT8 copy of an ONNX model, calibrated on images.

    Weights are quantized per channel to int8, activations to uint8 (the
    combination ONNX Runtime runs fastest on x86), with min/max calibration.
    Weights use 7 bits (``reduce_range``) by default: x86 CPUs without VNNI
    multiply uint8 by int8 in pairs summed into int16, which saturates with
    full-range weights (on yolov3-tiny that lost a third of the confident
    detections); the lost bit costs no accuracy measurable on detections.

    Args:
        model: the FP32 ONNX file.
        calibration_images: paths or BGR arrays; None uses the default set
            (Darknet's sample photos).
        out: where to write; default ``<model stem>.int8.onnx`` beside it.
        preprocess: image -> NCHW float32 blob of one image. Default: stretch
            to ``input_size`` (or the model's fixed input size), 1/255, RGB.
        input_size: (width, height) for the default preprocessing.
        per_channel: per-output-channel weight scales.
        reduce_range: 7-bit weights (see above); False for full 8-bit on
            CPUs with VNNI (AVX512-VNNI, AVX-VNNI) or ARM.
        op_types: operator types to quantize.
        exclude_head: keep the decoding tail of the graph (and the last
            convolution before it) in float.

    Returns:
        The path of the INT8 model.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from .. import _core

    model = Path(model)
    described = onnx_format.describe(model)
    if len(described.inputs) != 1:
        raise ModelLoadError(f"ONNX model '{model}' has {len(described.inputs)} inputs; INT8 calibration needs one")
    graph_input = described.inputs[0]
    if preprocess is None:
        if input_size is None:
            input_size = graph_input.image_size()
            if input_size is None:
                raise InvalidInputError(f"'{model}' has a dynamic input size: pass input_size=(width, height)")

        def preprocess(image: np.ndarray) -> np.ndarray:
            return _core.make_blob(image, input_size)[0]

    images = default_calibration_images() if calibration_images is None else list(calibration_images)
    if not images:
        raise InvalidInputError("calibration_images is empty")
    blobs = [preprocess(load_image(img, name=f"calibration_images[{i}]")) for i, img in enumerate(images)]

    out = Path(out) if out is not None else model.with_name(model.stem + ".int8.onnx")
    with cache.temp_dir("fastinfer-quant-") as tmp, cache.atomic_path(out, "INT8 model") as partial:
        prepared = tmp / "prepared.onnx"
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        excluded = head_nodes(onnx_format.load(prepared)) if exclude_head else []
        quantize_static(
            str(prepared), str(partial), _BlobReader(graph_input.name, blobs), quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(op_types), per_channel=per_channel, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, reduce_range=reduce_range, nodes_to_exclude=excluded,
            calibrate_method=CalibrationMethod.MinMax)
    log.info("quantized '%s' to INT8 '%s' with %d calibration images", model, out, len(blobs))
    return out


def cached_int8(model: Path, calibration_images: Sequence[ImageLike] | None,
                preprocess: Callable[[np.ndarray], np.ndarray], *, key: str = "",
                cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``quantize`` once per (model, calibration images, pre-processing); later calls reuse the file.

    The file lives under ``<cache>/int8/``, named by the SHA-256 of the FP32
    model, of each calibration image and of ``key`` (which should describe
    ``preprocess``); :mod:`fastinfer.runtime.cache` records its hash and quantizes
    again when the file no longer matches it.
    """
    images = default_calibration_images() if calibration_images is None else list(calibration_images)
    digest = cache.Key(f"int8 recipe {RECIPE_VERSION}").file(model, "ONNX model")
    for i, img in enumerate(images):
        if isinstance(img, (str, os.PathLike)):
            try:
                data = Path(img).read_bytes()
            except OSError as exc:
                raise InvalidInputError(f"calibration_images[{i}]: cannot read '{img}': {exc.strerror}") from exc
        else:
            data = np.ascontiguousarray(img).tobytes()
        digest.data(data)
    digest.text(key)
    return cache.cached("int8", digest.hexdigest()[:32], ".onnx",
                        lambda tmp: quantize(model, images, tmp, preprocess=preprocess), cache_dir=cache_dir,
                        what="INT8 model")
