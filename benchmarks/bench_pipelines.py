"""Detection pipelines side by side: classic cv2, DetectionModel, onnxruntime + numpy, fastinfer's backends.

What it measures:
    Median wall-clock milliseconds per image (``time.perf_counter``), stage by
    stage, of YOLO detection at 416x416 on real photos, for six pipelines run
    in the same process on the same decoded BGR images (decoding a file is
    never timed):

    * ``classic``: the well-known pure-Python OpenCV Darknet demo on pip's
      cv2 4.x (``blobFromImage``, ``forward``, a Python loop over every row,
      ``NMSBoxes`` per class), as in ``bench_detect.py``;
    * ``DetectionModel``: ``cv2.dnn.DetectionModel(net).detect(...)``, the
      same work inside OpenCV (one call: end to end only);
    * ``ort-python``: what a careful user writes with the onnxruntime Python
      package: ``cv2.dnn.blobFromImage``, ``InferenceSession.run`` on the same
      converted ONNX model fastinfer runs, a vectorised numpy decode and
      ``cv2.dnn.NMSBoxesBatched``;
    * ``fastinfer/opencv``: ``Detector(cfg, backend="opencv")`` (Debian's
      OpenCV 4.6 DNN);
    * ``fastinfer/ort-fp32``: ``Detector(cfg)`` (ONNX Runtime from the C++
      core, on the model converted by ``fastinfer.convert``);
    * ``fastinfer/ort-int8``: ``Detector(cfg, precision="int8")`` (static QDQ
      INT8, calibrated on the default set).

    fastinfer's stages are timed by calling ``preprocess``, ``backend.forward``
    and ``postprocess`` one after the other; its end to end is a separate call
    of the public ``det(image)``.

Models:
    ``yolov3-tiny``: the real COCO weights from ``shared/models``.
    ``yolov3``: Darknet's own ``yolov3.cfg`` at 416x416 with seeded random
    weights (``tests/random_weights.py``: its detection heads calibrated on two
    of the photos, so there are some detections but not thousands), so its
    10647 rows per image exercise post-processing; detections are meaningless
    but identical across pipelines.

Targets (printed as ratios at the end, per model):
    fastinfer ORT FP32 end to end <= 1.05 x ONNX Runtime's forward alone (the
    ``ort-python`` forward, the same session work without any pre/post);
    fastinfer ORT FP32 end to end <= 0.8 x classic; INT8 end to end <= 0.45 x
    classic; yolov3 post-processing < 0.3 ms.

Before timing, the pipelines are checked to do the same work: fastinfer's
FP32 detections equal the ``ort-python`` pipeline's (same classes, boxes IoU
>= 0.99); the classic demo and DetectionModel, whose integer boxes can change
what NMS keeps among random-weight boxes, find as many objects of each class;
INT8 is reported, not required to match. (``bench_detect.py`` holds fastinfer
to the classic demo box for box on yolov3-tiny.)

Usage:
    .venv/bin/python benchmarks/bench_pipelines.py [--models yolov3-tiny yolov3] [--runs N] [--warmup N]
        [--images NAME ...] [--yolov3-images N] [--json FILE] [--shared DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import cv2
    import onnxruntime as ort
except ImportError as exc:  # pragma: no cover - depends on the environment
    sys.exit(f"bench_pipelines: needs pip's opencv-python-headless 4.x and onnxruntime ({exc}); `make build` "
             "installs them into .venv")

import fastinfer
from fastinfer import _core

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_detect import classic_postprocess, cpu_model, summarize, usable_cores  # noqa: E402
from random_weights import write_random_weights  # noqa: E402

SIZE = (416, 416)
CONF, IOU = 0.25, 0.45
STAGES = ("pre", "forward", "post", "e2e")
PIPELINES = ("classic", "DetectionModel", "ort-python", "fastinfer/opencv", "fastinfer/ort-fp32",
             "fastinfer/ort-int8")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


# --------------------------------------------------------------------------
# Pipelines. Each returns (kept (class_ids, scores, xyxy), stage seconds).
# --------------------------------------------------------------------------

class Classic:
    def __init__(self, cfg: Path, weights: Path) -> None:
        self.net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        self.out_names = self.net.getUnconnectedOutLayersNames()

    def __call__(self, frame):
        t0 = time.perf_counter()
        blob = cv2.dnn.blobFromImage(frame, 1 / 255, SIZE, swapRB=True, crop=False)
        t1 = time.perf_counter()
        self.net.setInput(blob)
        outs = self.net.forward(self.out_names)
        t2 = time.perf_counter()
        ids, scores, boxes = classic_postprocess(outs, frame.shape[1], frame.shape[0], CONF, IOU)
        t3 = time.perf_counter()
        return (ids, scores, boxes), (t1 - t0, t2 - t1, t3 - t2, t3 - t0)


class OpenCVDetectionModel:
    def __init__(self, cfg: Path, weights: Path) -> None:
        self.model = cv2.dnn.DetectionModel(cv2.dnn.readNetFromDarknet(str(cfg), str(weights)))
        self.model.setInputParams(scale=1 / 255, size=SIZE, swapRB=True, crop=False)

    def __call__(self, frame):
        t0 = time.perf_counter()
        ids, scores, boxes = self.model.detect(frame, confThreshold=CONF, nmsThreshold=IOU)
        t1 = time.perf_counter()
        ids = np.asarray(ids).reshape(-1).tolist()
        return (ids, np.asarray(scores).reshape(-1).tolist(), np.asarray(boxes).reshape(-1, 4).tolist()), \
            (None, None, None, t1 - t0)


class OrtPython:
    """onnxruntime's Python API on the converted model, with a vectorised numpy decode."""

    def __init__(self, onnx_path: Path) -> None:
        self.session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, frame):
        h, w = frame.shape[:2]
        t0 = time.perf_counter()
        blob = cv2.dnn.blobFromImage(frame, 1 / 255, SIZE, swapRB=True, crop=False)
        t1 = time.perf_counter()
        outs = self.session.run(None, {self.input_name: blob})
        t2 = time.perf_counter()
        rows = np.concatenate([o.reshape(-1, o.shape[-1]) for o in outs])
        scores = rows[:, 5:]
        ids = scores.argmax(1)
        best = scores[np.arange(len(rows)), ids]
        keep = best > CONF
        rows, ids, best = rows[keep], ids[keep], best[keep]
        boxes = np.stack([(rows[:, 0] - rows[:, 2] / 2) * w, (rows[:, 1] - rows[:, 3] / 2) * h,
                          rows[:, 2] * w, rows[:, 3] * h], axis=1)
        kept = np.asarray(cv2.dnn.NMSBoxesBatched(boxes.tolist(), best.tolist(), ids.tolist(), CONF, IOU),
                          dtype=np.int64).reshape(-1)
        result = (ids[kept].tolist(), best[kept].tolist(), boxes[kept].tolist())
        t3 = time.perf_counter()
        return result, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)


