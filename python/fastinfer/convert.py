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
``dropout``, ``yolo`` and ``region``. Anything that would change the maths
and is not handled (another section type, ``dilation``, ``binary``, ...) is
a :class:`~fastinfer.errors.ModelLoadError` naming the file, line, section
and layer index; keys that only matter for training are ignored.

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

_ACTIVATIONS = ("linear", "leaky", "relu", "logistic", "mish", "swish")
_SECTION_ALIASES = {"network": "net", "conv": "convolutional", "max": "maxpool", "avg": "avgpool",
                    "soft": "softmax", "conn": "connected"}

# Keys that only matter for training, accepted and ignored.
_TRAINING_KEYS = {
    "*": {"learning_rate", "stopbackward", "dontload", "dontloadscales", "dont_update", "burnin_update",
          "train_only_bn"},
    "convolutional": {"assisted_excitation"},
    "yolo": {"jitter", "ignore_thresh", "truth_thresh", "random", "iou_normalizer", "iou_loss", "iou_thresh",
             "iou_thresh_kind", "cls_normalizer", "obj_normalizer", "delta_normalizer", "uc_normalizer", "nms_kind",
             "beta_nms", "max_delta", "resize", "counters_per_class", "label_smooth_eps", "max", "focal_loss",
             "objectness_smooth", "track_history_size", "sim_thresh", "dets_for_track", "dets_for_show",
             "track_ciou_norm", "embedding_layer", "show_details"},
    "region": {"jitter", "rescore", "object_scale", "noobject_scale", "class_scale", "coord_scale", "absolute",
               "random", "bias_match", "log", "sqrt", "max", "focal_loss"},
    "dropout": {"probability", "dropblock", "dropblock_size_rel", "dropblock_size_abs"},
}


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
    cfg_path, weights_path = Path(cfg), Path(weights)
    net = _read_cfg(cfg_path)
    plan = _plan(net, size)
    params = _read_weights(weights_path, cfg_path, plan.parameter_count)
    model = _Builder(net, plan, params, batch_dim, fold_batchnorm).build()
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
    cfg_path = Path(cfg)
    plan = _plan(_read_cfg(cfg_path), _check_input_size(input_size))
    return plan, _read_weights(Path(weights), cfg_path, plan.parameter_count)


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
        net = _read_cfg(cfg_path)
        size = (net.require_int("width"), net.require_int("height"))
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


def _file_size(path: Path, label: str) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise ModelLoadError(f"cannot read Darknet {label} '{path}': {exc.strerror or exc}") from exc


def _save_atomic(model: onnx.ModelProto, path: Path) -> None:
    """Writes ``model`` to a temporary file beside ``path``, then renames it onto ``path``."""
    with cache.atomic_file(path, "ONNX model") as handle:
        handle.write(model.SerializeToString())


# --------------------------------------------------------------------------
# The cfg: sections and keys, with line numbers
# --------------------------------------------------------------------------


