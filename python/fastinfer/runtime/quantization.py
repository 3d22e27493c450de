"""Static INT8 quantization (QDQ) of ONNX models for the CPU, with ONNX Runtime's tools."""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Union

import numpy as np

from .._deprecation import renamed_arguments
from ..errors import InvalidInputError, ModelLoadError
from ..formats import onnx as onnx_format
from ..io.images import ImageLike, load_image, read_image
from . import cache
from .cpu import CpuFeatures, cpu_features

log = logging.getLogger(__name__)

#: What ``calibration=`` takes: a folder, a glob, an image path, a BGR array, or a list of paths and arrays.
CalibrationLike = Union[str, "os.PathLike[str]", np.ndarray, Sequence[ImageLike]]

#: The default calibration set, shipped with the package: small public-domain
#: and CC0 photos (see the README beside them; ``scripts/make_calibration_set.py``
#: regenerates them from scikit-image's wheel).
CALIBRATION_PACKAGE_DIR = "data/calibration"
#: Image files a calibration folder or glob may hold.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
#: Percentile of ``calibration="percentile"``: the range keeps 99.999% of each activation's values.
PERCENTILE = 99.999


@dataclass(frozen=True)
class Recipe:
    """How a model is quantized.

    Attributes:
        name: how results and the cache key call it.
        op_types: operator types quantized. Conv alone leaves every
            activation in float between a dequantize and a quantize (one
            "island" per convolution); adding LeakyRelu keeps the activations
            in uint8 from one convolution to the next.
        per_channel: one weight scale per output channel (else per tensor).
        reduce_range: 7-bit weights. x86 CPUs without VNNI multiply uint8 by
            int8 in pairs summed into int16 (``vpmaddubsw``), which saturates
            with full-range weights; VNNI, AMX and ARM sum into int32.
        calibration: ``"minmax"``, ``"percentile"`` (:data:`PERCENTILE`) or
            ``"entropy"`` ranges of the activations.
        float_head: the decoding tail and the last convolution before each
            output stay in float.
        float_first: the first convolution (on the raw image) stays in float.
    """

    name: str
    op_types: tuple[str, ...] = ("Conv", "MaxPool", "Concat", "Resize")
    per_channel: bool = True
    reduce_range: bool = True
    calibration: str = "minmax"
    float_head: bool = True
    float_first: bool = False

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATION_METHODS:
            raise InvalidInputError(f"Recipe calibration must be one of {', '.join(CALIBRATION_METHODS)}, got "
                                    f"{self.calibration!r}")
        if not self.op_types or not all(isinstance(op, str) for op in self.op_types):
            raise InvalidInputError(f"Recipe op_types must be a non-empty tuple of ONNX operator types, got "
                                    f"{self.op_types!r}")

    def key(self) -> str:
        return repr(self)


_BACKBONE = ("Conv", "LeakyRelu", "Relu", "Clip", "MaxPool", "Concat", "Resize")
#: The recipes measured by ``benchmarks/bench_int8.py`` (see its results for each one's recall and speed).
RECIPES = {r.name: r for r in (
    # Activations in float around each convolution (fastinfer 0.1's recipe): 7-bit weights for AVX2.
    Recipe("float-activations"),
    # Quantized activations through the whole backbone, full-range weights: for VNNI / AMX / ARM dot product.
    Recipe("full", op_types=_BACKBONE, reduce_range=False),
    Recipe("full-7bit", op_types=_BACKBONE),
    Recipe("full-per-tensor", op_types=_BACKBONE, reduce_range=False, per_channel=False),
    Recipe("full-percentile", op_types=_BACKBONE, reduce_range=False, calibration="percentile"),
    # ONNX Runtime 1.32's quantize_static gives entropy calibration 128 bins for 128 quantized bins: the full
    # range, so this equals "full" (measured: the same scales).
    Recipe("full-entropy", op_types=_BACKBONE, reduce_range=False, calibration="entropy"),
    Recipe("full-first-float", op_types=_BACKBONE, reduce_range=False, float_first=True),
    # Everything quantized, the output convolutions too (the decoding tail has no quantizable operators).
    Recipe("full-all", op_types=_BACKBONE, reduce_range=False, float_head=False),
)}
#: Recipe on CPUs with an int8 dot product (``cpu_features().has_int8_dot_product``) and without.
DOT_PRODUCT_RECIPE = "full"
NO_DOT_PRODUCT_RECIPE = "full-7bit"
# Changes whenever a recipe's meaning changes, so cached INT8 models follow.
RECIPE_VERSION = 3

_warned_no_dot_product = False


