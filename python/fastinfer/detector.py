"""Object detection: preprocess -> backend -> postprocess."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence, overload

import numpy as np

from . import _core, backends, convert, darknet, heads, models, quantization
from .detections import Detections
from .errors import InvalidInputError, ModelLoadError
from .images import ImageLike
from .stream import DetectionStream, Source
from .ssd import DEFAULT_MAX_DET, PriorsLike, SSDConfig, SSDPriors, load_priors
from .tasks import Size, check_choice, check_size, read_labels, run

log = logging.getLogger("fastinfer")

HEADS = heads.HEADS
PRECISIONS = ("fp32", "int8")


def _check_unit(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be in [0, 1], got {value}")
    return value


@dataclass(frozen=True)
class Preprocessing:
    """How images become the network input; the C++ core applies it and maps boxes back.

    Example (NudeNet's own: pad to a square at the bottom/right with black,
    then resize; BGR; 1/255)::

        fastinfer.Preprocessing(mode="pad_resize", swap_rb=False, pad_value=0, center=False)
    """

    mode: str = "stretch"  # stretch | crop | letterbox | pad_resize
    scale: float = 1.0 / 255.0
    swap_rb: bool = True
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    pad_value: float = 127.5
    center: bool = True  # letterbox: centre the image (False: top-left, padding bottom/right)
    sizing: str = "darknet"  # letterbox sizes: darknet (per-axis integer scales), floor or round (one ratio)

    def __post_init__(self) -> None:
        check_choice("preprocessing mode", self.mode, ("stretch", "crop", "letterbox", "pad_resize"))
        check_choice("preprocessing sizing", self.sizing, ("darknet", "floor", "round"))
        if len(self.mean) != 3 or len(self.std) != 3:
            raise InvalidInputError(f"preprocessing mean and std need 3 values, got {self.mean} and {self.std}")


#: Each family's own pre-processing: the classic Darknet demo (1/255, RGB,
#: stretch; letterbox pads 0.5 grey as Darknet does), Ultralytics (centred
#: letterbox with 114 grey, rounded sizes, 1/255, RGB), YOLOX (letterbox
#: with 114 at the bottom and right, truncated sizes, raw 0-255 BGR) and the
#: original SSD300 (stretch, raw 0-255 BGR minus the mean 104, 117, 123).
PRESETS = {
    "darknet": Preprocessing(),
    "yolov5": Preprocessing(mode="letterbox", pad_value=114.0, sizing="round"),
    "yolov8": Preprocessing(mode="letterbox", pad_value=114.0, sizing="round"),
    "yolox": Preprocessing(mode="letterbox", scale=1.0, swap_rb=False, pad_value=114.0, center=False,
                           sizing="floor"),
    "ssd": Preprocessing(scale=1.0, swap_rb=False, mean=(104.0, 117.0, 123.0)),
}


class Detector:
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
        backend: ``"auto"`` (ONNX Runtime; Darknet models are converted to
            ONNX once and cached), ``"onnxruntime"`` or ``"opencv"``.
        head: the output layout, ``"darknet"``, ``"yolov5"``, ``"yolov8"``,
            ``"yolox"`` or ``"ssd"``; default: recognised from the model
            (``"ssd"``: two outputs ``(B, N, 4)`` and ``(B, N, K)``).
        preprocessing: how images become the input (``fastinfer.Preprocessing``);
            default: the head's preset in ``fastinfer.detector.PRESETS``
            (SSD: stretch, BGR 0-255 minus the mean 104, 117, 123).
        precision: ``"fp32"`` or ``"int8"`` (static INT8 on ONNX Runtime,
            calibrated on ``calibration_images`` and cached).
        calibration_images: paths or arrays for INT8 calibration; default:
            Darknet's sample photos (see ``fastinfer.quantize``).
        class_agnostic: one NMS over all classes instead of one per class.
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

    Example:
        >>> det = fastinfer.Detector("yolov3-tiny")
        >>> dets = det("dog.jpg")
        >>> annotated = dets.draw(fastinfer.read_image("dog.jpg"))
        >>> ssd = fastinfer.Detector("ssd300.onnx", priors="priors.npy", ssd=fastinfer.SSDConfig(scores="sigmoid"))
    """

    def __init__(self, model: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None,
                 names: str | os.PathLike[str] | Sequence[str] | None = None, *, input_size: Size | None = None,
                 conf: float = 0.25, iou: float = 0.45, letterbox: bool | None = None, backend: str = "auto",
                 head: str | None = None, preprocessing: Preprocessing | None = None, precision: str = "fp32",
                 calibration_images: Sequence[ImageLike] | None = None, class_agnostic: bool = False,
                 max_det: int | None = None, threads: int | None = None, providers: Sequence[str] | None = None,
                 graph_optimization: str = "all", priors: PriorsLike | None = None,
                 ssd: SSDConfig | None = None) -> None:
        self.conf = _check_unit("conf", conf)
        self.iou = _check_unit("iou", iou)
        if max_det is not None and (isinstance(max_det, bool) or not isinstance(max_det, int) or max_det < 1):
            raise InvalidInputError(f"max_det must be None or >= 1, got {max_det!r}")
        self.max_det = max_det
        self.class_agnostic = bool(class_agnostic)
        self.ssd: SSDConfig | None = None  # SSD models only: decoding and priors
        self.priors: np.ndarray | None = None
        check_choice("backend", backend, backends.BACKENDS)
        self.precision = check_choice("precision", precision, PRECISIONS)
        if head is not None:
            check_choice("head", head, HEADS)
        if precision == "int8" and backend == "opencv":
            raise InvalidInputError("precision='int8' runs on ONNX Runtime; use backend='auto' or 'onnxruntime'")

        path, zoo = self._locate(model)
        if path.suffix.lower() == ".cfg":
            if zoo is not None:
                weights = weights if weights is not None else zoo.weights
                names = names if names is not None else zoo.names
            if head not in (None, "darknet"):
                raise InvalidInputError(f"a Darknet cfg has the 'darknet' head, not head={head!r}")
            resolved = darknet.resolve(path, weights, names)
            self.head, self.names = "darknet", resolved.names
            self.input_size = check_size(input_size) if input_size is not None else resolved.input_size
            self.model_path, self.weights_path = resolved.cfg, resolved.weights
            log.debug("class names from %s", resolved.names_source)
            # OpenCV's Darknet layers and the converted graph both score a
            # class as objectness x probability: rows with low objectness can
            # be skipped without reading their class scores.
            self._objectness_gate = True
            # ONNX Runtime runs Darknet models converted to ONNX (once, cached).
            onnx_path = None if backend == "opencv" else convert.cached_onnx(
                resolved.cfg, resolved.weights, input_size=self.input_size)
        elif path.suffix.lower() == ".onnx":
            if weights is not None:
                raise InvalidInputError(f"weights= is for Darknet models; ONNX model '{path}' holds its own")
            description = heads.describe_onnx(path)
            self._objectness_gate = description["metadata"].get(heads.HEAD_KEY) == "darknet"
            self.model_path, self.weights_path, onnx_path = path, None, path
            self.input_size = self._onnx_input_size(path, description, input_size)
            out_shapes = [o["shape"] for o in description["outputs"]]
            given = read_labels(names)
            self.head = head or heads.detect_head(out_shapes, description["metadata"],
                                                  num_classes=len(given) if given else None,
                                                  input_size=self.input_size)
            if self.head == "ssd":
                self.names = self._ssd_layout(path, description["outputs"], priors, ssd,
                                              given or heads.names_from_metadata(description["metadata"]))
            else:
                self.names = tuple(given or heads.names_from_metadata(description["metadata"]) or
                                   self._generic_names(out_shapes, self.head))
        else:
            raise ModelLoadError(f"cannot tell the format of model '{path}': expected a Darknet .cfg or an .onnx file")
        if self.head != "ssd" and (priors is not None or ssd is not None):
            raise InvalidInputError(f"priors= and ssd= are for SSD models (head='ssd'); model '{path}' has the "
                                    f"'{self.head}' head")

        if preprocessing is not None and not isinstance(preprocessing, Preprocessing):
            raise InvalidInputError(f"preprocessing must be a fastinfer.Preprocessing, got {type(preprocessing).__name__}")
        preset = preprocessing or PRESETS[self.head]
        if letterbox is not None:
            preset = replace(preset, mode="letterbox" if letterbox else "stretch")
        self.preprocessing = preset

        if self.precision == "int8":
            onnx_path = quantization.cached_int8(onnx_path, calibration_images, self._one_blob,
                                                 key=f"{self.preprocessing}{self.input_size}")
        if backend == "opencv":
            self.backend = backends.load(self.model_path, self.weights_path, "opencv")
        else:
            self.backend = backends.load(onnx_path, None, backend, threads=threads, providers=providers,
                                         graph_optimization=graph_optimization)
        self.onnx_path = onnx_path

    @property
    def mode(self) -> str:
        """How images are fitted to the input: ``stretch``, ``crop`` or ``letterbox``."""
        return self.preprocessing.mode

    @staticmethod
    def _locate(model: str | os.PathLike[str]) -> tuple[Path, models.ModelFiles | None]:
        """The model file, fetched from the zoo when ``model`` names a zoo entry rather than a file."""
        path = Path(model)
        if path.is_file():
            return path, None
        zoo = models.resolve(os.fspath(model))
        if zoo is None:
            raise ModelLoadError(f"model file '{model}' does not exist and is not a model zoo name "
                                 f"(available: {', '.join(models.available())})")
        return zoo.cfg, zoo

    @staticmethod
    def _generic_names(out_shapes: list[list[int | str]], head: str) -> list[str]:
        """``class0``, ``class1``, ... for a model that does not name its classes (COCO for Darknet rows)."""
        channels = out_shapes[0][1] if head == "yolov8" else out_shapes[0][-1]
        if not isinstance(channels, int):
            raise ModelLoadError(f"cannot tell the number of classes from output shape {out_shapes[0]}: pass names=")
        count = channels - (4 if head == "yolov8" else 5)
        return darknet.coco_names() if head == "darknet" and count == 80 else [f"class{i}" for i in range(count)]

    def _ssd_layout(self, path: Path, outputs: list[dict], priors: PriorsLike | None, config: SSDConfig | None,
                    names: list[str] | None) -> tuple[str, ...]:
        """Sets up an SSD: its priors, decoding and outputs, checked against the model; returns the names."""
        if config is not None and not isinstance(config, SSDConfig):
            raise InvalidInputError(f"ssd must be a fastinfer.SSDConfig, got {type(config).__name__}")
        self.ssd = config or SSDConfig()
        out_shapes = [o["shape"] for o in outputs]
        layout = heads.ssd_outputs(out_shapes)
        if layout is None:
            raise ModelLoadError(f"an SSD model needs two outputs (B, N, 4) and (B, N, classes) with the same N; "
                                 f"model '{path}' has outputs of shapes {out_shapes}")
        # By name too: OpenCV does not keep the graph's order of the outputs.
        self._ssd_outputs = tuple((i, outputs[i]["name"]) for i in layout)
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
    def _onnx_input_size(path: Path, description: dict, input_size: Size | None) -> tuple[int, int]:
        """``input_size`` if given, else the model's fixed H/W, else the ``imgsz`` in its metadata."""
        if input_size is not None:
            return check_size(input_size)
        shape = description["inputs"][0]["shape"]
        if len(shape) == 4 and isinstance(shape[2], int) and isinstance(shape[3], int):
            return shape[3], shape[2]
        imgsz = heads.imgsz_from_metadata(description["metadata"])
        if imgsz is not None:
            return imgsz
        raise InvalidInputError(f"ONNX model '{path}' has a dynamic input size ({shape}): pass input_size=(width, "
                                "height)")

    def _one_blob(self, image: np.ndarray) -> np.ndarray:
        return self.preprocess([image])[0]

    def __repr__(self) -> str:
        w, h = self.input_size
        return (f"Detector(model='{self.model_path}', head='{self.head}', backend='{self.backend.name}', "
                f"precision='{self.precision}', input_size={w}x{h}, classes={len(self.names)}, conf={self.conf}, "
                f"iou={self.iou}, mode='{self.preprocessing.mode}')")

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """BGR images -> (NCHW float32 blob, per-image transforms)."""
        p = self.preprocessing
        return _core.make_blob(list(images), self.input_size, p.mode, p.swap_rb, p.scale, list(p.mean), list(p.std),
                               p.pad_value, center=p.center, sizing=p.sizing)

    def postprocess(self, outputs: Sequence[np.ndarray], transforms: np.ndarray, *, conf: float | None = None,
                    iou: float | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Model outputs -> per image ``(xyxy, confidence, class_id)`` in original-image pixels."""
        conf = self.conf if conf is None else _check_unit("conf", conf)
        iou = self.iou if iou is None else _check_unit("iou", iou)
        max_det = self.max_det or 0
        if self.head == "ssd":
            named = dict(zip(self.backend.output_names, outputs))
            loc, logits = (named.get(name, outputs[i]) for i, name in self._ssd_outputs)
            return _core.postprocess_ssd(loc, logits, self.priors, transforms, self.input_size, conf, iou,
                                         self.class_agnostic, max_det, variances=self.ssd.variances,
                                         scores=self.ssd.scores, background=self.ssd.background)
        if self.head == "darknet":
            expected = 5 + len(self.names)
            for out in outputs:
                if out.shape[-1] != expected:
                    raise InvalidInputError(
                        f"model output of shape {out.shape} does not hold Darknet rows for {len(self.names)} "
                        f"classes (expected a last dimension of {expected})")
            return _core.postprocess_darknet(list(outputs), transforms, self.input_size, conf, iou,
                                             self.class_agnostic, max_det, objectness_gate=self._objectness_gate)
        return _core.postprocess_head(outputs[0], transforms, self.input_size, self.head, conf, iou,
                                      self.class_agnostic, max_det)

    @overload
    def __call__(self, source: ImageLike, *, conf: float | None = ..., iou: float | None = ...) -> Detections: ...

    @overload
    def __call__(self, source: Sequence[ImageLike], *, conf: float | None = ...,
                 iou: float | None = ...) -> list[Detections]: ...

    def __call__(self, source, *, conf=None, iou=None):
        """Detects objects in one image (path or BGR array) or a list of them (one batch).

        Returns:
            ``Detections`` for one image, a list of them for a list.
        """
        done = run(self, source, lambda outputs, transforms: self.postprocess(outputs, transforms, conf=conf, iou=iou))
        if done is None:
            return []
        meta = {"backend": self.backend.name, "head": self.head, "precision": self.precision,
                "input_size": list(self.input_size), "mode": self.preprocessing.mode, "timings": done.timings}
        return done.unwrap([Detections(xyxy, score, cid, self.names, dict(meta, image_size=done.image_size(i)))
                            for i, (xyxy, score, cid) in enumerate(done.result)])

    def stream(self, source: Source, *, batch_size: int = 1, workers: int | None = None) -> DetectionStream:
        """Detects objects in every frame of a video, camera, folder or list of images, as a pipeline.

        Decoding, pre-processing and inference run on their own threads (see
        ``fastinfer.stream``); results equal calling the detector on each frame
        (each batch of ``batch_size`` frames) in turn. Unreadable images in a
        folder are skipped with a ``fastinfer.StreamWarning``.

        Args:
            source: a video file, a camera index, a folder of images (sorted by
                name), or a list of image paths or BGR arrays.
            batch_size: frames per network call.
            workers: inference threads (None: 1). With several, give the
                detector ``threads=`` so that together they fit the cores.

        Returns:
            An iterator of ``(frame_index, frame, Detections)`` in frame order;
            leaving the loop early stops its threads.

        Raises:
            InvalidInputError: the video or camera cannot be opened, or a frame
                cannot be used (the message names the frame).

        Example:
            >>> det = fastinfer.Detector("yolov3-tiny")
            >>> for index, frame, dets in det.stream("street.mp4"):
            ...     print(index, len(dets))
        """
        return DetectionStream(self, source, batch_size=batch_size, workers=workers)