@dataclass
class _Section:
    """One ``[section]`` of a cfg; ``index`` is its Darknet layer index (-1 for ``[net]``)."""

    path: Path
    type: str
    line: int
    index: int
    options: dict[str, tuple[str, int]] = field(default_factory=dict)  # the first value and line of each key
    repeated: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # later values of a key
    used: set[str] = field(default_factory=set)

    def where(self, line: Optional[int] = None) -> str:
        name = f"[{self.type}]" if self.index < 0 else f"[{self.type}] (layer {self.index})"
        return f"{self.path} line {line or self.line}: {name}"

    def error(self, what: str, key: Optional[str] = None) -> ModelLoadError:
        line = self.options[key][1] if key is not None and key in self.options else None
        return ModelLoadError(f"{self.where(line)} {what}")

    def raw(self, key: str) -> Optional[str]:
        self.used.add(key)
        option = self.options.get(key)
        if option is None:
            return None
        for value, line in self.repeated.get(key, []):
            if value != option[0]:  # Darknet would take the first, OpenCV the last
                raise ModelLoadError(f"{self.where(line)} key '{key}' is given twice with different values: "
                                     f"'{option[0]}' (line {option[1]}) and '{value}'")
        return option[0]

    def get_int(self, key: str, default: int) -> int:
        value = self.raw(key)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise self.error(f"key '{key}' must be an integer, got '{value}'", key) from None

    def require_int(self, key: str) -> int:
        if key not in self.options:
            raise self.error(f"is missing the required key '{key}'")
        return self.get_int(key, 0)

    def get_float(self, key: str, default: float) -> float:
        value = self.raw(key)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise self.error(f"key '{key}' must be a number, got '{value}'", key) from None

    def get_str(self, key: str, default: str) -> str:
        value = self.raw(key)
        return default if value is None else value

    def ints(self, key: str) -> list[int]:
        return [int(v) for v in self._list(key, "integers", int)]

    def floats(self, key: str) -> list[float]:
        return [float(v) for v in self._list(key, "numbers", float)]

    def _list(self, key: str, what: str, kind: type) -> list:
        if key not in self.options:
            raise self.error(f"is missing the required key '{key}'")
        value = self.raw(key) or ""
        items = [item for item in value.split(",") if item]
        try:
            parsed = [kind(item) for item in items]
        except ValueError:
            raise self.error(f"key '{key}' must list {what}, got '{value}'", key) from None
        if not parsed:
            raise self.error(f"key '{key}' is empty", key)
        return parsed

    def expect(self, key: str, allowed: object, value: object) -> None:
        """Raises unless ``value`` (the key's value, or its default) is ``allowed``."""
        if value != allowed:
            raise self.error(f"{key}={self.options[key][0]} is not supported (only {allowed})", key)

    def check_unused(self) -> None:
        """Raises for a key the converter neither used nor knows to be training-only."""
        ignored = _TRAINING_KEYS["*"] | _TRAINING_KEYS.get(self.type, set())
        for key in self.options:
            if key not in self.used and key not in ignored:
                raise self.error(f"key '{key}' is not supported", key)


@dataclass
class _Cfg:
    path: Path
    net: _Section
    layers: list[_Section]

    def require_int(self, key: str) -> int:
        value = self.net.get_int(key, 0)
        if value <= 0:
            raise self.net.error(f"needs a positive '{key}'" + (f", got {value}" if key in self.net.options else ""))
        return value


def _read_cfg(path: Path) -> _Cfg:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read Darknet cfg '{path}': {exc.strerror or exc}") from exc
    if b"\0" in data:
        raise ModelLoadError(f"Darknet cfg '{path}' contains binary data; is it a cfg file?")
    text = data.decode("utf-8", errors="replace")
    sections: list[_Section] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = "".join(raw_line.split())  # Darknet drops every blank, inside lines too
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if line[-1] != "]":
                raise ModelLoadError(f"{path} line {number}: section header '{raw_line.strip()}' has no closing ']'")
            kind = line[1:-1].lower()
            kind = _SECTION_ALIASES.get(kind, kind)
            index = -1 if kind == "net" else sum(1 for s in sections if s.type != "net")
            sections.append(_Section(path, kind, number, index))
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise ModelLoadError(f"{path} line {number}: expected 'key=value' or '[section]', got '{raw_line.strip()}'")
        if not sections:
            raise ModelLoadError(f"{path} line {number}: '{raw_line.strip()}' comes before the first [section]")
        section = sections[-1]
        if key in section.options:
            section.repeated.setdefault(key, []).append((value, number))
        else:
            section.options[key] = (value, number)
    if not sections:
        raise ModelLoadError(f"Darknet cfg '{path}' has no sections; is it a Darknet cfg?")
    if sections[0].type != "net":
        raise ModelLoadError(f"{path} line {sections[0].line}: the first section must be [net], "
                             f"got [{sections[0].type}]")
    for section in sections[1:]:
        if section.type == "net":
            raise ModelLoadError(f"{path} line {section.line}: [net] may appear only once, as the first section")
    if len(sections) == 1:
        raise ModelLoadError(f"Darknet cfg '{path}' has a [net] section but no layers")
    return _Cfg(path, sections[0], sections[1:])


# --------------------------------------------------------------------------
# The plan: each layer's parameters and output shape
# --------------------------------------------------------------------------


@dataclass
class _Layer:
    section: _Section
    channels: int
    height: int = 0
    width: int = 0
    stride: float = 1.0  # of its output, relative to the network input
    params: dict = field(default_factory=dict)


@dataclass
class _Plan:
    width: int
    height: int
    channels: int
    layers: list[_Layer]
    parameter_count: int
    network_stride: int


