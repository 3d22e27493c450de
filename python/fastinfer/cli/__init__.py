"""The ``fastinfer`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ..errors import FastInferError, InvalidInputError
from ..io import stream as _stream
from ..io.images import read_image, write_image
from ..io.stream import is_video_path
from ..runtime.backends import BACKENDS
from ..tasks.classify import Classifier
from ..tasks.detect import HEADS, PRECISIONS, Detector
from ..tasks.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ..tasks.segment import Segmenter
from ..tools import bench as benchmarking
from ..tools import doctor
from ..tools.export import export, load_factory, random_input
from ..tools.info import info
from . import models as zoo_command
from .progress import ProgressBar, draw_inference_time

CALIBRATION_HELP = ("INT8 calibration images: a folder or a glob such as 'frames/*.jpg' (default: the photos "
                    "that ship with fastinfer)")


def _print_json(path: str, ms: float, result: Any, files: dict[str, Path | None]) -> None:
    """One JSON line for an image: its path, time, the result's ``to_dict()`` and the files written."""
    record = {"image": str(path), "time_ms": round(ms, 2), **result.to_dict()}
    record.update({key: str(file) for key, file in files.items() if file})
    print(json.dumps(record))


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


def _video_out(out_arg: str, source: str) -> Path:
    """The annotated video's path for ``--out`` (a video file, or a folder to put NAME.mp4 in), its folder made."""
    out = Path(out_arg) if is_video_path(out_arg) else Path(out_arg) / (Path(source).stem + ".mp4")
    _make_folder(out.parent)
    if out.is_dir():
        raise InvalidInputError(f"--out '{out}' is a folder, not a video file")
    return out


def _detect(args: argparse.Namespace) -> int:
    videos = [p for p in args.images if is_video_path(p) or p.isdigit()]
    if args.out and is_video_path(args.out) and (len(videos) != 1 or len(args.images) != 1):
        raise InvalidInputError(f"--out {args.out} names a video file: give one video (or camera) to detect in, "
                                f"not {len(args.images)} inputs; for several, give --out a folder")
    # The output folder first: a bad --out fails before a model is loaded.
    out_dir = _make_folder(Path(args.out)) if args.out and not is_video_path(args.out) else None
    if args.out and is_video_path(args.out):
        _video_out(args.out, videos[0])
    detector = Detector(args.model, conf=args.conf, iou=args.iou, letterbox=args.letterbox, backend=args.backend,
                        head=args.head, precision=args.precision, input_size=args.input_size,
                        calibration=args.calibration, multi_label=args.multi_label or None)
    failures = 0
    for path in args.images:
        if path in videos:
            failures += not _detect_video(detector, path, args)
            continue
        try:
            image = read_image(path)
            start = time.perf_counter()
            dets = detector(image)
            elapsed = (time.perf_counter() - start) * 1e3
        except FastInferError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
            continue
        written = None
        if out_dir:
            written = out_dir / (Path(path).stem + ".jpg")
            write_image(written, dets.draw(image))
        if args.json:
            _print_json(path, elapsed, dets, {"annotated": written})
            continue
        print(f"{path}: {len(dets)} objects in {elapsed:.1f} ms")
        for box, score, _, label in dets:
            x1, y1, x2, y2 = (int(round(float(v))) for v in box)
            print(f"  {label:<16} {score:.2f}  ({x1}, {y1}, {x2}, {y2})")
        if written:
            print(f"  annotated image: {written}")
    return 1 if failures else 0


def _detect_video(detector: Detector, source: str, args: argparse.Namespace) -> bool:
    """Runs ``detector.stream`` over a video or camera; writes the annotated video and JSON lines if asked."""
    out = _video_out(args.out, source) if args.out else None
    try:
        stream = detector.stream(int(source) if source.isdigit() else source)
    except FastInferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    bar = ProgressBar(stream.total) if args.progress or sys.stderr.isatty() else None
    writer = None
    frames = objects = 0
    start = time.perf_counter()
    try:
        with stream:
            for index, frame, dets in stream:
                timings = dets.metadata["timings"]
                inference_ms = timings["forward_ms"] / timings["batch"]
                if out is not None:
                    if writer is None:
                        writer = _stream.VideoWriter(str(out), stream.fps or 30.0, (frame.shape[1], frame.shape[0]))
                    writer.write(draw_inference_time(dets.draw(frame), inference_ms))
                if args.json:
                    record = {"source": source, "frame": index, "time_ms": round(inference_ms, 2), **dets.to_dict()}
                    print(json.dumps(record), flush=True)
                frames += 1
                objects += len(dets)
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
        print(f"{source}: {frames} frames, {objects} objects, {fps:.1f} frames/s")
        if out is not None:
            print(f"  annotated video: {out}")
    return True