class FastInfer:
    def __init__(self, det: fastinfer.Detector) -> None:
        self.det = det

    def stages(self, frame):
        t0 = time.perf_counter()
        blob, transforms = self.det.preprocess([frame])
        t1 = time.perf_counter()
        outputs = self.det.backend.forward(blob)
        t2 = time.perf_counter()
        self.det.postprocess(outputs, transforms)
        t3 = time.perf_counter()
        return (t1 - t0, t2 - t1, t3 - t2)

    def __call__(self, frame):
        t0 = time.perf_counter()
        dets = self.det(frame)
        return dets, time.perf_counter() - t0


def as_classic(result) -> tuple[list[int], list[float], list[list[float]]]:
    """Any pipeline's result as the classic demo's (class ids, scores, [left, top, width, height])."""
    if isinstance(result, fastinfer.Detections):
        xyxy = result.xyxy.astype(np.float64)
        boxes = [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in xyxy.tolist()]
        return result.class_id.tolist(), result.confidence.tolist(), boxes
    return result


def same_objects(reference, result, width: int, height: int, min_iou: float) -> bool:
    """Same classes, and boxes (clipped to the image) paired one to one with IoU >= ``min_iou``."""
    def xyxy(res):
        ids, _, boxes = as_classic(res)
        b = np.array([[x, y, x + w, y + h] for x, y, w, h in boxes], np.float64).reshape(-1, 4)
        return list(ids), np.clip(b, 0, [width, height, width, height])

    (ids_a, a), (ids_b, b) = xyxy(reference), xyxy(result)
    if sorted(ids_a) != sorted(ids_b):
        return False
    used: set[int] = set()
    for i, box in enumerate(a):
        lt, rb = np.maximum(box[:2], b[:, :2]), np.minimum(box[2:], b[:, 2:])
        inter = np.clip(rb - lt, 0, None).prod(1)
        union = (box[2:] - box[:2]).prod() + (b[:, 2:] - b[:, :2]).prod(1) - inter
        iou = np.where([j not in used and ids_b[j] == ids_a[i] for j in range(len(b))], inter / union, -1)
        j = int(iou.argmax())
        if iou[j] < min_iou:
            return False
        used.add(j)
    return True


# --------------------------------------------------------------------------
# One model: build, check, time, report.
# --------------------------------------------------------------------------

