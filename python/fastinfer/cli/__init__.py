"""The ``fastinfer`` command line."""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import models as model_zoo  # not `models`: that name is the `fastinfer models` command's module
from ..errors import FastInferError, InvalidInputError
from ..io import stream as _stream
from ..io.images import read_image, write_image
from ..io.stream import StreamWarning, is_video_path
from ..runtime.backends import BACKENDS
from ..tasks.base import Task
from ..tasks.classify import Classifier
from ..tasks.detect import HEADS, PRECISIONS, Detector
from ..tasks.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ..tasks.segment import Segmenter
from ..tools import bench as benchmarking
from ..tools import doctor
from ..tools.info import info
from ..validate import check_optional_int
from . import models as zoo_command
from .progress import ProgressBar, draw_inference_time

CALIBRATION_HELP = ("INT8 calibration images: a folder or a glob such as 'frames/*.jpg' (default: the photos "
                    "that ship with fastinfer)")

log = logging.getLogger(__name__)

#: Exit status of a command whose output pipe was closed (``fastinfer info ... | head -1``), as for a Unix tool
#: ended by SIGPIPE.
EXIT_BROKEN_PIPE = 141


def plural(count: int, noun: str) -> str:
    """``"1 object"``, ``"2 objects"``, ``"0 objects"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Input:
    """One source named on the command line: an ``image``, ``video``, ``camera``, ``folder`` or ``glob``."""

    kind: str
    text: str

    @property
    def many(self) -> bool:
        """A folder or pattern: its images are streamed, each one a result of its own."""
        return self.kind in ("folder", "glob")

    @property
    def frames(self) -> bool:
        return self.kind in ("video", "camera")


def _inputs(sources: Sequence[str]) -> list[_Input]:
    """What each source is: a camera index, a video (by suffix), a folder, a glob pattern (when no such file
    exists), else an image file."""
    found = []
    for text in sources:
        path = Path(text)
        if text.isdigit() and not path.exists():
            found.append(_Input("camera", text))
        elif is_video_path(text):
            found.append(_Input("video", text))
        elif path.is_dir():
            found.append(_Input("folder", text))
        elif not path.exists() and glob.has_magic(text):
            found.append(_Input("glob", text))
        else:
            found.append(_Input("image", text))
    return found


# ---------------------------------------------------------------- outputs


def _make_folder(folder: Path, flag: str = "--out") -> Path:
    """Creates ``folder`` (and its parents) for output, or an ``InvalidInputError`` naming ``flag`` (defect 7 of
    issue 17: an existing file, ``file/sub`` or ``/dev/full`` gave a traceback)."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"{flag} '{folder}' exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"{flag}: cannot create the folder '{folder}': {exc.strerror or exc}") from exc
    return folder


class _Outputs:
    """Where one run writes: ``DIR/NAME.EXT`` per image (the input's own extension), ``DIR/NAME.mp4`` per video,
    ``DIR/labels/NAME.txt`` per image or frame with ``--save-txt``.

    No two inputs of a run get the same file: a second ``dog.jpg`` (from another folder, or given twice) is
    written as ``dog_2.jpg``, a third as ``dog_3.jpg``.
    """

    #: Video suffixes the writer keeps (its codec follows the suffix); any other video is written as .mp4.
    VIDEO_KEPT = (".mp4", ".avi")

    def __init__(self, out: str | None, inputs: Sequence[_Input], save_txt: bool = False) -> None:
        self.video_file: Path | None = None
        self.folder: Path | None = None
        self.save_txt = save_txt
        self._taken: set[str] = set()
        if out is None:
            if save_txt:
                raise InvalidInputError("--save-txt writes into the labels/ folder of --out DIR: give --out")
            return
        if is_video_path(out):
            if len(inputs) != 1 or not inputs[0].frames:
                raise InvalidInputError(f"--out {out} names a video file: give one video (or camera) to run on, "
                                        f"not {plural(len(inputs), 'input')}; for several, give --out a folder")
            self.video_file = Path(out)
            _make_folder(self.video_file.parent)
            if self.video_file.is_dir():
                raise InvalidInputError(f"--out '{self.video_file}' is a folder, not a video file")
        else:
            self.folder = _make_folder(Path(out))
        if save_txt:
            _make_folder(self.labels_folder, "--save-txt")

    @property
    def labels_folder(self) -> Path:
        base = self.folder if self.folder is not None else self.video_file.parent  # type: ignore[union-attr]
        return base / "labels"

    def _unique(self, stem: str, suffix: str) -> str:
        name, n = stem + suffix, 2
        while name.lower() in self._taken:
            name, n = f"{stem}_{n}{suffix}", n + 1
        self._taken.add(name.lower())
        return name

    def image(self, source: str) -> Path | None:
        """The annotated copy of image ``source``: same name and extension, numbered when taken."""
        if self.folder is None:
            return None
        path = Path(source)
        return self.folder / self._unique(path.stem, path.suffix or ".jpg")

    def video(self, item: _Input) -> Path | None:
        """The annotated video of a video or camera."""
        if self.video_file is not None:
            return self.video_file
        if self.folder is None:
            return None
        path = Path(item.text)
        stem = f"camera{item.text}" if item.kind == "camera" else path.stem
        suffix = path.suffix.lower() if path.suffix.lower() in self.VIDEO_KEPT else ".mp4"
        return self.folder / self._unique(stem, suffix)

    def labels(self, written: Path | None, frame: int | None) -> Path | None:
        """The ``--save-txt`` file of an image (``labels/dog.txt``) or of a video frame (``labels/clip_12.txt``)."""
        if not self.save_txt or written is None:
            return None
        return self.labels_folder / (written.stem + ("" if frame is None else f"_{frame}") + ".txt")