def _export(args: argparse.Namespace) -> int:
    model = load_factory(args.model)()
    report = export(model, random_input(args.shape, args.seed), args.out, dynamic_batch=args.dynamic_batch,
                    dynamic_hw=args.dynamic_hw, opset=args.opset, check=False)
    print(json.dumps(report.to_dict()) if args.json else report)
    return 0 if report.passed else 1


def _classify(args: argparse.Namespace) -> int:
    classifier = Classifier(args.model, names=args.names, input_size=args.input_size, resize=args.resize,
                            mean=args.mean, std=args.std, resample=args.resample, backend=args.backend)
    failures = 0
    for path in args.images:
        try:
            result = classifier(path, top_k=args.top_k)
        except FastInferError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
            continue
        if args.json:
            print(json.dumps({"image": str(path), **result.to_dict()}))
            continue
        label, score = result.top
        print(f"{path}: {label} ({score:.3f}) in {result.metadata['timings']['total_ms']:.1f} ms")
        for class_id, score, label in result:
            print(f"  {score:.4f}  {label} ({class_id})")
    return 1 if failures else 0


def _info(args: argparse.Namespace) -> int:
    summary = info(args.model, input_size=args.input_size)
    print(json.dumps(summary.to_dict(layers=args.layers)) if args.json else summary.summary(layers=args.layers))
    return 0


def _segment(args: argparse.Namespace) -> int:
    if not 0.0 <= args.alpha <= 1.0:
        raise InvalidInputError(f"--alpha must be in [0, 1], got {args.alpha}")
    out_dir = _make_folder(Path(args.out)) if args.out else None  # before the model: a bad --out fails at once
    segmenter = Segmenter(args.model, input_size=args.input_size, mean=args.mean, std=args.std, names=args.names,
                          letterbox=args.letterbox, backend=args.backend)
    failures = 0
    for path in args.images:
        try:
            image = read_image(path)
            result = segmenter(image)
            written = None
            if out_dir:
                written = out_dir / (Path(path).stem + ".png")
                write_image(written, result.overlay(image, args.alpha))
        except FastInferError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
            continue
        total_ms = result.metadata["timings"]["total_ms"]
        if args.json:
            _print_json(path, total_ms, result, {"overlay": written})
            continue
        areas = result.areas()
        print(f"{path}: {result.shape[1]}x{result.shape[0]}, {len(areas)} classes in {total_ms:.1f} ms")
        for area in areas:
            print(f"  {area['label']:<20} {area['fraction']:7.2%}  {area['pixels']:>10,} px")
        if written:
            print(f"  overlay: {written}")
    return 1 if failures else 0


def _bench(args: argparse.Namespace) -> int:
    result = benchmarking.benchmark(args.model, task=args.task, input_size=args.input_size, batch=args.batch,
                                    image=args.image, backend=args.backend, precision=args.precision,
                                    calibration=args.calibration,
                                    warmup=args.warmup, min_runs=args.runs, min_time=args.min_time,
                                    max_runs=max(args.runs, benchmarking.MAX_RUNS))
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
    info = doctor.report()
    print(json.dumps(info, indent=2) if args.json else doctor.format_report(info))
    return 1 if info["problems"] else 0


def _serve(args: argparse.Namespace) -> int:
    # Ray is imported here only: `import fastinfer.cli` stays free of it.
    from ..ray import serve as ray_serve

    print(f"serving {args.model} ({args.task}) at http://{args.host}:{args.port}: POST /{args.task}, GET /healthz, "
          "GET /model; Ctrl-C stops", file=sys.stderr)
    ray_serve.run(args.model, host=args.host, port=args.port, address=args.address, task=args.task,
                  num_replicas=args.replicas, max_batch_size=args.max_batch_size,
                  batch_wait_timeout_s=args.batch_wait_ms / 1e3, num_cpus=args.num_cpus)
    return 0