def bench_model(label: str, cfg: Path, weights: Path, images: dict[str, np.ndarray], runs: int, warmup: int,
                calibration: list[Path]) -> dict:
    print(f"\n# {label}: {cfg.name} at {SIZE[0]}x{SIZE[1]}, {len(images)} photos, {runs} runs "
          f"({warmup} warm-up)")
    t = time.perf_counter()
    fp32 = fastinfer.Detector(str(cfg), weights, input_size=SIZE, conf=CONF, iou=IOU)
    build_fp32 = time.perf_counter() - t
    t = time.perf_counter()
    int8 = fastinfer.Detector(str(cfg), weights, input_size=SIZE, conf=CONF, iou=IOU, precision="int8",
                              calibration_images=calibration)
    build_int8 = time.perf_counter() - t
    print(f"fastinfer: ONNX conversion (cached) + session {build_fp32:.1f} s; INT8 quantization (cached) + session "
          f"{build_int8:.1f} s on {len(calibration)} calibration photos")
    pipelines = {
        "classic": Classic(cfg, weights),
        "DetectionModel": OpenCVDetectionModel(cfg, weights),
        "ort-python": OrtPython(fp32.onnx_path),
        "fastinfer/opencv": FastInfer(fastinfer.Detector(str(cfg), weights, input_size=SIZE, conf=CONF, iou=IOU,
                                                         backend="opencv")),
        "fastinfer/ort-fp32": FastInfer(fp32),
        "fastinfer/ort-int8": FastInfer(int8),
    }
    names = list(images)

    print("## check: the same work. Reference: ort-python (float boxes, cv2 NMS). fastinfer FP32: same classes, "
          "boxes IoU >= 0.99; classic and DetectionModel (int boxes, which can change what NMS keeps): same number "
          "of detections per class; INT8: reported")
    checks = {}
    for n in names:
        img = images[n]
        reference = pipelines["ort-python"](img)[0]
        ref_classes = sorted(as_classic(reference)[0])
        line = []
        for p in PIPELINES:
            if p == "ort-python":
                continue
            result = pipelines[p](img)[0]
            classes = sorted(as_classic(result)[0])
            if p.startswith("fastinfer"):
                ok = same_objects(reference, result, img.shape[1], img.shape[0], 0.99)
            else:
                ok = classes == ref_classes
            checks.setdefault(p, {})[n] = {"ok": bool(ok), "detections": len(classes)}
            line.append(f"{p} {'same' if ok else 'DIFFERENT'} ({len(classes)})")
        print(f"  {n:20s} ort-python {len(ref_classes)} | " + " | ".join(line))
    failed = [p for p in checks if p != "fastinfer/ort-int8" and not all(r["ok"] for r in checks[p].values())]
    if failed:
        print(f"check FAILED for {', '.join(failed)}: not timing different work")
        raise SystemExit(1)
    int8_same = sum(r["ok"] for r in checks["fastinfer/ort-int8"].values())
    print(f"check passed for every FP32 pipeline; INT8 gives the same detections on {int8_same}/{len(names)} photos")

    samples = {p: {n: {s: [] for s in STAGES} for n in names} for p in PIPELINES}
    calls = [(p, kind) for p in PIPELINES for kind in (("stages", "e2e") if p.startswith("fastinfer") else ("all",))]
    gc.collect()
    gc.disable()
    started = time.perf_counter()
    try:
        for rnd in range(warmup + runs):
            record = rnd >= warmup
            # One pipeline at a time over all photos, in an order that rotates
            # with the round: ONNX Runtime's threads spin for a while after a
            # run, which would slow whichever pipeline ran right after them.
            shift = rnd % len(calls)
            for p, kind in calls[shift:] + calls[:shift]:
                for n in names:
                    img = images[n]
                    if kind == "stages":
                        times = pipelines[p].stages(img) + (None,)
                    elif kind == "e2e":
                        times = (None, None, None, pipelines[p](img)[1])
                    else:
                        times = pipelines[p](img)[1]
                    if record:
                        for s, v in zip(STAGES, times):
                            if v is not None:
                                samples[p][n][s].append(v)
    finally:
        gc.enable()
    elapsed = time.perf_counter() - started

    def mean_median(p: str, s: str) -> float | None:
        if not samples[p][names[0]][s]:
            return None
        return statistics.fmean(summarize(samples[p][n][s])["median"] for n in names)

    means = {p: {s: mean_median(p, s) for s in STAGES} for p in PIPELINES}
    print(f"\n## {label}: ms per image, mean over photos of the median of {runs} runs (timing {elapsed:.0f} s)\n")
    print("| pipeline | pre | forward | post | end to end | e2e / classic |")
    print("|---|---|---|---|---|---|")
    classic_e2e = means["classic"]["e2e"]
    for p in PIPELINES:
        cells = " | ".join(f"{v:8.2f}" if v is not None else "       -" for v in means[p].values())
        print(f"| {p} | {cells} | {means[p]['e2e'] / classic_e2e:.2f}x |")

    ort_forward = means["ort-python"]["forward"]
    fp32_e2e = means["fastinfer/ort-fp32"]["e2e"]
    int8_e2e = means["fastinfer/ort-int8"]["e2e"]
    targets = {
        "ort_fp32_e2e_over_ort_forward": (fp32_e2e / ort_forward, 1.05),
        "ort_fp32_e2e_over_classic": (fp32_e2e / classic_e2e, 0.8),
        "int8_e2e_over_classic": (int8_e2e / classic_e2e, 0.45),
    }
    if label == "yolov3":
        targets["post_ms"] = (means["fastinfer/ort-fp32"]["post"], 0.3)
    print()
    for key, (value, limit) in targets.items():
        print(f"  {key:32s} {value:6.3f}  (target <= {limit}: {'met' if value <= limit else 'NOT met'})")
    print(f"  {'post speed-up over classic':32s} {means['classic']['post'] / means['fastinfer/ort-fp32']['post']:6.1f}x")
    return {"means_ms": means, "targets": {k: {"value": v, "limit": lim} for k, (v, lim) in targets.items()},
            "checks": checks, "timing_s": elapsed,
            "samples_ms": {p: {n: {s: [x * 1e3 for x in v] for s, v in st.items()} for n, st in d.items()}
                           for p, d in samples.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["yolov3-tiny", "yolov3"], choices=["yolov3-tiny", "yolov3"])
    parser.add_argument("--runs", type=int, default=10, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds before them")
    parser.add_argument("--images", nargs="+", metavar="NAME", help="photos in SHARED/images (default: all)")
    parser.add_argument("--yolov3-images", type=int, default=3, help="photos used for yolov3 (its forward is slow)")
    parser.add_argument("--yolov3-runs", type=int, default=5, help="timed rounds for yolov3")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure here")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared",
                        metavar="DIR", help="shared data folder")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.yolov3_runs < 1 or args.yolov3_images < 1:
        parser.error("--runs, --yolov3-runs and --yolov3-images must be >= 1, --warmup >= 0")

    shared = args.shared.resolve()
    image_dir = shared / "images"
    tiny_dir = shared / "models" / "yolov3-tiny"
    yolov3_cfg = shared / "darknet-cfg" / "yolov3.cfg"
    missing = [p for p in (image_dir, tiny_dir / "yolov3-tiny.cfg", tiny_dir / "yolov3-tiny.weights", yolov3_cfg)
               if not p.exists()]
    if missing:
        sys.exit(f"bench_pipelines: shared data not found: {', '.join(map(str, missing))} (--shared DIR)")
    paths = ([image_dir / n for n in args.images] if args.images else
             sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
    images = {}
    for path in paths:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            sys.exit(f"bench_pipelines: cannot decode {path}")
        images[path.name] = np.ascontiguousarray(img)
    calibration = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)

    print("# fastinfer pipelines benchmark")
    print(f"python {platform.python_version()} | numpy {np.__version__} | cv2 {cv2.__version__} (pip) | onnxruntime "
          f"{ort.__version__} | fastinfer {fastinfer.__version__} (core: OpenCV {_core.opencv_version}, ONNX Runtime "
          f"{_core.ort_version()})")
    print(f"cpu: {cpu_model()}, {os.cpu_count()} cores ({usable_cores()} usable) | {platform.platform()}")
    print(f"threads: library defaults (pip cv2 {cv2.getNumThreads()}; ONNX Runtime sessions: its default); "
          f"conf {CONF}, iou {IOU}, stretch, 1/255, RGB; INT8 calibrated on the {len(calibration)} photos")

    report = {"versions": {"python": platform.python_version(), "numpy": np.__version__, "cv2": cv2.__version__,
                           "onnxruntime": ort.__version__, "fastinfer": fastinfer.__version__},
              "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "usable": usable_cores()}, "models": {}}
    with tempfile.TemporaryDirectory(prefix="fastinfer-bench-") as tmp:
        for label in args.models:
            if label == "yolov3-tiny":
                cfg, weights = tiny_dir / "yolov3-tiny.cfg", tiny_dir / "yolov3-tiny.weights"
                chosen, runs = images, args.runs
            else:
                cfg, weights = yolov3_cfg, Path(tmp) / "yolov3-random.weights"
                photos = [images[n] for n in list(images)[:2]]
                write_random_weights(cfg, weights, seed=0, blob=cv2.dnn.blobFromImages(photos, 1 / 255, SIZE,
                                                                                      swapRB=True))
                chosen = dict(list(images.items())[:args.yolov3_images])
                runs = args.yolov3_runs
            report["models"][label] = bench_model(label, cfg, weights, chosen, runs, args.warmup, calibration)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