def yolo_lines(xyxy: np.ndarray, confidence: np.ndarray, class_id: np.ndarray, width: int, height: int,
               save_conf: bool = False) -> list[str]:
    """Detections as lines of YOLO's txt format, as Ultralytics writes them: ``class cx cy w h`` normalised to
    the image's width and height (``%g``), and the confidence last with ``save_conf``."""
    lines = []
    for (x1, y1, x2, y2), score, cid in zip(xyxy.tolist(), confidence.tolist(), class_id.tolist()):
        row: tuple[float, ...] = (cid, (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width,
                                  (y2 - y1) / height)
        if save_conf:
            row += (score,)
        lines.append(("%g " * len(row)).rstrip() % row)
    return lines


# ---------------------------------------------------------------- one command's model and how it reports


@dataclass
class _Runner:
    """A task as a command runs it: the model, its per-call options and how a result is shown and written."""

    model: Task[Any]
    options: dict[str, Any]
    summary: Callable[[Any], str]  # the words after "PATH: " (before " in 12.3 ms")
    details: Callable[[Any], list[str]]  # the indented lines under it
    draw: Callable[[Any, np.ndarray], np.ndarray]
    file_key: str  # the JSON key of the written image
    counts: str | None = None  # what a video's summary counts (detect: "object")
    yolo_labels: bool = False  # detect: --save-txt can write labels, and the JSON has a "labels" key
    save_txt: bool = False
    save_conf: bool = False
    banner: bool = False  # draw the inference time on video frames


def _inference_ms(result: Any) -> float:
    """Pre-processing, forward pass and post-processing of one image, in ms (a batch's share)."""
    t = result.metadata["timings"]
    return (t.get("preprocess_ms", 0.0) + t["forward_ms"] + t.get("postprocess_ms", 0.0)) / max(t.get("batch", 1), 1)


def _record(source: str, frame: int | None, ms: float, result: Any, files: dict[str, Path | None]) -> str:
    """The JSON line of one image or frame; every command prints the same keys for both."""
    record = {"source": source, "frame": frame, "time_ms": round(ms, 2), **result.to_dict()}
    record.update({key: (str(file) if file is not None else None) for key, file in files.items()})
    return json.dumps(record)


def _write_labels(runner: _Runner, path: Path | None, result: Any) -> None:
    if path is None:
        return
    width, height = result.metadata["image_size"]
    lines = yolo_lines(result.xyxy, result.confidence, result.class_id, width, height, runner.save_conf)
    path.write_text("".join(line + "\n" for line in lines))


def _report(runner: _Runner, args: argparse.Namespace, outputs: _Outputs, source: str, image: np.ndarray,
            result: Any) -> None:
    """Writes and prints what one image gave."""
    ms = _inference_ms(result)
    written = outputs.image(source)
    if written is not None:
        write_image(written, runner.draw(result, image))
    labels = outputs.labels(written, None)
    _write_labels(runner, labels, result)
    if args.json:
        print(_record(source, None, ms, result, {runner.file_key: written, **_labels_key(runner, labels)}))
        return
    print(f"{source}: {runner.summary(result)} in {ms:.1f} ms")
    for line in runner.details(result):
        print("  " + line)
    if written is not None:
        print(f"  {runner.file_key} image: {written}")
    if labels is not None:
        print(f"  labels: {labels}")


def _labels_key(runner: _Runner, labels: Path | None) -> dict[str, Path | None]:
    return {"labels": labels} if runner.yolo_labels else {}


def _predict(runner: _Runner, args: argparse.Namespace, inputs: Sequence[_Input], outputs: _Outputs) -> int:
    """Runs ``runner`` on every input; returns the exit status (1 when an input failed)."""
    failures = 0
    for item in inputs:
        if item.frames:
            failures += not _run_video(runner, args, item, outputs)
        elif item.many:
            failures += not _run_many(runner, args, item, outputs)
        else:
            try:
                image = read_image(item.text)
                result = runner.model(image, **runner.options)
                _report(runner, args, outputs, item.text, image, result)
            except FastInferError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failures += 1
    return 1 if failures else 0


def _run_many(runner: _Runner, args: argparse.Namespace, item: _Input, outputs: _Outputs) -> bool:
    """A folder or glob pattern, through the task's stream (decoding, inference and output overlap)."""
    try:
        with runner.model.stream(item.text, **runner.options) as stream:
            for _, frame, result in stream:
                _report(runner, args, outputs, result.metadata["path"], frame, result)
    except FastInferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    return True


def _run_video(runner: _Runner, args: argparse.Namespace, item: _Input, outputs: _Outputs) -> bool:
    """A video or camera through the task's stream: the annotated video, JSON lines, labels if asked."""
    try:
        stream = runner.model.stream(int(item.text) if item.kind == "camera" else item.text, **runner.options)
    except FastInferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    out = outputs.video(item)
    show_bar = (args.progress or sys.stderr.isatty()) and not args.quiet
    bar = ProgressBar(stream.total) if show_bar else None
    writer = None
    frames = counted = 0
    start = time.perf_counter()
    try:
        with stream:
            for index, frame, result in stream:
                ms = _inference_ms(result)
                if out is not None:
                    if writer is None:
                        writer = _stream.VideoWriter(str(out), stream.fps or 30.0, (frame.shape[1], frame.shape[0]))
                    drawn = runner.draw(result, frame)
                    writer.write(draw_inference_time(drawn, ms) if runner.banner else drawn)
                labels = outputs.labels(out, index)
                _write_labels(runner, labels, result)
                if args.json:
                    print(_record(item.text, index, ms, result, {runner.file_key: out,
                                                                 **_labels_key(runner, labels)}), flush=True)
                frames += 1
                counted += len(result) if runner.counts else 0
                if bar:
                    bar.update()
    except FastInferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    finally:
        if writer is not None:
            writer.close()
        if bar:
            bar.close()
    if not args.json:
        fps = frames / max(time.perf_counter() - start, 1e-9)
        counts = f", {plural(counted, runner.counts)}" if runner.counts else ""
        print(f"{item.text}: {plural(frames, 'frame')}{counts}, {fps:.1f} frames/s")
        if out is not None:
            print(f"  {runner.file_key} video: {out}")
        if outputs.save_txt:
            print(f"  labels: {outputs.labels_folder}")
    return True


# ---------------------------------------------------------------- argument values shared by the commands


def model_arg(model: str) -> str:
    """A model argument as a file: itself when it exists, else the zoo entry it names (fetched, with an INFO line),
    else unchanged (the task's loader names the missing file)."""
    if Path(model).exists():
        return model
    zoo = model_zoo.resolve(model)
    path = None if zoo is None else (zoo.cfg or zoo.onnx)
    return os.fspath(path) if path is not None else model


def _names(values: Sequence[str] | None) -> str | list[str] | None:
    """``--names``: one file (one name a line), or the names themselves (``--names text``, ``--names cat dog``)."""
    if not values:
        return None
    if len(values) == 1 and Path(values[0]).is_file():
        return values[0]
    for value in values:
        if os.sep in value or "/" in value or Path(value).suffix.lower() in (".names", ".txt"):
            raise InvalidInputError(f"--names: the names file '{value}' does not exist")
    return list(values)


def _classes(values: Sequence[str] | None) -> list[int | str] | None:
    """``--classes``: class ids (``0 2``) or names (``dog car``)."""
    if not values:
        return None
    return [int(v) if v.isdigit() else v for v in values]


def _torch_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--backend``, with ``--device`` and ``--half`` (which run on the torch backend; ``--device 0`` is
    ``cuda:0``)."""
    backend, device = args.backend, args.device
    if device is not None or args.half:
        if backend == "auto":
            backend = "torch"
        elif backend != "torch":
            raise InvalidInputError(f"--device and --half are options of the torch backend, not --backend {backend}")
    if device is not None and device.isdigit():
        device = f"cuda:{device}"
    return {"backend": backend, "device": device, "half": args.half}


class _InputSizeAction(argparse.Action):
    """``--input-size``: one value for a square, or two, W H; stored as ``(W, H)``."""

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) not in (1, 2):
            parser.error(f"argument {option_string}: takes one value (a square) or two (W H), got {len(values)}")
        setattr(namespace, self.dest, (values[0], values[0]) if len(values) == 1 else tuple(values))


# ---------------------------------------------------------------- commands


def _detect(args: argparse.Namespace) -> int:
    check_optional_int("--line-width", args.line_width)
    inputs = _inputs(args.sources)
    outputs = _Outputs(args.out, inputs, save_txt=args.save_txt)  # a bad --out fails before a model is loaded
    if args.save_conf and not args.save_txt:
        raise InvalidInputError("--save-conf adds the confidence to --save-txt's lines: give --save-txt too")
    detector = Detector(args.model, names=_names(args.names), conf=args.conf, iou=args.iou, letterbox=args.letterbox,
                        head=args.head, precision=args.precision, input_size=args.input_size, max_det=args.max_det,
                        class_agnostic=args.agnostic_nms, classes=_classes(args.classes),
                        calibration=args.calibration, multi_label=args.multi_label or None, **_torch_options(args))

    def details(dets: Any) -> list[str]:
        return [f"{label:<16} {score:.2f}  ({', '.join(str(int(round(float(v)))) for v in box)})"
                for box, score, _, label in dets]

    runner = _Runner(detector, {}, summary=lambda d: plural(len(d), "object"), details=details,
                     draw=lambda d, image: d.draw(image, line_width=args.line_width), file_key="annotated",
                     counts="object", yolo_labels=True, save_txt=args.save_txt, save_conf=args.save_conf,
                     banner=True)
    return _predict(runner, args, inputs, outputs)


def _classify(args: argparse.Namespace) -> int:
    check_optional_int("--line-width", args.line_width)
    inputs = _inputs(args.sources)
    outputs = _Outputs(args.out, inputs)
    size = {"input_size": args.input_size} if args.input_size is not None else {}
    classifier = Classifier(args.model, names=_names(args.names), resize=args.resize, mean=args.mean,
                            std=args.std, resample=args.resample, **size, **_torch_options(args))

    def summary(result: Any) -> str:
        label, score = result.top
        return f"{label} ({score:.3f})"

    runner = _Runner(classifier, {"top_k": args.top_k}, summary=summary,
                     details=lambda r: [f"{score:.4f}  {label} ({class_id})" for class_id, score, label in r],
                     draw=lambda r, image: r.draw(image, line_width=args.line_width), file_key="annotated")
    return _predict(runner, args, inputs, outputs)


def _segment(args: argparse.Namespace) -> int:
    if not 0.0 <= args.alpha <= 1.0:
        raise InvalidInputError(f"--alpha must be in [0, 1], got {args.alpha}")
    inputs = _inputs(args.sources)
    outputs = _Outputs(args.out, inputs)
    segmenter = Segmenter(args.model, input_size=args.input_size,
                          mean=IMAGENET_MEAN if args.mean is None else args.mean,
                          std=IMAGENET_STD if args.std is None else args.std,
                          names=_names(args.names), letterbox=args.letterbox, **_torch_options(args))

    def summary(result: Any) -> str:
        return f"{result.shape[1]}x{result.shape[0]}, {plural(len(result.areas()), 'class')}"

    runner = _Runner(segmenter, {}, summary=summary,
                     details=lambda r: [f"{a['label']:<20} {a['fraction']:7.2%}  {a['pixels']:>10,} px"
                                        for a in r.areas()],
                     draw=lambda r, image: r.overlay(image, args.alpha), file_key="overlay")
    return _predict(runner, args, inputs, outputs)


def _export(args: argparse.Namespace) -> int:
    from ..tools import export as exporting

    exporting._import_torch()  # a missing torch is named with its pip command before the factory imports it
    model = exporting.load_factory(args.model)()
    report = exporting.export(model, exporting.random_input(args.shape, args.seed), args.out,
                              dynamic_batch=args.dynamic_batch, dynamic_hw=args.dynamic_hw, opset=args.opset,
                              check=False)
    print(json.dumps(report.to_dict()) if args.json else report)
    return 0 if report.passed else 1


def _info(args: argparse.Namespace) -> int:
    summary = info(model_arg(args.model), input_size=args.input_size)
    print(json.dumps(summary.to_dict(layers=args.layers)) if args.json else summary.summary(layers=args.layers))
    return 0


def _bench(args: argparse.Namespace) -> int:
    result = benchmarking.benchmark(args.model, task=args.task, input_size=args.input_size,
                                    batch=args.batch, image=args.image, backend=args.backend,
                                    precision=args.precision,
                                    calibration=args.calibration, warmup=args.warmup, min_runs=args.runs,
                                    min_time=args.min_time, max_runs=max(args.runs, benchmarking.MAX_RUNS))
    print(json.dumps(result.to_dict()) if args.json else result.summary())
    return 0


def _val(args: argparse.Namespace) -> int:
    from ..tools import val as coco_eval

    configs = args.compare or ([args.config] if args.config else ["auto:fp32"])
    results = coco_eval.compare(args.model, args.data, configs, args.images, conf=args.conf, iou=args.iou,
                                max_det=args.max_det, calibration=args.calibration)
    if args.plot:
        for result in results:
            suffix = f"-{result.config.replace(':', '-')}" if len(results) > 1 else ""
            written = result.plot(Path(args.plot).with_name(Path(args.plot).stem + suffix + Path(args.plot).suffix))
            if not args.json:
                print(f"precision-recall plot: {written}")
    if args.json:
        print(json.dumps([r.to_dict() for r in results] if len(results) > 1 else results[0].to_dict()))
        return 0
    for result in results:
        print(result)
    if len(results) > 1:
        print(coco_eval.comparison_table(results))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    report = doctor.report()
    print(json.dumps(report, indent=2) if args.json else doctor.format_report(report))
    return 1 if report["problems"] else 0


def _serve(args: argparse.Namespace) -> int:
    # Ray is imported here only: `import fastinfer.cli` stays free of it.
    from ..ray import serve as ray_serve

    # A zoo name stays a name (each node fetches it into its own cache); Detector and the others take it.
    model = args.model
    print(f"serving {model} ({args.task}) at http://{args.host}:{args.port}: POST /{args.task}, GET /healthz, "
          "GET /model; Ctrl-C stops", file=sys.stderr)
    ray_serve.run(model, host=args.host, port=args.port, address=args.address, task=args.task,
                  num_replicas=args.replicas, max_batch_size=args.max_batch_size,
                  batch_wait_timeout_s=args.batch_wait_ms / 1e3, num_cpus=args.num_cpus)
    return 0


# ---------------------------------------------------------------- the parser


class _VersionAction(argparse.Action):
    """``--version``: versions, providers, CUDA and TensorRT in one line (gathered only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None):
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(doctor.version_line())
        parser.exit()


def _verbosity_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="say more on stderr: -v fastinfer's notes (which model zoo entry, conversions, caches), "
                        "-vv its debug messages and every library's")
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="on stderr, errors only: no notes, warnings or progress bar")


