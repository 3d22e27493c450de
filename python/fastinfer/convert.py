"""Darknet cfg + weights -> ONNX, for ONNX Runtime.

The converted graph computes what OpenCV's Darknet importer
(``cv2.dnn.readNetFromDarknet``) computes, so one decoder serves both:

* input ``data``: NCHW float32, ``(batch, channels, height, width)``;
* one output per ``[yolo]`` layer, named ``yolo_<layer index>`` as OpenCV
  names it (``detection_out`` for a ``[region]`` layer), of shape
  ``(batch, H * W * anchors, 5 + classes)``; the rows are in OpenCV's order
  (grid row, grid column, anchor) and hold ``cx, cy, w, h`` (fractions of the
  network input), the objectness, then one score per class: objectness times
  the class probability (sigmoid for ``[yolo]``, softmax for ``[region]``),
  set to 0 where it is not above the layer's ``thresh`` (OpenCV's default 0.2
  for ``[yolo]``, 0.001 for ``[region]``). A ``[region]`` layer (YOLOv2), and
  a ``[yolo]`` layer with ``nms_threshold``, is also suppressed per class in
  the graph (IoU 0.4 for ``[region]``), as OpenCV does;
* boxes: ``cx = (col + (sigmoid(tx) - 0.5) * scale_x_y + 0.5) / W`` and
  ``w = exp(tw) * anchor_w / input_width`` (``[yolo]``, anchors in pixels) or
  ``/ W`` (``[region]``, anchors in grid cells); with ``new_coords=1`` the
  values are used as they are and ``w = tw^2 * 4 * anchor_w / input_width``.

Layers: ``convolutional`` (groups; activations linear, leaky, relu, logistic,
mish, swish), ``maxpool`` (padded like Darknet: ``padding`` defaults to
``size - 1``, split ``floor/ceil`` between top-left and bottom-right),
``upsample``, ``route`` (with ``groups``/``group_id``), ``shortcut``,
``dropout``, ``yolo`` and ``region``. The cfg and weights are read by the
core's Darknet reader (``fastinfer._core.darknet_cfg_info`` and
``darknet_weights``), the one every backend uses: it checks syntax, keys,
values, shapes and the weights, and refuses what would change the maths and
no backend handles (``binary``, ``xnor``, ``stride_x``, ...); keys that only
matter for training are ignored. Layers the reader accepts because OpenCV
runs them but the converter cannot build (``connected``, ``reorg``,
``avgpool``, ``softmax``, ``dilation`` other than 1) are refused here. Every
error is a :class:`~fastinfer.errors.ModelLoadError` naming the file, line,
section and layer index.

Batch normalisation (epsilon 1e-6, as OpenCV's importer) is folded into the
convolutions, activations are single ONNX ops where ONNX has one (mish is
``x * n / (n + 2)``, ``n = e^x (e^x + 2)``: ONNX Runtime runs that faster than
Softplus and Tanh), and each head is decoded with one reshape, one transpose
and a few element-wise ops on constant grids and anchors.

Example:
    >>> from fastinfer import convert
    >>> model = convert.darknet_to_onnx("yolov3-tiny.cfg", "yolov3-tiny.weights", "yolov3-tiny.onnx")  # doctest: +SKIP
    >>> path = convert.cached_onnx("yolov3-tiny.cfg", "yolov3-tiny.weights", input_size=(320, 320))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import _core
from .errors import InvalidInputError, ModelLoadError
from .runtime import cache

__all__ = ["FORMAT_VERSION", "OPSET", "darknet_to_onnx", "cached_onnx"]

log = logging.getLogger(__name__)

#: Version of the produced graph; part of the cache key, so bumping it
#: invalidates every cached conversion.
FORMAT_VERSION = 1

#: ONNX opset of the produced models.
OPSET = 17

PathLike = Union[str, "os.PathLike[str]"]

# OpenCV's Darknet importer: BatchNorm epsilon, [yolo] and [region] defaults.
_BN_EPSILON = 1e-6
_LEAKY_SLOPE = 0.1
_YOLO_THRESH = 0.2
_YOLO_NMS = 0.0
_REGION_THRESH = 0.001
_REGION_NMS = 0.4

# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def darknet_to_onnx(cfg: PathLike, weights: PathLike, out: Optional[PathLike] = None, *,
                    batch: Union[str, int] = "dynamic", input_size: Optional[tuple[int, int]] = None,
                    fold_batchnorm: bool = True) -> onnx.ModelProto:
    """Converts a Darknet model to ONNX (opset 17).

    Args:
        cfg: The Darknet ``.cfg``.
        weights: Its ``.weights`` (any header version).
        out: Where to save the model too (written to a temporary file, then
            renamed into place); ``None``: only return it.
        batch: ``"dynamic"`` (a symbolic batch dimension named ``batch``) or
            a fixed batch size.
        input_size: ``(width, height)`` to convert for instead of the cfg's
            ``[net]`` size; both must be multiples of the network's stride.
            The heads' decode constants follow it.
        fold_batchnorm: Fold batch normalisation into the convolutions (the
            default); ``False`` keeps BatchNormalization nodes.

    Returns:
        The model. Its ``metadata_props`` hold ``fastinfer.head`` =
        ``darknet``, ``fastinfer.source`` (the cfg's file name) and
        ``fastinfer.converter`` (:data:`FORMAT_VERSION`).

    Raises:
        ModelLoadError: A missing or unreadable file, a cfg the converter
            cannot run (the message names the file, line, section and layer
            index), or weights that do not fit the cfg.
        InvalidInputError: A bad ``batch`` or ``input_size``.

    Example:
        >>> model = darknet_to_onnx("yolov3-tiny.cfg", "yolov3-tiny.weights", batch=1)  # doctest: +SKIP
        >>> [o.name for o in model.graph.output]  # doctest: +SKIP
        ['yolo_16', 'yolo_23']
    """
    batch_dim = _check_batch(batch)
    size = _check_input_size(input_size)
    started = time.perf_counter()
    cfg_path = Path(cfg)
    plan, params = read_network(cfg_path, weights, size)
    model = _Builder(plan, params, batch_dim, fold_batchnorm).build()
    if out is not None:
        _save_atomic(model, Path(out))
    log.info("converted Darknet model '%s' to ONNX at %dx%d in %.2f s", cfg_path, plan.width, plan.height,
             time.perf_counter() - started)
    return model


def read_network(cfg: PathLike, weights: PathLike,
                 input_size: Optional[tuple[int, int]] = None) -> tuple[_Plan, np.ndarray]:
    """The checked plan (layers with their options and shapes) and the weights of a Darknet model.

    What the ONNX builder here and the torch module (``fastinfer.torch.darknet``)
    both build from, so the two read a cfg the same way.
    """
    cfg_path, weights_path = Path(cfg), Path(weights)
    plan = _plan(cfg_path, _check_input_size(input_size))
    params = _core.darknet_weights(os.fspath(cfg_path), os.fspath(weights_path))
    if params.size != plan.parameter_count:  # the file changed between the two reads
        raise ModelLoadError(f"Darknet weights '{weights_path}': read {params.size} of {plan.parameter_count} "
                             "parameters")
    return plan, params


def cached_onnx(cfg: PathLike, weights: PathLike, *, input_size: Optional[tuple[int, int]] = None,
                cache_dir: Optional[PathLike] = None) -> Path:
    """The ONNX conversion of a Darknet model, converted once and cached.

    The file is ``<home>/onnx/<key>.onnx`` (``<home>`` as in
    :func:`fastinfer.runtime.cache.home`), ``<key>`` the SHA-256 of the cfg
    bytes, the weights bytes, the input size and :data:`FORMAT_VERSION`. It
    has a dynamic batch dimension. It is written by :mod:`fastinfer.runtime.cache`: to
    a partial file renamed into place (concurrent processes never see a
    partial file), with its SHA-256 recorded beside it; a cached file that no
    longer matches that hash (or has none) is converted again, with a
    warning.

    Args:
        cfg: The Darknet ``.cfg``.
        weights: Its ``.weights``.
        input_size: ``(width, height)``; default the cfg's ``[net]`` size.
        cache_dir: Cache home; default ``$FASTINFER_HOME``, else
            ``~/.cache/fastinfer``.

    Returns:
        The path of the cached ``.onnx`` file.

    Raises:
        ModelLoadError: As :func:`darknet_to_onnx`, or the cache folder
            cannot be written.
        InvalidInputError: A bad ``input_size``.
    """
    size = _check_input_size(input_size)
    cfg_path, weights_path = Path(cfg), Path(weights)
    if size is None:
        info = _core.darknet_cfg_info(os.fspath(cfg_path))
        size = (info["width"], info["height"])
    key = cache.Key(f"fastinfer darknet->onnx {FORMAT_VERSION} opset {OPSET}")
    key.file(cfg_path, "Darknet cfg").file(weights_path, "Darknet weights").text(f"input {size[0]}x{size[1]}")
    return cache.cached("onnx", key.hexdigest(), ".onnx",
                        lambda tmp: darknet_to_onnx(cfg_path, weights_path, tmp, input_size=size),
                        cache_dir=cache_dir, what="ONNX model")


# --------------------------------------------------------------------------
# Argument checks and files
# --------------------------------------------------------------------------


def _check_batch(batch: Union[str, int]) -> Union[str, int]:
    if batch == "dynamic":
        return "batch"
    if isinstance(batch, (int, np.integer)) and not isinstance(batch, bool) and batch >= 1:
        return int(batch)
    raise InvalidInputError(f"batch must be 'dynamic' or an int >= 1, got {batch!r}")


def _check_input_size(size: Optional[tuple[int, int]]) -> Optional[tuple[int, int]]:
    if size is None:
        return None
    try:
        width, height = size
    except (TypeError, ValueError):
        raise InvalidInputError(f"input_size must be (width, height), got {size!r}") from None
    ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (width, height))
    if not ok:
        raise InvalidInputError(f"input_size must be two positive ints (width, height), got {size!r}")
    return int(width), int(height)


def _save_atomic(model: onnx.ModelProto, path: Path) -> None:
    """Writes ``model`` to a temporary file beside ``path``, then renames it onto ``path``."""
    with cache.atomic_file(path, "ONNX model") as handle:
        handle.write(model.SerializeToString())


# --------------------------------------------------------------------------
# The plan: each layer's parameters and output shape, from the core's reader
# --------------------------------------------------------------------------

#: Section types the converter builds; the core's reader accepts a few more
#: (``connected``, ``reorg``, ``avgpool``, ``softmax``) that OpenCV runs.
_BUILDS = ("convolutional", "maxpool", "upsample", "route", "shortcut", "dropout", "yolo", "region")


@dataclass
class _Layer:
    """One layer as the core's reader returns it, with the parameters the graph needs."""

    type: str
    index: int
    line: int
    options: dict[str, str]
    lines: dict[str, int]
    channels: int
    height: int
    width: int
    params: dict = field(default_factory=dict)


@dataclass
class _Plan:
    path: Path
    width: int
    height: int
    channels: int
    layers: list[_Layer]
    parameter_count: int


def _error(path: Path, layer: _Layer, what: str, key: Optional[str] = None) -> ModelLoadError:
    """A ModelLoadError in the core reader's form: ``<path> line <n>: [<type>] (layer <i>) <what>``."""
    line = layer.lines.get(key, layer.line) if key else layer.line
    return ModelLoadError(f"{path} line {line}: [{layer.type}] (layer {layer.index}) {what}")


def _int(layer: _Layer, key: str, default: int) -> int:
    return int(layer.options.get(key, default))  # the core checked it is an int


def _float(layer: _Layer, key: str, default: float) -> float:
    return float(layer.options.get(key, default))  # the core checked it is finite


def _numbers(layer: _Layer, key: str, kind: type) -> list:
    return [kind(v) for v in layer.options[key].split(",") if v]


def _layers(path: Path, info: dict) -> list[_Layer]:
    return [_Layer(x["type"], x["index"], x["line"], x["options"], x["lines"], *x["shape"]) for x in info["layers"]]


def _params(layer: _Layer, prev_channels: int) -> dict:
    """What the graph builder needs of one layer; the core's reader has checked every value."""
    t = layer.type
    ref = lambda r: r if r >= 0 else layer.index + r  # noqa: E731 - the core checked the range
    if t == "convolutional":
        size = _int(layer, "size", 1)
        padding = size // 2 if _int(layer, "pad", 0) else _int(layer, "padding", 0)
        return dict(filters=_int(layer, "filters", 0), size=size, stride=_int(layer, "stride", 1),
                    groups=_int(layer, "groups", 1), bn=_int(layer, "batch_normalize", 0) != 0, padding=padding,
                    activation=layer.options.get("activation", "linear"), in_channels=prev_channels)
    if t == "maxpool":
        stride = _int(layer, "stride", 1)
        size = _int(layer, "size", stride)
        return dict(size=size, stride=stride, padding=_int(layer, "padding", size - 1))
    if t == "upsample":
        return dict(stride=_int(layer, "stride", 2))
    if t == "route":
        return dict(refs=[ref(r) for r in _numbers(layer, "layers", int)], groups=_int(layer, "groups", 1),
                    group_id=_int(layer, "group_id", 0))
    if t == "shortcut":
        return dict(refs=[ref(r) for r in _numbers(layer, "from", int)],
                    activation=layer.options.get("activation", "linear"))
    if t == "yolo":
        anchors = _numbers(layer, "anchors", float)
        num = _int(layer, "num", len(anchors) // 2)
        mask = _numbers(layer, "mask", int) if "mask" in layer.options else list(range(num))
        return dict(classes=_int(layer, "classes", 0), anchors=[(anchors[2 * m], anchors[2 * m + 1]) for m in mask],
                    thresh=_float(layer, "thresh", _YOLO_THRESH), nms=_float(layer, "nms_threshold", _YOLO_NMS),
                    scale_x_y=_float(layer, "scale_x_y", 1.0), new_coords=_int(layer, "new_coords", 0))
    if t == "region":
        anchors = _numbers(layer, "anchors", float)
        return dict(classes=_int(layer, "classes", 0), anchors=list(zip(anchors[0::2], anchors[1::2])),
                    thresh=_float(layer, "thresh", _REGION_THRESH), nms=_REGION_NMS,
                    classfix=_int(layer, "classfix", 0))
    return {}


def _plan(path: Path, size: Optional[tuple[int, int]]) -> _Plan:
    """Reads the cfg with the core (its checks, shapes and parameter count), then what only the converter refuses."""
    # What the converter cannot build, from the sections as written (before the core's checks of what OpenCV
    # runs: a [connected] layer is named as such, not for a key it lacks).
    regions = 0
    sections = [_Layer(x["type"], x["index"], x["line"], x["options"], x["lines"], 0, 0, 0)
                for x in _core.darknet_cfg_sections(os.fspath(path))[1:]]
    for layer in sections:
        if layer.type not in _BUILDS:
            raise _error(path, layer, "is not supported")
        dilation = layer.options.get("dilation", "1")
        if layer.type == "convolutional" and dilation != "1" and re.fullmatch(r"[-+]?\d+", dilation):
            raise _error(path, layer, f"dilation={dilation} is not supported", "dilation")
        if layer.type == "region":
            regions += 1
            if regions > 1:
                raise _error(path, layer, "is a second [region] layer; only one is supported")
    if not any(layer.type in ("yolo", "region") for layer in sections):
        raise ModelLoadError(f"Darknet cfg '{path}' has no [yolo] or [region] layer: only detectors are converted")
    info = _core.darknet_cfg_info(os.fspath(path))
    layers = _layers(path, info)
    if size is not None and size != (info["width"], info["height"]):
        # The network's stride: how much smaller than the input its smallest layer is.
        stride = max(max(round(info["width"] / x.width), round(info["height"] / x.height)) for x in layers)
        if size[0] % stride or size[1] % stride:
            raise InvalidInputError(f"input_size {size[0]}x{size[1]} does not fit '{path.name}': width and height "
                                    f"must be multiples of its stride, {stride}")
        info = _core.darknet_cfg_info(os.fspath(path), *size)
        layers = _layers(path, info)
    channels = info["channels"]
    for layer in layers:
        layer.params = _params(layer, channels)
        channels = layer.channels
    return _Plan(path, info["width"], info["height"], info["channels"], layers, int(info["parameter_count"]))


# --------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------


class _Builder:
    def __init__(self, plan: _Plan, params: np.ndarray, batch: Union[str, int], fold_batchnorm: bool) -> None:
        self.plan, self.params, self.batch = plan, params, batch
        self.fold = fold_batchnorm
        self.offset = 0
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.names: set[str] = set()
        self.outputs: list[onnx.ValueInfoProto] = []

    # ---- helpers

    def take(self, count: int) -> np.ndarray:
        values = self.params[self.offset:self.offset + count]
        self.offset += count
        return values

    def unique(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.names:
            n += 1
            candidate = f"{name}_{n}"
        self.names.add(candidate)
        return candidate

    def const(self, name: str, value: np.ndarray) -> str:
        name = self.unique(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        out = self.unique(name)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def activation(self, x: str, kind: str, name: str) -> str:
        if kind == "linear":
            return x
        if kind == "leaky":
            return self.node("LeakyRelu", [x], name, alpha=_LEAKY_SLOPE)
        if kind == "relu":
            return self.node("Relu", [x], name)
        if kind == "logistic":
            return self.node("Sigmoid", [x], name)
        if kind == "swish":
            return self.node("Mul", [x, self.node("Sigmoid", [x], name + "_sigmoid")], name)
        # mish: x * tanh(softplus(x)) = x * n / (n + 2) with n = e^x (e^x + 2), as OpenCV computes it. ONNX has
        # Mish only from opset 18, and ONNX Runtime runs Softplus -> Tanh -> Mul about twice as slowly as these
        # vectorised element-wise ops. Capping x at 20 keeps n finite; beyond it n / (n + 2) is 1 in float32.
        e = self.node("Exp", [self.node("Min", [x, self.const(name + ".cap", np.array(20, np.float32))],
                                        name + "_capped")], name + "_exp")
        two = self.const(name + ".two", np.array(2, np.float32))
        n = self.node("Mul", [e, self.node("Add", [e, two], name + "_e2")], name + "_n")
        ratio = self.node("Div", [n, self.node("Add", [n, two], name + "_n2")], name + "_tanh")
        return self.node("Mul", [x, ratio], name)

    # ---- layers

    def convolutional(self, x: str, layer: _Layer, i: int) -> str:
        p = layer.params
        f, k = p["filters"], p["size"]
        bias = self.take(f).astype(np.float64)
        if p["bn"]:
            gamma, mean, var = (self.take(f).astype(np.float64) for _ in range(3))
        weights = self.take(f * p["in_channels"] // p["groups"] * k * k).reshape(f, -1, k, k)
        attrs = dict(kernel_shape=[k, k], strides=[p["stride"]] * 2, pads=[p["padding"]] * 4, group=p["groups"])
        if p["bn"] and self.fold:
            scale = gamma / np.sqrt(var + _BN_EPSILON)
            weights = (weights.astype(np.float64) * scale[:, None, None, None]).astype(np.float32)
            bias = bias - mean * scale
        inputs = [x, self.const(f"conv_{i}.weight", weights.astype(np.float32))]
        if not p["bn"] or self.fold:
            inputs.append(self.const(f"conv_{i}.bias", bias.astype(np.float32)))
        y = self.node("Conv", inputs, f"conv_{i}", **attrs)
        if p["bn"] and not self.fold:
            y = self.node("BatchNormalization", [
                y, self.const(f"bn_{i}.scale", gamma.astype(np.float32)),
                self.const(f"bn_{i}.bias", bias.astype(np.float32)),
                self.const(f"bn_{i}.mean", mean.astype(np.float32)),
                self.const(f"bn_{i}.var", var.astype(np.float32))], f"bn_{i}", epsilon=_BN_EPSILON)
        return self.activation(y, p["activation"], f"{p['activation']}_{i}")

    def maxpool(self, x: str, layer: _Layer, i: int) -> str:
        p = layer.params
        begin, end = p["padding"] // 2, p["padding"] - p["padding"] // 2
        return self.node("MaxPool", [x], f"pool_{i}", kernel_shape=[p["size"]] * 2, strides=[p["stride"]] * 2,
                         pads=[begin, begin, end, end])

    def upsample(self, x: str, layer: _Layer, i: int) -> str:
        s = float(layer.params["stride"])
        scales = self.const(f"upsample_{i}.scales", np.array([1, 1, s, s], np.float32))
        return self.node("Resize", [x, "", scales], f"upsample_{i}", mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor")

    def route(self, outs: list[str], layer: _Layer, i: int) -> str:
        p = layer.params
        parts = []
        for r in p["refs"]:
            x = outs[r]
            if p["groups"] > 1:
                step = self.plan.layers[r].channels // p["groups"]
                start = p["group_id"] * step
                x = self.node("Slice", [x, self.const(f"route_{i}.starts", np.array([start], np.int64)),
                                        self.const(f"route_{i}.ends", np.array([start + step], np.int64)),
                                        self.const(f"route_{i}.axes", np.array([1], np.int64))], f"slice_{i}")
            parts.append(x)
        return parts[0] if len(parts) == 1 else self.node("Concat", parts, f"concat_{i}", axis=1)

    def shortcut(self, x: str, outs: list[str], layer: _Layer, i: int) -> str:
        for r in layer.params["refs"]:
            x = self.node("Add", [x, outs[r]], f"shortcut_{i}")
        return self.activation(x, layer.params["activation"], f"{layer.params['activation']}_{i}")

    def head(self, x: str, layer: _Layer, i: int) -> str:
        """Decodes a [yolo] or [region] layer into OpenCV's rows (see the module docstring)."""
        p, region = layer.params, layer.type == "region"
        a, c, h, w = len(p["anchors"]), p["classes"], layer.height, layer.width
        name = "detection_out" if region else f"yolo_{i}"
        pre = f"{name}."
        x5 = self.node("Reshape", [x, self.const(pre + "shape_in", np.array([-1, a, 5 + c, h, w], np.int64))],
                       pre + "reshape")
        xy, wh, obj, cls = (self.unique(pre + part) for part in ("xy", "wh", "obj", "cls"))
        sizes = self.const(pre + "split", np.array([2, 2, 1, c], np.int64))
        self.nodes.append(helper.make_node("Split", [x5, sizes], [xy, wh, obj, cls], name=pre + "split", axis=2))
        anchors = np.array(p["anchors"], np.float32).reshape(1, a, 2, 1, 1)
        gx = np.broadcast_to(np.arange(w, dtype=np.float64)[None, :], (h, w))
        gy = np.broadcast_to(np.arange(h, dtype=np.float64)[:, None], (h, w))
        grid = np.stack([gx, gy])[None, None]  # (1, 1, 2, H, W)
        cells = np.array([w, h], np.float64).reshape(1, 1, 2, 1, 1)
        s = 1.0 if region else p["scale_x_y"]
        new_coords = not region and p["new_coords"] == 1
        # (x + (v - 0.5) * s + 0.5) / cells, with v the sigmoid (or, new_coords, the raw value).
        v = xy if new_coords else self.node("Sigmoid", [xy], pre + "xy_sigmoid")
        v = self.node("Mul", [v, self.const(pre + "xy_scale", (s / cells).astype(np.float32))], pre + "xy_scaled")
        xy = self.node("Add", [v, self.const(pre + "grid", ((grid + 0.5 - 0.5 * s) / cells).astype(np.float32))],
                       pre + "xy_out")
        # Anchors are in pixels of the network input ([yolo]) or in grid cells ([region]).
        norm = cells if region else np.array([self.plan.width, self.plan.height], np.float64).reshape(1, 1, 2, 1, 1)
        if new_coords:
            wh = self.node("Mul", [wh, wh], pre + "wh_square")
            anchors = anchors * 4
        else:
            wh = self.node("Exp", [wh], pre + "wh_exp")
        wh = self.node("Mul", [wh, self.const(pre + "anchors", (anchors / norm).astype(np.float32))], pre + "wh_out")
        if not new_coords:
            obj = self.node("Sigmoid", [obj], pre + "obj_sigmoid")
        if region:
            cls = self.node("Softmax", [cls], pre + "cls_softmax", axis=2)
        elif not new_coords:
            cls = self.node("Sigmoid", [cls], pre + "cls_sigmoid")
        scale = obj
        if region and p["classfix"] == -1:  # objectness below 0.5 zeroes the class scores
            half = self.const(pre + "half", np.array(0.5, np.float32))
            scale = self.node("Where", [self.node("Less", [obj, half], pre + "obj_low"),
                                        self.const(pre + "zero_obj", np.array(0, np.float32)), obj], pre + "obj_fix")
        cls = self.node("Mul", [cls, scale], pre + "cls_prob")
        keep = self.node("Greater", [cls, self.const(pre + "thresh", np.array(p["thresh"], np.float32))],
                         pre + "cls_keep")
        cls = self.node("Where", [keep, cls, self.const(pre + "zero", np.array(0, np.float32))], pre + "cls_out")
        rows = self.node("Concat", [xy, wh, obj, cls], pre + "concat", axis=2)
        rows = self.node("Transpose", [rows], pre + "transpose", perm=[0, 3, 4, 1, 2])
        shape = self.const(pre + "shape_out", np.array([-1, h * w * a, 5 + c], np.int64))
        if p["nms"] <= 0:
            out = name
            self.names.add(out)
            self.nodes.append(helper.make_node("Reshape", [rows, shape], [out], name=pre + "reshape_out"))
        else:
            out = self.nms(self.node("Reshape", [rows, shape], pre + "rows"), p, h * w * a, c, name)
        self.outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, [self.batch, h * w * a, 5 + c]))
        return out

    def nms(self, rows: str, p: dict, n: int, c: int, name: str) -> str:
        """Per-class NMS over one head's rows, keeping only the class scores that survive (OpenCV's region layer)."""
        pre = f"{name}."
        box, scores = self.unique(pre + "boxes"), self.unique(pre + "scores")
        sizes = self.const(pre + "nms_split", np.array([4, 1, c], np.int64))
        self.nodes.append(helper.make_node("Split", [rows, sizes], [box, self.unique(pre + "nms_obj"), scores],
                                           name=pre + "nms_split", axis=2))
        per_class = self.node("Transpose", [scores], pre + "scores_t", perm=[0, 2, 1])
        selected = self.node("NonMaxSuppression", [
            box, per_class, self.const(pre + "max_out", np.array([n], np.int64)),
            self.const(pre + "iou", np.array([p["nms"]], np.float32)),
            self.const(pre + "score", np.array([p["thresh"]], np.float32))], pre + "nms", center_point_box=1)
        # selected rows are (batch, class, box): scatter ones at (batch, box, class).
        where = self.node("Gather", [selected, self.const(pre + "bnc", np.array([0, 2, 1], np.int64))],
                          pre + "indices", axis=1)
        count = self.node("Slice", [self.node("Shape", [selected], pre + "selected_shape"),
                                    self.const(pre + "s0", np.array([0], np.int64)),
                                    self.const(pre + "s1", np.array([1], np.int64))], pre + "count")
        ones = self.node("ConstantOfShape", [count], pre + "ones",
                         value=numpy_helper.from_array(np.array([1], np.float32)))
        zeros = self.node("Mul", [scores, self.const(pre + "zero_mask", np.array(0, np.float32))], pre + "zeros")
        mask = self.node("ScatterND", [zeros, where, ones], pre + "mask")
        kept = self.node("Mul", [scores, mask], pre + "kept")
        head = self.node("Slice", [rows, self.const(pre + "h0", np.array([0], np.int64)),
                                   self.const(pre + "h1", np.array([5], np.int64)),
                                   self.const(pre + "h2", np.array([2], np.int64))], pre + "head")
        out = name
        self.names.add(out)
        self.nodes.append(helper.make_node("Concat", [head, kept], [out], name=pre + "concat_out", axis=2))
        return out

    # ---- the model

    def build(self) -> onnx.ModelProto:
        plan = self.plan
        self.names.add("data")
        x = "data"
        outs: list[str] = []
        for i, layer in enumerate(plan.layers):
            t = layer.type
            if t == "convolutional":
                x = self.convolutional(x, layer, i)
            elif t == "maxpool":
                x = self.maxpool(x, layer, i)
            elif t == "upsample":
                x = self.upsample(x, layer, i)
            elif t == "route":
                x = self.route(outs, layer, i)
            elif t == "shortcut":
                x = self.shortcut(x, outs, layer, i)
            elif t in ("yolo", "region"):
                self.head(x, layer, i)  # the next layer reads the head's input, as in Darknet
            outs.append(x)
        if self.offset != self.params.size:  # a bug, not a bad file: the count was checked
            raise RuntimeError(f"converter used {self.offset} of {self.params.size} parameters")
        graph = helper.make_graph(
            self.nodes, re.sub(r"\W", "_", plan.path.stem) or "darknet",
            [helper.make_tensor_value_info("data", TensorProto.FLOAT,
                                           [self.batch, plan.channels, plan.height, plan.width])],
            self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="fastinfer.convert", producer_version=str(FORMAT_VERSION))
        model.ir_version = 8  # the IR of opset 17: readable by every ONNX Runtime fastinfer supports
        model.doc_string = f"Converted from the Darknet model {plan.path.name} by fastinfer"
        helper.set_model_props(model, {"fastinfer.head": "darknet", "fastinfer.source": plan.path.name,
                                       "fastinfer.converter": str(FORMAT_VERSION)})
        return model