def default_recipe(features: CpuFeatures | None = None) -> Recipe:
    """The recipe for this CPU: activations quantized through the backbone either way, with full-range
    weights where it has an int8 dot product, else 7-bit weights (no int16 saturation on AVX2) and a
    warning, once per process, that INT8 will not be faster here. ``benchmarks/bench_int8.py`` measures
    every recipe's recall of FP32's detections and its speed."""
    global _warned_no_dot_product
    features = features or cpu_features()
    if features.has_int8_dot_product:
        return RECIPES[DOT_PRODUCT_RECIPE]
    if not _warned_no_dot_product:
        _warned_no_dot_product = True
        log.warning(
            "INT8 will not be faster than FP32 on this CPU (%s): it has no int8 dot-product instruction "
            "(AVX-512 VNNI, AVX-VNNI, AMX or ARM's dot product), so ONNX Runtime's int8 convolutions do about as "
            "much work as its float ones (on a 2-core AMD EPYC Zen 2 with AVX2, INT8 yolov3-tiny took 54 ms end to "
            "end, FP32 45-67 ms)", features.model)
    return RECIPES[NO_DOT_PRODUCT_RECIPE]


def resolve_recipe(recipe: str | Recipe | None) -> Recipe:
    if recipe is None:
        return default_recipe()
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, str) and recipe in RECIPES:
        return RECIPES[recipe]
    raise InvalidInputError(f"recipe must be a fastinfer.quantization.Recipe or one of {', '.join(RECIPES)}, "
                            f"got {recipe!r}")


def default_calibration_images() -> list[Path]:
    """The default calibration set: the photos that ship in ``fastinfer/data/calibration``."""
    folder = Path(str(resources.files("fastinfer").joinpath(CALIBRATION_PACKAGE_DIR)))
    found = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not found:
        raise ModelLoadError(f"the default calibration photos are missing from the installed package ('{folder}'): "
                             "reinstall fastinfer, or pass calibration=")
    return found