def _group(*adders: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """A parent parser holding options several commands share."""
    parent = argparse.ArgumentParser(add_help=False)
    for add in adders:
        add(parent)
    return parent


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of the readable summary")


def _add_input_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-size", type=int, nargs="+", action=_InputSizeAction, metavar="SIZE",
                   help="network input: one value for a square, or W H (default: the model's own)")


def _add_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend (default: auto, ONNX "
                   "Runtime)")


def _add_torch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", help="run on the torch backend on this device: cpu, cuda, cuda:N or N (cuda:N) "
                   "(pip install 'fastinfer[torch]')")
    p.add_argument("--half", action="store_true", help="FP16 weights and activations (the torch backend on CUDA)")


def _add_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image files, folders of images, glob patterns "
                   "('photos/*.jpg', quoted), video files (.mp4, .avi, ...) or camera indices")
    p.add_argument("--names", "--labels", dest="names", nargs="+", metavar="NAME", help="class names: a file, one "
                   "name a line, or the names themselves (--names text)")
    p.add_argument("--out", metavar="DIR", help="write the drawn results into DIR, each under its input's name and "
                   "extension (a second dog.jpg becomes dog_2.jpg; videos as NAME.mp4); for one video, a .mp4 or "
                   ".avi path is the video to write")
    p.add_argument("--json", action="store_true", help="print one JSON object per image or video frame: source, "
                   "frame (null for images), time_ms, the result and the files written")
    p.add_argument("--progress", action="store_true", help="show a video's progress bar even when stderr is not a "
                   "terminal")