class _VersionAction(argparse.Action):
    """``--version``: versions, providers, CUDA and TensorRT in one line (gathered only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None):
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(doctor.version_line())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastinfer", description="Fast inference for vision models.")
    parser.add_argument("--version", action=_VersionAction, help="print the versions of fastinfer, its core, OpenCV "
                        "and ONNX Runtime, the execution providers, and whether CUDA and TensorRT were found")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more: -v fastinfer's debug messages, -vv every library's too")
    commands = parser.add_subparsers(dest="command", required=True)
    detect = commands.add_parser("detect", help="detect objects in images and videos")
    detect.add_argument("images", nargs="+", help="image files, video files (.mp4, .avi, ...) or camera indices")
    detect.add_argument("--model", default="yolov3-tiny", help="Darknet cfg, ONNX file or model zoo name "
                        "(default: yolov3-tiny)")
    detect.add_argument("--conf", type=float, default=0.25, help="confidence threshold (default: 0.25)")
    detect.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold (default: 0.45)")
    detect.add_argument("--letterbox", action="store_true", default=None,
                        help="keep the aspect ratio and pad (default: the model family's own choice)")
    detect.add_argument("--darknet-letterbox", dest="letterbox", action="store_const", const="darknet",
                        help="Darknet's own letterbox and resize, so scores equal `darknet detect`'s")
    detect.add_argument("--multi-label", action="store_true", help="report every class above --conf for a box, "
                        "as `darknet detect` does (default: the best class)")
    detect.add_argument("--input-size", type=int, nargs=2, metavar=("W", "H"), help="network input size")
    detect.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend (default: auto, "
                        "ONNX Runtime)")
    detect.add_argument("--precision", choices=PRECISIONS, default="fp32", help="fp32, or int8 (ONNX Runtime, "
                        "calibrated once and cached)")
    detect.add_argument("--calibration", metavar="DIR|GLOB", help=CALIBRATION_HELP)
    detect.add_argument("--head", choices=HEADS, help="output layout of an ONNX model (default: recognised)")
    detect.add_argument("--out", metavar="DIR", help="write annotated images (and videos, as DIR/NAME.mp4) into DIR; "
                        "for one video, a .mp4 or .avi path is the annotated video, with the inference time drawn "
                        "at the top left")
    detect.add_argument("--json", action="store_true", help="print one JSON object per image, or per video frame "
                        "(with its frame index and inference time_ms)")
    detect.add_argument("--progress", action="store_true", help="show the progress bar of a video even when stderr "
                        "is not a terminal")
    detect.set_defaults(run=_detect)
    classify = commands.add_parser("classify", help="classify images (ImageNet-style ONNX classifiers)")
    classify.add_argument("images", nargs="+", help="image files")
    classify.add_argument("--model", required=True, help="ONNX classifier with an (N, classes) output")
    classify.add_argument("--top-k", type=int, default=5, help="how many classes to print per image (default: 5)")
    classify.add_argument("--names", "--labels", dest="names",
                          help="class names file, one per line (default: ImageNet's for 1000 classes)")
    classify.add_argument("--input-size", type=int, default=224, help="centre crop fed to the model (default: 224)")
    classify.add_argument("--resize", type=int, default=256, help="shorter side before the crop (default: 256)")
    classify.add_argument("--resample", choices=("pil", "cv2"), default="pil",
                          help="resize: pil (antialiased, as torchvision on PIL images; default) or cv2 (OpenCV's "
                          "bilinear)")
    classify.add_argument("--mean", type=float, nargs=3, default=None, metavar=("R", "G", "B"),
                          help="normalisation mean in pixel/255 units (default: a zoo model's own, else ImageNet's)")
    classify.add_argument("--std", type=float, nargs=3, default=None, metavar=("R", "G", "B"),
                          help="normalisation std in pixel/255 units (default: a zoo model's own, else ImageNet's)")
    classify.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend (default: auto, "
                          "ONNX Runtime)")
    classify.add_argument("--json", action="store_true", help="print one JSON object per image")
    classify.set_defaults(run=_classify)
    exp = commands.add_parser("export", help="export a PyTorch model to ONNX and check it against torch "
                              "(needs torch: pip install fastinfer[export])")
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
    exp.add_argument("--json", action="store_true", help="print the report as JSON")
    exp.set_defaults(run=_export)
    summary = commands.add_parser("info", help="inputs, outputs, parameters, MACs and FLOPs of an ONNX model or "
                                  "Darknet cfg")
    summary.add_argument("model", help="ONNX model or Darknet cfg")
    summary.add_argument("--input-size", type=int, nargs=2, metavar=("W", "H"),
                         help="input size to count at (default: the model's; needed when it is dynamic)")
    summary.add_argument("--layers", action="store_true", help="list every layer too")
    summary.add_argument("--json", action="store_true", help="print one JSON object")
    summary.set_defaults(run=_info)
    zoo_command.add_parser(commands)
    segment = commands.add_parser("segment", help="semantic segmentation: per-class areas, colour overlays")
    segment.add_argument("images", nargs="+", help="image files")
    segment.add_argument("--model", required=True, help="ONNX model with (N, C, h, w) class scores or an "
                         "(N, h, w) class map")
    segment.add_argument("--input-size", type=int, nargs=2, metavar=("W", "H"),
                         help="network input size (default: the model's fixed size)")
    segment.add_argument("--mean", type=float, nargs="+", default=IMAGENET_MEAN, metavar="M",
                         help="normalisation mean (1 or 3 values, R G B) in pixel/255 units (default: ImageNet's)")
    segment.add_argument("--std", type=float, nargs="+", default=IMAGENET_STD, metavar="S",
                         help="normalisation std (1 or 3 values, R G B) in pixel/255 units (default: ImageNet's)")
    segment.add_argument("--names", "--labels", dest="names", help="class names file, one per line (default: the "
                         "model's metadata, else class0, class1, ...)")
    segment.add_argument("--letterbox", action="store_true", help="keep the aspect ratio and pad (default: stretch)")
    segment.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend (default: auto, "
                         "ONNX Runtime)")
    segment.add_argument("--out", metavar="DIR", help="write colour overlays (PASCAL VOC palette) into DIR as PNG")
    segment.add_argument("--alpha", type=float, default=0.5, help="overlay colour weight in [0, 1] (default: 0.5)")
    segment.add_argument("--json", action="store_true", help="print one JSON object per image")
    segment.set_defaults(run=_segment)
    validate = commands.add_parser("val", help="COCO mAP of a detector on a COCO-format dataset (needs "
                                   "pycocotools: pip install fastinfer[val])")
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
    validate.add_argument("--json", action="store_true", help="print the figures as JSON")
    validate.set_defaults(run=_val)
    check = commands.add_parser("doctor", help="versions and locations of fastinfer, its core, OpenCV and ONNX "
                                "Runtime; execution providers; whether CUDA and TensorRT were found")
    check.add_argument("--json", action="store_true", help="print the report as one JSON object")
    check.set_defaults(run=_doctor)
    bench = commands.add_parser("bench", help="time a model stage by stage: pre-processing, forward, "
                                "post-processing and end to end, in ms per image")
    bench.add_argument("model", help="Darknet cfg, ONNX file or model zoo name (classify: an ONNX classifier)")
    bench.add_argument("--task", choices=benchmarking.TASKS, default="detect", help="detect (default) or classify")
    bench.add_argument("--input-size", type=int, nargs="+", metavar="SIZE", help="network input: W H, or one value "
                       "for a square (default: the model's; classify: 224 when the model's is dynamic)")
    bench.add_argument("--batch", type=int, default=1, help="images per call (default: 1)")
    bench.add_argument("--runs", type=int, default=benchmarking.MIN_RUNS, help="minimum timed runs (default: "
                       f"{benchmarking.MIN_RUNS})")
    bench.add_argument("--min-time", type=float, default=benchmarking.MIN_TIME_S, help="minimum seconds of timed "
                       f"runs per figure (default: {benchmarking.MIN_TIME_S:g})")
    bench.add_argument("--warmup", type=int, default=benchmarking.WARMUP, help="untimed runs first (default: "
                       f"{benchmarking.WARMUP})")
    bench.add_argument("--image", help="the image to time (default: seeded noise of "
                       f"{benchmarking.SYNTHETIC_SIZE[0]}x{benchmarking.SYNTHETIC_SIZE[1]})")
    bench.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend (default: auto, "
                       "ONNX Runtime)")
    bench.add_argument("--precision", choices=PRECISIONS, default="fp32", help="fp32, or int8 (detectors on ONNX "
                       "Runtime)")
    bench.add_argument("--calibration", metavar="DIR|GLOB", help=CALIBRATION_HELP)
    bench.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    bench.set_defaults(run=_bench)
    serve = commands.add_parser("serve", help="an HTTP service on Ray Serve: POST /detect (or /classify, /segment), "
                                "GET /healthz, GET /model (needs Ray Serve: pip install fastinfer[serve])")
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


def configure_logging(verbosity: int) -> None:
    """Logging for the command line, on stderr: fastinfer's notes (INFO), its debug messages with ``-v``,
    every library's with ``-vv``; other libraries' warnings always."""
    logging.basicConfig(level=logging.DEBUG if verbosity >= 2 else logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("fastinfer").setLevel(logging.DEBUG if verbosity >= 1 else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return args.run(args)
    except FastInferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the command writes (--out on a full disk, ...): no traceback
        where = f" '{exc.filename}'" if exc.filename else ""
        print(f"error: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