def _images_in(folder: Path, what: str) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise InvalidInputError(f"{what}: folder '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return found


def resolve_calibration(calibration: CalibrationLike | None, name: str = "calibration") -> list[Path | np.ndarray]:
    """What ``calibration=`` names, as a list of image paths and arrays.

    ``None`` is the default set (:func:`default_calibration_images`); a folder
    is the images in it (by name); a path with ``*``, ``?`` or ``[`` is a glob;
    a file is one image; an array is one image; a list holds paths and arrays.
    Images are not decoded here (see :func:`load_calibration`).
    """
    if calibration is None:
        return list(default_calibration_images())
    if isinstance(calibration, np.ndarray):
        return [calibration]
    if isinstance(calibration, (str, os.PathLike)):
        text = os.fspath(calibration)
        if not text:
            raise InvalidInputError(f"{name} is an empty path")
        path = Path(text).expanduser()
        if path.is_dir():
            return list(_images_in(path, name))
        if path.is_file():
            return [path]
        if glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True))
            files = [p for p in matches if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
            if not files:
                raise InvalidInputError(f"{name}: the pattern '{text}' matches no image files"
                                        + (f" ({len(matches)} other paths)" if matches else ""))
            return list(files)
        raise InvalidInputError(f"{name}: '{text}' does not exist (expected an image, a folder of images or a glob)")
    if isinstance(calibration, Sequence):
        items: list[Path | np.ndarray] = []
        for i, item in enumerate(calibration):
            if isinstance(item, np.ndarray):
                items.append(item)
            elif isinstance(item, (str, os.PathLike)):
                items.extend(resolve_calibration(item, f"{name}[{i}]"))
            else:
                raise InvalidInputError(f"{name}[{i}] must be a path or a numpy image, got {type(item).__name__}")
        if not items:
            raise InvalidInputError(f"{name} is empty")
        return items
    raise InvalidInputError(f"{name} must be a folder, a glob, an image path, a numpy image or a list of them, "
                            f"got {type(calibration).__name__}")


def load_calibration(items: Sequence[Path | np.ndarray], name: str = "calibration") -> list[np.ndarray]:
    """Decodes the calibration images (a damaged file is an error naming it, not a grey-padded picture)."""
    images = []
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            images.append(load_image(item, name=f"{name}[{i}]"))
            continue
        try:
            images.append(read_image(item, strict=True))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{name}: {exc}") from exc
    return images


def head_nodes(model, *, last_conv: bool = True) -> list[str]:
    """Names of the nodes between each graph output and the last convolution before it.

    These decode boxes (sigmoid, exp, grid offsets) or produce the raw values
    they decode; quantizing them would cost box precision for little speed.
    ``last_conv`` includes those convolutions.
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
        if node.op_type != "Conv" or last_conv:
            excluded[node.name] = None
        if node.op_type != "Conv":
            stack.extend(node.input)
    return list(excluded)


def first_convs(model) -> list[str]:
    """Names of the convolutions that read the graph input."""
    inputs = {i.name for i in model.graph.input}
    return [n.name for n in model.graph.node if n.op_type == "Conv" and n.input and n.input[0] in inputs]


class _BlobReader:
    """Feeds pre-processed calibration blobs to ONNX Runtime's calibrator."""

    def __init__(self, input_name: str, blobs: Iterable[np.ndarray]) -> None:
        self._items = iter([{input_name: blob} for blob in blobs])

    def get_next(self):
        return next(self._items, None)


@renamed_arguments(calibration_images="calibration")
def quantize(model: str | os.PathLike[str], calibration: CalibrationLike | None = None,
             out: str | os.PathLike[str] | None = None, *,
             preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
             input_size: tuple[int, int] | None = None, recipe: str | Recipe | None = None) -> Path:
    """Writes a static QDQ INT8 copy of an ONNX model, calibrated on images.

    Weights are int8 (per channel by default), activations uint8 (the
    combination ONNX Runtime runs fastest on x86). The recipe (which operators,
    7- or 8-bit weights, how activation ranges are calibrated, what stays in
    float) is chosen for the CPU unless given: see :func:`default_recipe` and
    :data:`RECIPES`.

    Args:
        model: the FP32 ONNX file.
        calibration: a folder of images, a glob (``"frames/*.jpg"``), an image
            path, a BGR array, or a list of paths and arrays; None uses the
            photos that ship with fastinfer (``calibration_images=``: deprecated).
        out: where to write; default ``<model stem>.int8.onnx`` beside it.
        preprocess: image -> NCHW float32 blob of one image. Default: stretch
            to ``input_size`` (or the model's fixed input size), 1/255, RGB.
        input_size: (width, height) for the default preprocessing.
        recipe: a :class:`Recipe` or the name of one in :data:`RECIPES`;
            default: :func:`default_recipe` for this CPU.

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
    chosen = resolve_recipe(recipe)
    if preprocess is None:
        if input_size is None:
            input_size = graph_input.image_size()
            if input_size is None:
                raise InvalidInputError(f"'{model}' has a dynamic input size: pass input_size=(width, height)")

        def preprocess(image: np.ndarray) -> np.ndarray:
            return _core.make_blob(image, input_size)[0]

    images = load_calibration(resolve_calibration(calibration))
    blobs = [preprocess(image) for image in images]
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[chosen.calibration]
    extra: dict[str, Any] = {"CalibPercentile": PERCENTILE} if chosen.calibration == "percentile" else {}

    out = Path(out) if out is not None else model.with_name(model.stem + ".int8.onnx")
    with cache.temp_dir("fastinfer-quant-") as tmp, cache.atomic_path(out, "INT8 model") as partial:
        prepared = tmp / "prepared.onnx"
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        graph = onnx_format.load(prepared)
        excluded = head_nodes(graph, last_conv=chosen.float_head)
        if chosen.float_first:
            excluded += first_convs(graph)
        quantize_static(
            str(prepared), str(partial), _BlobReader(graph_input.name, blobs), quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(chosen.op_types), per_channel=chosen.per_channel,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=chosen.reduce_range,
            nodes_to_exclude=excluded, calibrate_method=method, extra_options=extra)
    log.info("quantized '%s' to INT8 '%s' (recipe %s) with %d calibration images", model, out, chosen.name,
             len(blobs))
    return out


def cached_int8(model: Path, calibration: CalibrationLike | None, preprocess: Callable[[np.ndarray], np.ndarray], *,
                key: str = "", recipe: str | Recipe | None = None,
                cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``quantize`` once per (model, calibration images, pre-processing, recipe); later calls reuse the file.

    The file lives under ``<cache>/int8/``, named by the SHA-256 of the FP32
    model, of each calibration image, of the recipe and of ``key`` (which
    should describe ``preprocess``); :mod:`fastinfer.runtime.cache` records its
    hash and quantizes again when the file no longer matches it.
    """
    chosen = resolve_recipe(recipe)
    items = resolve_calibration(calibration)
    digest = cache.Key(f"int8 recipe {RECIPE_VERSION} {chosen.key()}").file(model, "ONNX model")
    for item in items:
        if isinstance(item, np.ndarray):
            data = np.ascontiguousarray(item).tobytes()
        else:
            try:
                data = Path(item).read_bytes()
            except OSError as exc:
                raise InvalidInputError(f"calibration: cannot read '{item}': {exc.strerror}") from exc
        digest.data(data)
    digest.text(key)
    return cache.cached("int8", digest.hexdigest()[:32], ".onnx",
                        lambda tmp: quantize(model, items, tmp, preprocess=preprocess, recipe=chosen),
                        cache_dir=cache_dir, what="INT8 model")