def _add_line_width(p: argparse.ArgumentParser) -> None:
    p.add_argument("--line-width", type=int, metavar="PX", help="line width of the drawn boxes and labels in "
                   "pixels (default: scaled to the image)")


def _add_normalisation(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mean", type=float, nargs="+", metavar="M", help="normalisation mean (1 or 3 values, R G B) "
                   "in pixel/255 units (default: a zoo model's own, else ImageNet's)")
    p.add_argument("--std", type=float, nargs="+", metavar="S", help="normalisation std (1 or 3 values, R G B) "
                   "in pixel/255 units (default: a zoo model's own, else ImageNet's)")


def _add_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="fp32, or int8 (ONNX Runtime, "
                   "calibrated once and cached)")
    p.add_argument("--calibration", metavar="DIR|GLOB", help=CALIBRATION_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastinfer", description="Fast inference for vision models.")
    parser.add_argument("--version", action=_VersionAction, help="print the versions of fastinfer, its core, OpenCV "
                        "and ONNX Runtime, the execution providers, and whether CUDA and TensorRT were found")
    _verbosity_flags(parser, None)
    # Every command takes -v/-q after its name too; SUPPRESS keeps the value given before it.
    common = _group(lambda p: _verbosity_flags(p, argparse.SUPPRESS))
    json_group = _group(_add_json)
    predict = _group(_add_predict, _add_input_size, _add_backend, _add_torch)
    commands = parser.add_subparsers(dest="command", required=True)

    line_width = _group(_add_line_width)
    detect = commands.add_parser("detect", parents=[common, predict, line_width], help="detect objects in images, "
                                 "folders, videos and cameras")
    detect.add_argument("--model", default="yolov3-tiny", help="Darknet cfg, ONNX file or model zoo name "
                        "(default: yolov3-tiny)")
    detect.add_argument("--conf", type=float, default=0.25, help="confidence threshold (default: 0.25)")
    detect.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold (default: 0.45)")
    detect.add_argument("--classes", nargs="+", metavar="CLASS", help="keep only these classes, ids or names "
                        "(dropped before NMS and --max-det)")
    detect.add_argument("--max-det", type=int, help="at most this many detections per image (default: all)")
    detect.add_argument("--agnostic-nms", action="store_true", help="one NMS over all classes instead of one per "
                        "class")
    detect.add_argument("--letterbox", action="store_true", default=None,
                        help="keep the aspect ratio and pad (default: the model family's own choice)")
    detect.add_argument("--darknet-letterbox", dest="letterbox", action="store_const", const="darknet",
                        help="Darknet's own letterbox and resize, so scores equal `darknet detect`'s")
    detect.add_argument("--multi-label", action="store_true", help="report every class above --conf for a box, "
                        "as `darknet detect` does (default: the best class)")
    detect.add_argument("--head", choices=HEADS, help="output layout of an ONNX model (default: recognised)")
    _add_precision(detect)
    detect.add_argument("--save-txt", action="store_true", help="also write each image's (and frame's) detections "
                        "in YOLO's txt format, 'class cx cy w h' normalised, into DIR/labels/NAME.txt "
                        "(NAME_FRAME.txt for videos)")
    detect.add_argument("--save-conf", action="store_true", help="with --save-txt, the confidence as a sixth value")
    detect.set_defaults(run=_detect)

    classify = commands.add_parser("classify", parents=[common, predict, line_width, _group(_add_normalisation)],
                                   help="classify images (ImageNet-style classifiers)")
    classify.add_argument("--model", required=True, help="ONNX classifier with an (N, classes) output, or a model "
                          "zoo name")
    classify.add_argument("--top-k", type=int, default=5, help="how many classes to print per image (default: 5)")
    classify.add_argument("--resample", choices=("pil", "cv2"), default="pil",
                          help="resize: pil (antialiased, as torchvision on PIL images; default) or cv2 (OpenCV's "
                          "bilinear)")
    classify.add_argument("--resize", type=int, default=256, help="shorter side before the centre crop of "
                          "--input-size (default: 256; the crop's default: 224)")
    classify.set_defaults(run=_classify)

    segment = commands.add_parser("segment", parents=[common, predict, _group(_add_normalisation)],
                                  help="semantic segmentation: per-class areas, colour overlays")
    segment.add_argument("--model", required=True, help="ONNX model with (N, C, h, w) class scores or an "
                         "(N, h, w) class map, or a model zoo name")
    segment.add_argument("--letterbox", action="store_true", help="keep the aspect ratio and pad (default: stretch)")
    segment.add_argument("--alpha", type=float, default=0.5, help="overlay colour weight in [0, 1] (default: 0.5)")
    segment.set_defaults(run=_segment)

    exp = commands.add_parser("export", parents=[common, json_group], help="export a PyTorch model to ONNX and "
                              "check it against torch (needs torch: pip install fastinfer[export])")
    exp.add_argument("model", metavar="MODULE:FACTORY", help="factory returning the torch.nn.Module, from a module "
                     "(torchvision.models:resnet18) or a file (path/to/net.py:make)")
    exp.add_argument("--shape", type=int, nargs="+", required=True, help="example input shape, e.g. 1 3 224 224 "
                     "(seeded uniform [0, 1) values)")
    exp.add_argument("--out", required=True, help="the .onnx file to write")
    exp.add_argument("--dynamic-batch", action=argparse.BooleanOptionalAction, default=True,
                     help="dynamic batch axis (default: on)")
    exp.add_argument("--dynamic-hw", action="store_true", help="dynamic height and width axes")
    exp.add_argument("--opset", type=int, help="ONNX opset (default: 17)")
    exp.add_argument("--seed", type=int, default=0, help="seed of the example input (default: 0)")
    exp.set_defaults(run=_export)

    summary = commands.add_parser("info", parents=[common, json_group, _group(_add_input_size)],
                                  help="inputs, outputs, parameters, MACs and FLOPs of an ONNX model, Darknet cfg "
                                  "or model zoo entry")
    summary.add_argument("model", help="ONNX model, Darknet cfg or model zoo name")
    summary.add_argument("--layers", action="store_true", help="list every layer too")
    summary.set_defaults(run=_info)
    zoo_command.add_parser(commands)

    validate = commands.add_parser("val", parents=[common, json_group], help="COCO mAP of a detector on a "
                                   "COCO-format dataset (needs pycocotools: pip install fastinfer[val])")
    validate.add_argument("model", help="Darknet cfg, ONNX file or model zoo name")
    validate.add_argument("--data", required=True, metavar="JSON", help="COCO annotations file")
    validate.add_argument("--images", metavar="DIR", help="folder of the images it names (default: images/ beside "
                          "the JSON, else its folder)")
    validate.add_argument("--config", metavar="BACKEND[:PRECISION]", help="e.g. onnxruntime:int8 or opencv "
                          "(default: auto:fp32)")
    validate.add_argument("--compare", nargs="+", metavar="BACKEND[:PRECISION]", help="evaluate several "
                          "configurations on the same data, e.g. onnxruntime:fp32 onnxruntime:int8 opencv")
    validate.add_argument("--calibration", metavar="DIR|GLOB", help=CALIBRATION_HELP)
    validate.add_argument("--conf", type=float, default=0.001, help="confidence threshold (default: 0.001, COCO's "
                          "convention: mAP integrates over thresholds)")
    validate.add_argument("--iou", type=float, default=0.6, help="NMS IoU threshold (default: 0.6)")
    validate.add_argument("--max-det", type=int, default=100, help="detections per image (default: 100, COCO's)")
    validate.add_argument("--plot", metavar="PNG", help="write the precision-recall curves at IoU 0.5")
    validate.set_defaults(run=_val)

    check = commands.add_parser("doctor", parents=[common, json_group], help="versions and locations of fastinfer, "
                                "its core, OpenCV and ONNX Runtime; execution providers; whether CUDA and TensorRT "
                                "were found")
    check.set_defaults(run=_doctor)

    bench = commands.add_parser("bench", parents=[common, json_group, _group(_add_input_size, _add_backend)],
                                help="time a model stage by stage: pre-processing, forward, post-processing and "
                                "end to end, in ms per image")
    bench.add_argument("model", help="Darknet cfg, ONNX file or model zoo name (classify: an ONNX classifier)")
    bench.add_argument("--task", choices=benchmarking.TASKS, default="detect", help="detect (default) or classify")
    bench.add_argument("--batch", type=int, default=1, help="images per call (default: 1)")
    bench.add_argument("--runs", type=int, default=benchmarking.MIN_RUNS, help="minimum timed runs (default: "
                       f"{benchmarking.MIN_RUNS})")
    bench.add_argument("--min-time", type=float, default=benchmarking.MIN_TIME_S, help="minimum seconds of timed "
                       f"runs per figure (default: {benchmarking.MIN_TIME_S:g})")
    bench.add_argument("--warmup", type=int, default=benchmarking.WARMUP, help="untimed runs first (default: "
                       f"{benchmarking.WARMUP})")
    bench.add_argument("--image", help="the image to time (default: seeded noise of "
                       f"{benchmarking.SYNTHETIC_SIZE[0]}x{benchmarking.SYNTHETIC_SIZE[1]})")
    _add_precision(bench)
    bench.set_defaults(run=_bench)

    serve = commands.add_parser("serve", parents=[common], help="an HTTP service on Ray Serve: POST /detect (or "
                                "/classify, /segment), GET /healthz, GET /model (needs Ray Serve: pip install "
                                "fastinfer[serve])")
    serve.add_argument("model", help="model zoo name, Darknet cfg or ONNX file (present on every node)")
    serve.add_argument("--task", choices=("detect", "classify", "segment"), default="detect",
                       help="what the model does (default: detect)")
    serve.add_argument("--host", default="127.0.0.1", help="address the HTTP proxy listens on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default: 8000)")
    serve.add_argument("--replicas", type=int, default=1, help="model replicas (default: 1)")
    serve.add_argument("--num-cpus", type=float, default=1, help="CPUs per replica, and its ONNX Runtime threads "
                       "(default: 1)")
    serve.add_argument("--max-batch-size", type=int, default=8, help="most images per model call; 1 turns dynamic "
                       "batching off (default: 8)")
    serve.add_argument("--batch-wait-ms", type=float, default=10.0, help="how long a batch waits to fill "
                       "(default: 10)")
    serve.add_argument("--address", help="Ray cluster to join, host:port of its head (default: start a local Ray)")
    serve.set_defaults(run=_serve)
    return parser


# ---------------------------------------------------------------- logging, warnings and the exit status


def configure_logging(verbosity: int) -> None:
    """Logging for the command line, on stderr: -1 (``-q``) errors only; 0 warnings; 1 (``-v``) fastinfer's notes
    (INFO) too; 2 (``-vv``) fastinfer's and every library's debug messages."""
    root = logging.DEBUG if verbosity >= 2 else logging.ERROR if verbosity < 0 else logging.WARNING
    logging.basicConfig(level=root, format="%(name)s: %(message)s")
    levels = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}
    logging.getLogger("fastinfer").setLevel(levels.get(verbosity, logging.DEBUG))


