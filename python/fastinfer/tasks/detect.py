"""Object detection: YOLO-family and SSD detectors on the task base (``fastinfer.tasks.Task``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import _core, models
from .._deprecation import renamed_arguments
from ..errors import InvalidInputError, ModelLoadError
from ..formats import darknet, heads
from ..formats import onnx as onnx_format
from ..formats.ssd import DEFAULT_MAX_DET, PriorsLike, SSDConfig, SSDPriors, load_priors
from ..results.detections import Detections
from ..runtime import backends, quantization
from ..validate import (
    Size,
    check_bool,
    check_choice,
    check_file,
    check_instance,
    check_max_det,
    check_path,
    check_providers,
    check_size,
    check_threads,
    check_unit,
)
from .base import Names, Task, read_names
from .preprocessing import PRESETS, Preprocessing

log = logging.getLogger(__name__)

HEADS = heads.HEADS
PRECISIONS = ("fp32", "int8")
#: How far past [0, 1] a score may be and still count as a probability (float rounding of sigmoid/softmax).
_SCORE_SLACK = 1e-4

__all__ = ["Detector", "Preprocessing", "PRESETS", "HEADS", "PRECISIONS"]


#: The class that runs each task of the model zoo.
TASK_CLASSES = {"detect": "Detector", "classify": "Classifier", "segment": "Segmenter"}


class Detector(Task[Detections]):
    """A YOLO-family or SSD object detector.

    Args:
        model: a Darknet ``.cfg`` path (the ``.weights`` with the same stem
            beside it is used), an ONNX export of YOLOv5, YOLOv8/YOLO11 or
            YOLOX (or an ONNX model with Darknet-style rows), an SSD-style
            ONNX model (outputs ``(B, N, 4)`` box regressions and ``(B, N,
            K)`` class scores against ``N`` priors), or a model zoo name such
            as ``"yolov3-tiny"``.
        weights: the Darknet weights file, when it is not beside the cfg.
        names: class names: a ``.names`` file or a list. Default: the ONNX
            model's metadata, a ``*.names`` file beside the cfg, else the 80
            COCO names.
        input_size: network input, an int or ``(width, height)``. Default:
            the cfg's ``[net] width/height`` or the ONNX model's fixed size.
            Models with dynamic H/W run at the size asked for.
        conf: keep detections whose score is above this.
        iou: NMS overlap threshold.
        letterbox: keep the aspect ratio and pad instead of stretching. Default:
            the family's own choice (stretch for Darknet, letterbox otherwise).
            ``"darknet"``: Darknet's own letterbox, to the bit (its float
            two-pass bilinear resize, 0.5 grey; ``mode="darknet_letterbox"``),
            so scores equal ``darknet detect``'s.
        backend: ``"auto"`` (ONNX Runtime; Darknet models are converted to
            ONNX once and cached), ``"onnxruntime"``, ``"opencv"`` or
            ``"torch"`` (PyTorch on the CPU or CUDA: Darknet cfgs as torch
            modules, TorchScript files, ``torch.export`` programs (``.pt2``)
            and ``nn.Module`` objects; ``pip install 'fastinfer[torch]'``).
        head: the output layout, ``"darknet"``, ``"yolov5"``, ``"yolov8"``,
            ``"yolox"`` or ``"ssd"``; default: recognised from the model
            (``"ssd"``: two outputs ``(B, N, 4)`` and ``(B, N, K)``).
        preprocessing: how images become the input (``fastinfer.Preprocessing``);
            default: the head's preset in ``fastinfer.preprocessing.PRESETS``
            (SSD: stretch, BGR 0-255 minus the mean 104, 117, 123).
        precision: ``"fp32"`` or ``"int8"`` (static INT8 on ONNX Runtime,
            calibrated on ``calibration`` and cached; the recipe follows the
            CPU's int8 dot-product support, see ``fastinfer.quantize``).
        calibration: INT8 calibration images: a folder, a glob
            (``"frames/*.jpg"``), an image path, a BGR array, or a list of
            paths and arrays; default: the photos that ship with fastinfer
            (``calibration_images=``: deprecated).
        class_agnostic: one NMS over all classes instead of one per class.
        classes: keep only these classes (ids, or names from ``names``);
            the others are dropped before NMS and ``max_det``, so they
            neither suppress a box nor take a place. None: every class.
        multi_label: every class scoring above ``conf`` is a detection of its
            own (the same box), as Darknet's detector and YOLOv5's
            ``multi_label`` report them, then NMS per class. Default: each
            box's best class only, except for SSD models (every class, as
            SSD and torchvision do); ``False`` makes SSD single-label too.
        max_det: keep at most this many detections per image (None: all;
            200 for SSD models, SSD's usual top-k).
        threads: ONNX Runtime intra-op threads (None: its default).
        providers: ONNX Runtime execution providers, e.g. ``["CUDAExecutionProvider"]``.
        graph_optimization: ONNX Runtime graph optimisation level.
        priors: an SSD's prior boxes, ``(N, 4)`` ``cx, cy, w, h`` normalised
            to the input: an array, a ``.npy`` or text file, or a
            ``fastinfer.SSDPriors``; default: ``SSDPriors()`` (SSD300's 8732).
        ssd: how an SSD's outputs are decoded (``fastinfer.SSDConfig``);
            default: variances (0.1, 0.2), softmax, background column 0.
        device: the torch backend's device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
            On CUDA the images go to the GPU once as uint8 and the blob, the
            forward pass and the confidence filter run there.
        half: FP16 weights and activations (torch backend on CUDA).
        backend_options: any backend's own options (see
            ``fastinfer.runtime.backends.load``), e.g. ``{"device_id": 1}``,
            or the torch backend's ``{"cuda_graph": True, "compile": True}``.

    Example:
        >>> det = fastinfer.Detector("yolov3-tiny")
        >>> dets = det("dog.jpg")
        >>> annotated = dets.draw(fastinfer.read_image("dog.jpg"))
        >>> ssd = fastinfer.Detector("ssd300.onnx", priors="priors.npy", ssd=fastinfer.SSDConfig(scores="sigmoid"))
    """

    task = "detect"
    names: tuple[str, ...]

    @renamed_arguments(calibration_images="calibration")
    def __init__(self, model: str | os.PathLike[str] | Any, weights: str | os.PathLike[str] | None = None,
                 names: Names | None = None, *, input_size: Size | None = None,
                 conf: float = 0.25, iou: float = 0.45, letterbox: bool | str | None = None, backend: str = "auto",
                 head: str | None = None, preprocessing: Preprocessing | None = None, precision: str = "fp32",
                 calibration: quantization.CalibrationLike | None = None, class_agnostic: bool = False,
                 max_det: int | None = None, threads: int | None = None, providers: Sequence[str] | None = None,
                 graph_optimization: str = "all", priors: PriorsLike | None = None,
                 ssd: SSDConfig | None = None, device: str | None = None, half: bool = False,
                 backend_options: Mapping[str, Any] | None = None, multi_label: bool | None = None,
                 classes: Sequence[int | str] | None = None) -> None:
        self.conf = check_unit("conf", conf)
        if letterbox is not None and letterbox != "darknet" and not isinstance(letterbox, (bool, np.bool_)):
            raise InvalidInputError(f"letterbox must be None, True, False or 'darknet', got {letterbox!r}")
        self.multi_label = None if multi_label is None else bool(check_bool("multi_label", multi_label))
        self.iou = check_unit("iou", iou)
        # Issue 17, defects 9 and 11: every argument checked here, by the shared validators.
        self.max_det = check_max_det(max_det)
        self.class_agnostic = bool(check_bool("class_agnostic", class_agnostic))
        threads = check_threads("threads", threads)
        providers = check_providers(providers)
        if weights is not None:
            weights = check_file("weights", weights, "weights file")
        self.ssd: SSDConfig | None = None  # SSD models only: decoding and priors
        self.priors: np.ndarray | None = None
        check_choice("backend", backend, backends.BACKENDS)
        self.precision = check_choice("precision", precision, PRECISIONS)
        if head is not None:
            check_choice("head", head, HEADS)
        if precision == "int8" and backend in ("opencv", "torch"):
            hint = " (the torch backend runs FP16 on CUDA with half=True)" if backend == "torch" else ""
            raise InvalidInputError(f"precision='int8' runs on ONNX Runtime; use backend='auto' or 'onnxruntime'{hint}")
        if calibration is not None and precision != "int8":
            raise InvalidInputError("calibration= is for precision='int8' (INT8 calibration images); "
                                    f"precision is {precision!r}")
        options: dict[str, Any] = dict(threads=threads, providers=providers, graph_optimization=graph_optimization,
                                       device=device, half=half)

        self.weights_path: Path | None = None
        self._objectness_gate = False
        onnx_path: Path | None = None
        path: Path | None
        if isinstance(model, (str, os.PathLike)):
            path, zoo = self._locate(check_path("model", model))
        elif backend == "torch":
            path, zoo = None, None  # an nn.Module
        else:
            raise InvalidInputError(f"model must be a file path or a model zoo name, got {type(model).__name__} "
                                    "(torch modules run with backend='torch')")
        suffix = path.suffix.lower() if path is not None else ""
        if path is not None and suffix == ".cfg":
            if zoo is not None:
                weights = weights if weights is not None else zoo.weights
                names = names if names is not None else zoo.names
            if head not in (None, "darknet"):
                raise InvalidInputError(f"a Darknet cfg has the 'darknet' head, not head={head!r}")
            resolved = darknet.resolve(path, weights, names)
            self.head, self.names = "darknet", resolved.names
            # Issue 17, defect 9: a cfg may ask for a size no blob can be made at; checked before converting.
            self.input_size = check_size(input_size if input_size is not None else resolved.input_size,
                                         "input_size" if input_size is not None else f"the input size of '{path}'")
            self.model_path, self.weights_path = resolved.cfg, resolved.weights
            log.debug("class names from %s", resolved.names_source)
            # OpenCV's Darknet layers and the converted graph both score a
            # class as objectness x probability: rows with low objectness can
            # be skipped without reading their class scores.
            self._objectness_gate = True
            # ONNX Runtime runs Darknet models converted to ONNX (once, cached).
            if backend == "torch":  # the cfg as a torch module (fastinfer.torch.darknet), rows as the converter's
                from ..torch import darknet as darknet_module

                module = darknet_module(resolved.cfg, resolved.weights, input_size=self.input_size)
                self.load_backend(module, None, "torch", backend_options, **options)
            elif backend != "opencv":
                from .. import convert

                onnx_path = convert.cached_onnx(resolved.cfg, resolved.weights, input_size=self.input_size)
        elif path is not None and suffix == ".onnx":
            if zoo is not None:  # the zoo entry says what the file does not: its head, names and input size
                zoo_settings = models.settings(zoo.name)
                head = head if head is not None else str(zoo_settings["head"])
                zoo_names = zoo_settings["names"]
                names = names if names is not None else (list(zoo_names) if isinstance(zoo_names, tuple) else None)
                input_size = input_size if input_size is not None else zoo_settings["input_size"]  # type: ignore[assignment]
            if weights is not None:
                raise InvalidInputError(f"weights= is for Darknet models; ONNX model '{path}' holds its own")
            if backend == "torch":
                raise InvalidInputError(f"backend='torch' runs TorchScript files, torch.export programs (.pt2), "
                                        f"nn.Modules and Darknet cfgs; ONNX model '{path}' runs on 'onnxruntime' or "
                                        "'opencv'")
            description = onnx_format.describe(path)
            if not description.inputs:  # issue 17, defect 9: was an IndexError
                raise ModelLoadError(f"ONNX model '{path}' has no inputs; a detector needs one image input")
            self._objectness_gate = description.metadata.get(heads.HEAD_KEY) == "darknet"
            self.model_path, onnx_path = path, path
            # Issue 17, defect 9: the metadata's imgsz may ask for a size no blob can be made at.
            self.input_size = check_size(self._onnx_input_size(description, input_size), f"the input size of '{path}'")
            self._layout(path, description, names, head, priors, ssd)
        elif backend == "torch":  # a TorchScript file, a torch.export program or an nn.Module
            if weights is not None:
                raise InvalidInputError("weights= is for Darknet models; a torch program holds its own")
            size = input_size if input_size is not None else getattr(model, "input_size", None)
            if size is None:
                raise InvalidInputError("a torch program does not declare its input size: pass "
                                        "input_size=(width, height)")
            self.input_size = check_size(size)
            description = self.describe_torch(model if path is None else path, self.input_size, backend_options,
                                              **options)
            self.model_path = description.path
            self._layout(description.path, description, names, head, priors, ssd)
        else:
            raise ModelLoadError(f"cannot tell the format of model '{path}': expected a Darknet .cfg or an .onnx file "
                                 "(or, with backend='torch', a TorchScript or torch.export .pt2 file)")
        self.classes = self._class_ids(classes)
        if self.head != "ssd" and (priors is not None or ssd is not None):
            raise InvalidInputError(f"priors= and ssd= are for SSD models (head='ssd'); model '{self.model_path}' has "
                                    f"the '{self.head}' head")

        check_instance("preprocessing", preprocessing, Preprocessing, "fastinfer.Preprocessing")
        preset = preprocessing or PRESETS[self.head]
        if letterbox == "darknet":
            preset = preset.replace(mode="darknet_letterbox", sizing="darknet")
        elif letterbox is not None:
            preset = preset.replace(mode="letterbox" if letterbox else "stretch")
        self.preprocessing = preset

        if self.precision == "int8":
            assert onnx_path is not None  # int8 is refused on opencv above
            onnx_path = quantization.cached_int8(onnx_path, calibration, self._one_blob,
                                                 key=f"{self.preprocessing}{self.input_size}")
        if backend == "opencv":
            self.load_backend(self.model_path, self.weights_path, "opencv", backend_options, **options)
        elif backend != "torch":
            assert onnx_path is not None  # every other model has an ONNX file by now
            self.load_backend(onnx_path, None, backend, backend_options, **options)
        self.onnx_path = onnx_path

    def _layout(self, path: Path, description: onnx_format.OnnxDescription, names: Names | None, head: str | None,
                priors: PriorsLike | None, ssd: SSDConfig | None) -> None:
        """Sets the head and the class names of a described model (an ONNX file, or a torch program's outputs)."""
        out_shapes = [list(o.shape) for o in description.outputs]
        given = read_names(names)
        self.head = head or heads.detect_head(out_shapes, description.metadata,
                                              num_classes=len(given) if given else None, input_size=self.input_size)
        if self.head == "ssd":
            self.names = self._ssd_layout(path, description.outputs, priors, ssd,
                                          given or heads.names_from_metadata(description.metadata))
        else:
            self.names = tuple(given or heads.names_from_metadata(description.metadata) or
                               self._generic_names(out_shapes, self.head))
            if self.head != "darknet" and len(out_shapes[0]) in (2, 3):  # issue 17, defect 12
                self._check_class_count(out_shapes[0])

    @staticmethod
    def _locate(model: str | os.PathLike[str]) -> tuple[Path, models.ModelFiles | None]:
        """The model file, fetched from the zoo when ``model`` names a zoo entry rather than a file."""
        path = Path(model)
        if path.is_file():
            return path, None
        zoo_name = models.find(path.stem if path.suffix.lower() in (".cfg", ".weights") else path.name)
        if zoo_name is not None and models.task_of(zoo_name) != "detect":
            raise InvalidInputError(f"model zoo entry '{zoo_name}' is a {models.task_of(zoo_name)} model: use "
                                    f"fastinfer.{TASK_CLASSES[models.task_of(zoo_name)]}('{zoo_name}'), "
                                    "not fastinfer.Detector")
        zoo = models.resolve(os.fspath(model))
        if zoo is None:
            raise ModelLoadError(f"model file '{model}' does not exist and is not a model zoo name "
                                 f"(available: {', '.join(models.available())})")
        return zoo.model, zoo

    def _class_ids(self, classes: Sequence[int | str] | None) -> tuple[int, ...] | None:
        """``classes=`` as sorted class ids: ids in range, or names of ``self.names``; None for every class."""
        if classes is None:
            return None
        if isinstance(classes, (str, bytes, int)) or not isinstance(classes, Sequence) or not classes:
            raise InvalidInputError(f"classes must be a non-empty list of class ids or names, got {classes!r}")
        index = {name: i for i, name in reversed(list(enumerate(self.names)))}
        ids = set()
        for value in classes:
            if isinstance(value, str) and value in index:
                ids.add(index[value])
            elif isinstance(value, (int, np.integer)) and not isinstance(value, bool) and \
                    0 <= value < len(self.names):
                ids.add(int(value))
            else:
                shown = ", ".join(self.names[:8]) + (", ..." if len(self.names) > 8 else "")
                raise InvalidInputError(f"classes: {value!r} is neither a class id in [0, {len(self.names) - 1}] nor "
                                        f"a class name of model '{self.model_path}' ({shown})")
        return tuple(sorted(ids))

    @staticmethod
    def _generic_names(out_shapes: list[list[int | str | None]], head: str) -> list[str]:
        """``class0``, ``class1``, ... for a model that does not name its classes (COCO for Darknet rows)."""
        shape = out_shapes[0]
        channels = (shape[1] if len(shape) > 1 else None) if head == "yolov8" else (shape[-1] if shape else None)
        if not isinstance(channels, int):
            raise ModelLoadError(f"cannot tell the number of classes from output shape {out_shapes[0]}: pass names=")
        count = channels - (4 if head == "yolov8" else 5)
        return darknet.coco_names() if head == "darknet" and count == 80 else [f"class{i}" for i in range(count)]

    def _ssd_layout(self, path: Path, outputs: Sequence[onnx_format.TensorInfo], priors: PriorsLike | None,
                    config: SSDConfig | None, names: list[str] | None) -> tuple[str, ...]:
        """Sets up an SSD: its priors, decoding and outputs, checked against the model; returns the names."""
        check_instance("ssd", config, SSDConfig, "fastinfer.SSDConfig")
        self.ssd = config or SSDConfig()
        out_shapes = [list(o.shape) for o in outputs]
        layout = heads.ssd_outputs(out_shapes)
        if layout is None:
            raise ModelLoadError(f"an SSD model needs two outputs (B, N, 4) and (B, N, classes) with the same N; "
                                 f"model '{path}' has outputs of shapes {out_shapes}")
        # By name too: OpenCV does not keep the graph's order of the outputs.
        self._ssd_outputs = tuple((i, outputs[i].name) for i in layout)
        self.priors = load_priors(priors if priors is not None else SSDPriors())
        rows, columns = out_shapes[layout[0]][1], out_shapes[layout[1]][2]
        if isinstance(rows, int) and rows != len(self.priors):
            default = " (the default SSD300 priors: pass priors=)" if priors is None else ""
            raise InvalidInputError(f"SSD model '{path}' predicts {rows} boxes but there are {len(self.priors)} "
                                    f"priors{default}; they must be equal")
        if not isinstance(columns, int):
            raise ModelLoadError(f"SSD model '{path}' has a dynamic number of score columns: {out_shapes[layout[1]]}")
        classes = self.ssd.num_classes(columns)
        names = names or [f"class{i}" for i in range(classes)]
        if len(names) != classes:
            raise InvalidInputError(f"{len(names)} class names for an SSD with {classes} classes ({columns} score "
                                    f"columns, background column {self.ssd.background})")
        if self.max_det is None:
            self.max_det = DEFAULT_MAX_DET
        return tuple(names)

    @staticmethod
    def _onnx_input_size(description: onnx_format.OnnxDescription, input_size: Size | None) -> tuple[int, int]:
        """``input_size`` if given, else the model's fixed H/W, else the ``imgsz`` in its metadata."""
        if input_size is not None:
            return check_size(input_size)
        fixed = description.inputs[0].image_size() or heads.imgsz_from_metadata(description.metadata)
        if fixed is not None:
            return fixed
        raise InvalidInputError(f"ONNX model '{description.path}' has a dynamic input size "
                                f"({list(description.inputs[0].shape)}): pass input_size=(width, height)")

    def _one_blob(self, image: np.ndarray) -> np.ndarray:
        return self.preprocess([image])[0]

    def __repr__(self) -> str:
        w, h = self.input_size
        return (f"Detector(model='{self.model_path}', head='{self.head}', backend='{self.backend.name}', "
                f"precision='{self.precision}', input_size={w}x{h}, classes={len(self.names)}, conf={self.conf}, "
                f"iou={self.iou}, mode='{self.preprocessing.mode}')")

    def check_options(self, *, conf: float | None = None, iou: float | None = None) -> dict[str, Any]:
        """Per-call thresholds: ``conf`` and ``iou`` (None: the detector's own)."""
        return {"conf": self.conf if conf is None else check_unit("conf", conf),
                "iou": self.iou if iou is None else check_unit("iou", iou)}

    def metadata_extra(self) -> dict[str, Any]:
        return {"head": self.head, "precision": self.precision}

    def make_result(self, decoded: Any, metadata: dict[str, Any], transform: np.ndarray) -> Detections:
        xyxy, confidence, class_id = decoded
        return Detections(xyxy, confidence, class_id, self.names, metadata)

    #: Device tensors (the torch backend on a GPU) are filtered there; only candidates come to the host.
    device_outputs = True

    def postprocess(self, outputs: Sequence[np.ndarray], transforms: np.ndarray, *, conf: float | None = None,
                    iou: float | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Model outputs -> per image ``(xyxy, confidence, class_id)`` in original-image pixels."""
        conf, iou = self.check_options(conf=conf, iou=iou).values()
        if outputs and not isinstance(outputs[0], np.ndarray):
            # Device tensors: the confidence filter runs there, and each image's candidate rows come back for
            # the core's decoding and NMS (the same detections: a row that cannot pass adds nothing).
            from ..torch import select_candidates

            gate = self._objectness_gate and self.head == "darknet"
            per_image = select_candidates(outputs, self.head, conf, objectness_gate=gate)
            return [self.postprocess(rows, transforms[i:i + 1], conf=conf, iou=iou)[0]
                    for i, rows in enumerate(per_image)]
        if not self._scores_checked:
            self._check_scores(outputs)
        return [self._check_confidence(item) for item in self._decode(outputs, transforms, conf, iou)]

    #: Whether the scores of a first model output were found to be probabilities (``_check_scores``).
    _scores_checked = False

    def _score_views(self, outputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The parts of the outputs that the head reads as probabilities (objectness and class scores)."""
        if self.head == "ssd":
            assert self.ssd is not None  # set up with head "ssd"
            return [outputs[self._ssd_outputs[1][0]]] if self.ssd.scores == "raw" else []
        if self.head == "yolov8":
            return [outputs[0][..., 4:, :]]
        return [out[..., 4:] for out in outputs]

    def _not_probabilities(self, low: float, high: float) -> InvalidInputError:
        if self.head == "ssd":
            fix = ("; its scores look like logits: pass ssd=fastinfer.SSDConfig(scores='softmax') (or 'sigmoid') "
                   "to turn them into probabilities")
        else:
            fix = (f"; the '{self.head}' head reads probabilities (sigmoid outputs, as the family's own exports "
                   "give them): export the model with its final activation, or pass head= if the head is wrong")
        return InvalidInputError(f"model '{self.model_path}' gave scores from {low:.4g} to {high:.4g}, not "
                                 f"probabilities in [0, 1]{fix}")

    def _check_scores(self, outputs: Sequence[np.ndarray]) -> None:
        """On the first call: the objectness/class scores of the output lie in [0, 1] (logits do not).

        Checked once per detector, because a full scan costs a few milliseconds on big outputs; after that
        every returned confidence is still checked (``_check_confidence``).
        """
        views = [v for v in self._score_views(outputs) if v.size]
        if not views:
            return
        low = min(float(np.nanmin(v)) for v in views)
        high = max(float(np.nanmax(v)) for v in views)
        if low < -_SCORE_SLACK or high > 1 + _SCORE_SLACK:
            raise self._not_probabilities(low, high)
        self._scores_checked = True

    def _check_confidence(self, item: tuple[np.ndarray, np.ndarray, np.ndarray]
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """No confidence outside [0, 1] leaves the detector."""
        confidence = item[1]
        if confidence.size and (float(confidence.max()) > 1 + _SCORE_SLACK or float(confidence.min()) < 0):
            raise self._not_probabilities(float(confidence.min()), float(confidence.max()))
        return item

    def _decode(self, outputs: Sequence[np.ndarray], transforms: np.ndarray, conf: float,
                iou: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        max_det = self.max_det or 0
        classes = list(self.classes or ())
        if self.head == "ssd":
            assert self.ssd is not None and self.priors is not None  # set up with head "ssd"
            named = dict(zip(self.backend.output_names, outputs))
            loc, logits = (named.get(name, outputs[i]) for i, name in self._ssd_outputs)
            return _core.postprocess_ssd(loc, logits, self.priors, transforms, self.input_size, conf, iou,
                                         self.class_agnostic, max_det, variances=self.ssd.variances,
                                         scores=self.ssd.scores or "raw", background=self.ssd.background,
                                         multi_label=self.multi_label is not False,
                                         classes=classes)
        if self.head == "darknet":
            expected = 5 + len(self.names)
            for out in outputs:
                if out.shape[-1] != expected:
                    raise InvalidInputError(
                        f"model output of shape {out.shape} does not hold Darknet rows for {len(self.names)} "
                        f"classes (expected a last dimension of {expected})")
            return _core.postprocess_darknet(list(outputs), transforms, self.input_size, conf, iou,
                                             self.class_agnostic, max_det, objectness_gate=self._objectness_gate,
                                             multi_label=bool(self.multi_label), classes=classes)
        self._check_class_count(outputs[0])
        return _core.postprocess_head(outputs[0], transforms, self.input_size, self.head, conf, iou,
                                      self.class_agnostic, max_det, multi_label=bool(self.multi_label),
                                      classes=classes)

    def _check_class_count(self, output: np.ndarray | Sequence[int | str | None]) -> None:
        """The names fit the output's class columns: at load when the output's shape is fixed, else at each call
        (defect 12 of issue 17: a dynamic output took any number of names and labels came out wrong)."""
        shape = tuple(output.shape) if isinstance(output, np.ndarray) else tuple(output)
        if len(shape) not in (2, 3):
            return  # the core names the shape it expected
        channels = shape[-2] if self.head == "yolov8" else shape[-1]
        if not isinstance(channels, (int, np.integer)):
            return  # dynamic: checked on the first output
        classes = int(channels) - (4 if self.head == "yolov8" else 5)
        if classes != len(self.names):
            raise InvalidInputError(
                f"model '{self.model_path}' predicts {classes} classes (output shape {list(shape)}, head "
                f"'{self.head}') but {len(self.names)} class names were given; pass names= with {classes} names")