def _activation(section: _Section) -> str:
    name = section.get_str("activation", "linear")
    if name not in _ACTIVATIONS:
        raise section.error(f"activation '{name}' is not supported (supported: {', '.join(_ACTIVATIONS)})",
                            "activation")
    return name


def _ref(section: _Section, ref: int, key: str) -> int:
    index = ref if ref >= 0 else section.index + ref
    if not 0 <= index < section.index:
        raise section.error(f"{key} refers to layer {ref}, which is not an earlier layer", key)
    return index


def _plan_layer(s: _Section, prev: _Layer, layers: list[_Layer]) -> tuple[_Layer, int]:
    """Parses one section; returns its layer (channels and stride, no spatial size yet) and its parameter count."""
    t = s.type
    if t == "convolutional":
        filters = s.require_int("filters")
        size = s.get_int("size", 1)
        stride = s.get_int("stride", 1)
        groups = s.get_int("groups", 1)
        bn = s.get_int("batch_normalize", 0) != 0
        pad, padding = s.get_int("pad", 0), s.get_int("padding", 0)
        padding = size // 2 if pad else padding  # Darknet: pad=1 overrides padding
        s.expect("dilation", 1, s.get_int("dilation", 1))
        for key in ("stride_x", "stride_y"):
            s.expect(key, stride, s.get_int(key, stride))
        for key in ("binary", "xnor", "flipped", "antialiasing", "deform", "sway", "rotate", "stretch",
                    "stretch_sway", "coordconv"):
            s.expect(key, 0, s.get_int(key, 0))
        if filters <= 0 or size <= 0 or stride <= 0 or groups <= 0 or padding < 0:
            raise s.error("needs positive filters, size, stride and groups")
        if prev.channels % groups or filters % groups:
            raise s.error(f"groups={groups} does not divide the {prev.channels} input channels and "
                          f"{filters} filters", "groups")
        params = dict(filters=filters, size=size, stride=stride, groups=groups, bn=bn, padding=padding,
                      activation=_activation(s), in_channels=prev.channels)
        count = filters * (4 if bn else 1) + prev.channels // groups * filters * size * size
        return _Layer(s, filters, stride=prev.stride * stride, params=params), count
    if t == "maxpool":
        stride = s.get_int("stride", 1)
        size = s.get_int("size", stride)
        padding = s.get_int("padding", size - 1)
        for key in ("stride_x", "stride_y"):
            s.expect(key, stride, s.get_int(key, stride))
        for key in ("maxpool_depth", "antialiasing"):
            s.expect(key, 0, s.get_int(key, 0))
        if size <= 0 or stride <= 0 or not 0 <= padding < 2 * size - 1:
            raise s.error(f"needs positive size and stride and 0 <= padding < 2*size-1, got size={size} "
                          f"stride={stride} padding={padding}")
        return _Layer(s, prev.channels, stride=prev.stride * stride,
                      params=dict(size=size, stride=stride, padding=padding)), 0
    if t == "upsample":
        stride = s.get_int("stride", 2)
        s.expect("scale", 1.0, s.get_float("scale", 1.0))
        if stride <= 0:
            raise s.error(f"stride={stride} is not supported (only positive strides)", "stride")
        return _Layer(s, prev.channels, stride=prev.stride / stride, params=dict(stride=stride)), 0
    if t == "route":
        refs = [_ref(s, r, "layers") for r in s.ints("layers")]
        groups = s.get_int("groups", 1)
        group_id = s.get_int("group_id", 0)
        if groups <= 0 or not 0 <= group_id < groups:
            raise s.error(f"needs groups >= 1 and 0 <= group_id < groups, got groups={groups} group_id={group_id}")
        for r in refs:
            if layers[r].channels % groups:
                raise s.error(f"groups={groups} does not divide the {layers[r].channels} channels of layer {r}",
                              "groups")
        channels = sum(layers[r].channels // groups for r in refs)
        return _Layer(s, channels, stride=layers[refs[0]].stride,
                      params=dict(refs=refs, groups=groups, group_id=group_id)), 0
    if t == "shortcut":
        refs = [_ref(s, r, "from") for r in s.ints("from")]
        s.expect("alpha", 1.0, s.get_float("alpha", 1.0))
        s.expect("beta", 1.0, s.get_float("beta", 1.0))
        s.expect("weights_type", "none", s.get_str("weights_type", "none"))
        for r in refs:
            if layers[r].channels != prev.channels:
                raise s.error(f"adds layer {r} ({layers[r].channels} channels) to {prev.channels} channels; "
                              "only equal channel counts are supported", "from")
        return _Layer(s, prev.channels, stride=prev.stride, params=dict(refs=refs, activation=_activation(s))), 0
    if t == "dropout":
        return _Layer(s, prev.channels, stride=prev.stride), 0
    if t == "yolo":
        classes = s.require_int("classes")
        anchors = s.floats("anchors")
        num = s.get_int("num", len(anchors) // 2)
        mask = s.ints("mask") if "mask" in s.options else list(range(num))
        thresh = s.get_float("thresh", _YOLO_THRESH)
        nms = s.get_float("nms_threshold", _YOLO_NMS)
        scale_x_y = s.get_float("scale_x_y", 1.0)
        new_coords = s.get_int("new_coords", 0)
        if classes <= 0 or num <= 0:
            raise s.error("needs classes > 0 and num > 0")
        if len(anchors) < 2 * num or any(not 0 <= m < num for m in mask):
            raise s.error(f"lists {len(anchors) // 2} anchors for num={num} and mask={','.join(map(str, mask))}",
                          "anchors")
        if new_coords not in (0, 1):
            raise s.error(f"new_coords={new_coords} is not supported (only 0 or 1)", "new_coords")
        if prev.channels != len(mask) * (5 + classes):
            raise s.error(f"expects {len(mask)} x (5 + {classes}) = {len(mask) * (5 + classes)} input channels, "
                          f"the layer before gives {prev.channels}")
        pairs = [(anchors[2 * m], anchors[2 * m + 1]) for m in mask]
        return _Layer(s, prev.channels, stride=prev.stride,
                      params=dict(classes=classes, anchors=pairs, thresh=thresh, nms=nms, scale_x_y=scale_x_y,
                                  new_coords=new_coords)), 0
    if t == "region":
        classes = s.require_int("classes")
        num = s.require_int("num")
        coords = s.get_int("coords", 4)
        anchors = s.floats("anchors")
        thresh = s.get_float("thresh", _REGION_THRESH)
        classfix = s.get_int("classfix", 0)
        s.expect("coords", 4, coords)
        if s.get_int("softmax", 0) != 1:
            raise s.error("without softmax=1 is not supported", "softmax")
        for key in ("tree", "map"):
            if key in s.options:
                raise s.error(f"key '{key}' is not supported", key)
        if classes <= 0 or num <= 0 or len(anchors) != 2 * num:
            raise s.error(f"needs classes > 0 and num > 0 anchor pairs, got classes={classes} num={num} and "
                          f"{len(anchors)} anchor values")
        if prev.channels != num * (5 + classes):
            raise s.error(f"expects {num} x (5 + {classes}) = {num * (5 + classes)} input channels, "
                          f"the layer before gives {prev.channels}")
        pairs = [(anchors[2 * a], anchors[2 * a + 1]) for a in range(num)]
        return _Layer(s, prev.channels, stride=prev.stride,
                      params=dict(classes=classes, anchors=pairs, thresh=thresh, nms=_REGION_NMS,
                                  classfix=classfix)), 0
    raise s.error("is not supported")


def _plan(net: _Cfg, size: Optional[tuple[int, int]]) -> _Plan:
    channels = net.net.get_int("channels", 3)
    if channels <= 0:
        raise net.net.error(f"needs a positive 'channels', got {channels}", "channels")
    if size is None:
        width, height = net.require_int("width"), net.require_int("height")
    else:
        width, height = size
    layers: list[_Layer] = []
    total = 0
    prev = _Layer(net.net, channels)
    regions = 0
    for section in net.layers:
        if section.type == "region":
            regions += 1
            if regions > 1:
                raise section.error("is a second [region] layer; only one is supported")
        layer, count = _plan_layer(section, prev, layers)
        section.check_unused()
        layers.append(layer)
        total += count
        prev = layer
    if not any(layer.section.type in ("yolo", "region") for layer in layers):
        raise ModelLoadError(f"Darknet cfg '{net.path}' has no [yolo] or [region] layer: only detectors are "
                             "converted")
    stride = max(1, int(round(max(layer.stride for layer in layers))))
    if size is not None and (width % stride or height % stride):
        raise InvalidInputError(f"input_size {width}x{height} does not fit '{net.path.name}': width and height must "
                                f"be multiples of its stride, {stride}")
    _walk_sizes(layers, width, height)
    return _Plan(width, height, channels, layers, total, stride)


def _walk_sizes(layers: list[_Layer], width: int, height: int) -> None:
    in_h, in_w = height, width
    for layer in layers:
        s, p, t = layer.section, layer.params, layer.section.type
        h, w = in_h, in_w
        if t == "convolutional":
            h = (in_h + 2 * p["padding"] - p["size"]) // p["stride"] + 1
            w = (in_w + 2 * p["padding"] - p["size"]) // p["stride"] + 1
        elif t == "maxpool":
            h = (in_h + p["padding"] - p["size"]) // p["stride"] + 1
            w = (in_w + p["padding"] - p["size"]) // p["stride"] + 1
        elif t == "upsample":
            h, w = in_h * p["stride"], in_w * p["stride"]
        elif t in ("route", "shortcut"):
            refs = [layers[r] for r in p["refs"]]
            if t == "route":
                h, w = refs[0].height, refs[0].width
            for r, ref in zip(p["refs"], refs):
                if (ref.height, ref.width) != (h, w):
                    verb = "joins" if t == "route" else "adds"
                    raise s.error(f"{verb} layers of different sizes: layer {r} is {ref.width}x{ref.height}, "
                                  f"expected {w}x{h} (is the input size a multiple of the network stride?)")
        if h <= 0 or w <= 0:
            raise s.error(f"gives an empty output ({layer.channels}x{h}x{w}) for a {width}x{height} input")
        layer.height, layer.width = h, w
        in_h, in_w = h, w


# --------------------------------------------------------------------------
# The weights
# --------------------------------------------------------------------------


def _read_weights(path: Path, cfg: Path, parameter_count: int) -> np.ndarray:
    """All parameters after the header, as float32, checked against the cfg's count."""
    size = _file_size(path, "weights")
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12:
                raise ModelLoadError(f"Darknet weights '{path}' is too short to hold a header ({size} bytes)")
            major, minor, revision = (int(v) for v in np.frombuffer(head, "<i4"))
            if major > 1000 or minor > 1000:
                raise ModelLoadError(f"Darknet weights '{path}' have header version {major}.{minor}.{revision} "
                                     "(transposed weights), which is not supported")
            header = 12 + (8 if major * 10 + minor >= 2 else 4)
            expected = header + 4 * parameter_count
            if size != expected:
                raise ModelLoadError(
                    f"Darknet weights '{path}' do not fit cfg '{cfg}': the cfg needs {parameter_count} parameters "
                    f"({expected} bytes with the {header}-byte header of version {major}.{minor}.{revision}), the "
                    f"file has {size} bytes ({'truncated' if size < expected else 'too long'})")
            handle.seek(header)
            values = np.fromfile(handle, dtype="<f4", count=parameter_count)
    except OSError as exc:
        raise ModelLoadError(f"cannot read Darknet weights '{path}': {exc.strerror or exc}") from exc
    if values.size != parameter_count:  # the file changed under us
        raise ModelLoadError(f"Darknet weights '{path}': read {values.size} of {parameter_count} parameters")
    return values.astype(np.float32, copy=False)


# --------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------


class _Builder:
    def __init__(self, net: _Cfg, plan: _Plan, params: np.ndarray, batch: Union[str, int],
                 fold_batchnorm: bool) -> None:
        self.net, self.plan, self.params, self.batch = net, plan, params, batch
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
        p, region = layer.params, layer.section.type == "region"
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
            t = layer.section.type
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
            self.nodes, re.sub(r"\W", "_", self.net.path.stem) or "darknet",
            [helper.make_tensor_value_info("data", TensorProto.FLOAT,
                                           [self.batch, plan.channels, plan.height, plan.width])],
            self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="fastinfer.convert", producer_version=str(FORMAT_VERSION))
        model.ir_version = 8  # the IR of opset 17: readable by every ONNX Runtime fastinfer supports
        model.doc_string = f"Converted from the Darknet model {self.net.path.name} by fastinfer"
        helper.set_model_props(model, {"fastinfer.head": "darknet", "fastinfer.source": self.net.path.name,
                                       "fastinfer.converter": str(FORMAT_VERSION)})
        return model