class _Warnings:
    """Python warnings as one ``warning: ...`` line each (none with ``-q``); a stream's skipped file
    (``StreamWarning``) is an input that failed: ``error: ...`` and counted, even with ``-q``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.skipped = 0

    def show(self, message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        if issubclass(category, StreamWarning):
            self.skipped += 1
            print(f"error: {message}", file=sys.stderr)
        elif not self.quiet:
            print(f"warning: {message}", file=sys.stderr)


def _stdout_gone() -> None:
    """After a broken pipe: stdout goes to /dev/null, so that flushing it at exit raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture): nothing to silence
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.quiet = bool(args.quiet)
    configure_logging(-1 if args.quiet else args.verbose or 0)
    shown = _Warnings(args.quiet)
    with warnings.catch_warnings():
        warnings.showwarning = shown.show
        warnings.simplefilter("always", StreamWarning)  # every skipped file, not the first one only
        try:
            status = args.run(args)
            sys.stdout.flush()
        except BrokenPipeError:  # `fastinfer info ... | head -1`: stop quietly, as Unix tools do
            _stdout_gone()
            return EXIT_BROKEN_PIPE
        except FastInferError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except ImportError as exc:  # an optional package a command needs
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # a file the command writes (--out on a full disk, ...): no traceback
            where = f" '{exc.filename}'" if exc.filename else ""
            print(f"error: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    return 1 if shown.skipped and status == 0 else status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
