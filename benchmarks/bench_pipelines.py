"""Detection section of the suite: seven YOLO pipelines side by side, stage by stage, at batch 1 and 8.

Run it through ``benchmarks/suite.py --sections detection``.

What it measures:
    Median wall-clock milliseconds per image (``time.perf_counter``), stage by
    stage (``pre``: image -> blob, ``forward``: the network, ``post``: rows ->
    thresholded, suppressed boxes in image pixels, ``e2e``: image ->
    detections) of YOLO at 416x416 on real photos decoded once (decoding is
    never timed), for:

    * ``darknet``: Darknet's own ``darknet detector test`` (Debian's package,
      single-threaded), the forward time it prints ("Predicted in ...");
      batch 1 only;
    * ``classic``: the well-known pure-Python OpenCV Darknet demo on pip's cv2
      4.x: ``blobFromImage`` (``blobFromImages`` for a batch), ``forward``, a
      Python loop over every row of every image, ``NMSBoxes`` per class;
    * ``DetectionModel``: ``cv2.dnn.DetectionModel(net).detect(...)``, the same
      work inside OpenCV in one call (end to end only; no batch API);
    * ``ort-python``: what a careful user writes with the onnxruntime Python
      package: ``cv2.dnn.blobFromImages``, ``InferenceSession.run`` on the same
      converted ONNX model fastinfer runs (its batch axis is dynamic), a
      vectorised numpy decode and ``cv2.dnn.NMSBoxesBatched`` per image;
    * ``fastinfer/opencv``, ``fastinfer/ort-fp32``, ``fastinfer/ort-int8``:
      ``Detector(cfg, backend="opencv")`` (Debian's OpenCV DNN),
      ``Detector(cfg)`` (ONNX Runtime from the C++ core, on the model
      converted by ``fastinfer.convert``) and ``Detector(cfg,
      precision="int8")`` (static QDQ INT8 calibrated on the photos). Their
      stages are timed by calling ``preprocess``, ``backend.forward`` and
      ``postprocess`` one after the other; end to end is a separate call of the
      public ``det(image)`` / ``det(list_of_8)``.

    At batch 1 a timed run visits every photo once; at batch 8 it is one call
    with 8 photos. Figures are per image (run time / images).

Models:
    ``yolov3-tiny``: the real COCO weights from ``models/`` of the test data.
    ``yolov3``: Darknet's own ``yolov3.cfg`` with seeded random weights
    (``tests/random_weights.py``, detection heads calibrated on two photos so
    there are some detections but not thousands): its 10647 rows per image
    load the post-processing; detections are meaningless but the same across
    pipelines.

Before timing, the pipelines are checked to do the same work, at both batch
sizes: fastinfer FP32's detections equal the ``ort-python`` pipeline's (same
classes, boxes IoU >= 0.99); the classic demo and DetectionModel, whose
integer boxes can change what NMS keeps among random-weight boxes, find as many
objects of each class; INT8 is reported, not required to match. The section
stops (exit status 1) when a check fails. (``bench_detect.py`` holds fastinfer
to the classic demo box for box on yolov3-tiny.)
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from common import Policy, cell, cv2, photo_paths, read_photos, require, table

try:
    import onnxruntime as ort
except ImportError as exc:  # pragma: no cover - depends on the environment
    sys.exit(f"bench_pipelines: needs the onnxruntime package ({exc})")

import fastinfer
from fastinfer.tools import bench as benchmarking

sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))
from random_weights import write_random_weights  # noqa: E402

SIZE = (416, 416)
CONF, IOU = 0.25, 0.45  # fastinfer.Detector's defaults, used by every pipeline
STAGES = benchmarking.STAGES
BATCHES = (1, 8)
MODELS = ("yolov3-tiny", "yolov3")
PIPELINES = ("darknet", "classic", "DetectionModel", "ort-python", "fastinfer/opencv", "fastinfer/ort-fp32",
             "fastinfer/ort-int8")
FASTINFER = "fastinfer/ort-fp32"  # the default Detector: the one the ratios are about
DARKNET_DATA = Path("/usr/share/darknet/cfg/coco.data")  # Debian's darknet package
DARKNET_TIME = re.compile(r"Predicted in ([0-9.]+) (seconds|milli-seconds)")

Frames = Sequence[np.ndarray]
Result = tuple[list[int], list[float], list[list[float]]]  # class ids, scores, [left, top, width, height]


# --------------------------------------------------------------------------
# The classic pipeline, as the well-known OpenCV Darknet demo writes it.
# --------------------------------------------------------------------------

def classic_postprocess(outs, frame_width, frame_height, conf_threshold, nms_threshold) -> Result:
    """Darknet rows of one image -> kept detections, one Python iteration per row."""
    class_ids = []
    confidences = []
    boxes = []
    for out in outs:
        for detection in out:
            scores = detection[5:]
            class_id = np.argmax(scores)
            confidence = scores[class_id]
            if confidence > conf_threshold:
                center_x = int(detection[0] * frame_width)
                center_y = int(detection[1] * frame_height)
                width = int(detection[2] * frame_width)
                height = int(detection[3] * frame_height)
                left = int(center_x - width / 2)
                top = int(center_y - height / 2)
                class_ids.append(int(class_id))
                confidences.append(float(confidence))
                boxes.append([left, top, width, height])
    # Per-class NMS, one NMSBoxes call per class present.
    kept = []
    class_id_array = np.array(class_ids)
    for cls in sorted(set(class_ids)):
        members = np.flatnonzero(class_id_array == cls)
        chosen = cv2.dnn.NMSBoxes([boxes[i] for i in members], [confidences[i] for i in members],
                                  conf_threshold, nms_threshold)
        kept.extend(members[np.asarray(chosen, dtype=np.int64).reshape(-1)].tolist())
    return [class_ids[i] for i in kept], [confidences[i] for i in kept], [boxes[i] for i in kept]


# --------------------------------------------------------------------------
# Pipelines: ``timed(frames)`` -> (per-image results, {stage: seconds}) for
# the whole batch; fastinfer's also have ``e2e(frames)``, the public call.
# --------------------------------------------------------------------------

class Classic:
    batched = True

    def __init__(self, cfg: Path, weights: Path) -> None:
        self.net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        self.out_names = self.net.getUnconnectedOutLayersNames()

    def timed(self, frames: Frames) -> tuple[list[Result], dict[str, float]]:
        t0 = time.perf_counter()
        if len(frames) == 1:
            blob = cv2.dnn.blobFromImage(frames[0], 1 / 255, SIZE, swapRB=True, crop=False)
        else:
            blob = cv2.dnn.blobFromImages(list(frames), 1 / 255, SIZE, swapRB=True, crop=False)
        t1 = time.perf_counter()
        self.net.setInput(blob)
        outs = self.net.forward(self.out_names)
        t2 = time.perf_counter()
        # Batch 1 gives (rows, 85) per output, a batch (N, rows, 85).
        per_image = [outs] if len(frames) == 1 else [[o[i] for o in outs] for i in range(len(frames))]
        results = [classic_postprocess(o, f.shape[1], f.shape[0], CONF, IOU) for o, f in zip(per_image, frames)]
        t3 = time.perf_counter()
        return results, {"pre": t1 - t0, "forward": t2 - t1, "post": t3 - t2, "e2e": t3 - t0}


class OpenCVDetectionModel:
    batched = False

    def __init__(self, cfg: Path, weights: Path) -> None:
        self.model = cv2.dnn.DetectionModel(cv2.dnn.readNetFromDarknet(str(cfg), str(weights)))
        self.model.setInputParams(scale=1 / 255, size=SIZE, swapRB=True, crop=False)

    def timed(self, frames: Frames) -> tuple[list[Result], dict[str, float]]:
        (frame,) = frames
        t0 = time.perf_counter()
        ids, scores, boxes = self.model.detect(frame, confThreshold=CONF, nmsThreshold=IOU)
        t1 = time.perf_counter()
        result = (np.asarray(ids).reshape(-1).tolist(), np.asarray(scores).reshape(-1).tolist(),
                  np.asarray(boxes).reshape(-1, 4).tolist())
        return [result], {"e2e": t1 - t0}


class OrtPython:
    """onnxruntime's Python API on the converted model, with a vectorised numpy decode."""

    batched = True

    def __init__(self, onnx_path: Path) -> None:
        self.session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    @staticmethod
    def decode(rows: np.ndarray, w: int, h: int) -> Result:
        scores = rows[:, 5:]
        ids = scores.argmax(1)
        best = scores[np.arange(len(rows)), ids]
        keep = best > CONF
        rows, ids, best = rows[keep], ids[keep], best[keep]
        boxes = np.stack([(rows[:, 0] - rows[:, 2] / 2) * w, (rows[:, 1] - rows[:, 3] / 2) * h,
                          rows[:, 2] * w, rows[:, 3] * h], axis=1)
        kept = np.asarray(cv2.dnn.NMSBoxesBatched(boxes.tolist(), best.tolist(), ids.tolist(), CONF, IOU),
                          dtype=np.int64).reshape(-1)
        return ids[kept].tolist(), best[kept].tolist(), boxes[kept].tolist()

    def timed(self, frames: Frames) -> tuple[list[Result], dict[str, float]]:
        t0 = time.perf_counter()
        blob = cv2.dnn.blobFromImages(list(frames), 1 / 255, SIZE, swapRB=True, crop=False)
        t1 = time.perf_counter()
        outs = self.session.run(None, {self.input_name: blob})
        t2 = time.perf_counter()
        results = [self.decode(np.concatenate([o[i] for o in outs]), f.shape[1], f.shape[0])
                   for i, f in enumerate(frames)]
        t3 = time.perf_counter()
        return results, {"pre": t1 - t0, "forward": t2 - t1, "post": t3 - t2, "e2e": t3 - t0}


class FastInfer:
    batched = True

    def __init__(self, det: fastinfer.Detector) -> None:
        self.det = det

    def timed(self, frames: Frames) -> tuple[list[Any], dict[str, float]]:
        t0 = time.perf_counter()
        blob, transforms = self.det.preprocess(list(frames))
        t1 = time.perf_counter()
        outputs = self.det.backend.forward(blob)
        t2 = time.perf_counter()
        results = self.det.postprocess(outputs, transforms)
        t3 = time.perf_counter()
        return results, {"pre": t1 - t0, "forward": t2 - t1, "post": t3 - t2}

    def e2e(self, frames: Frames) -> list[fastinfer.Detections]:
        return self.det(list(frames))


def as_classic(result) -> Result:
    """Any pipeline's result for one image as the classic demo's (ids, scores, [left, top, width, height])."""
    if isinstance(result, fastinfer.Detections):
        xyxy = result.xyxy.astype(np.float64)
        return result.class_id.tolist(), result.confidence.tolist(), \
            [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in xyxy.tolist()]
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
# Darknet's own detector.
# --------------------------------------------------------------------------

def darknet_forward(cfg: Path, weights: Path, photos: Sequence[Path], warmup: int, runs: int) -> dict | None:
    """Darknet's printed forward times over ``warmup + runs`` photos (cycled), one process, net loaded once.

    ``darknet detect`` opens a window; ``detector test`` reading paths from
    stdin and writing its drawing with ``-out`` runs headless.
    """
    if not DARKNET_DATA.is_file():
        print(f"  darknet: {DARKNET_DATA} not found (apt-get install darknet): skipped")
        return None
    paths = [str(photos[i % len(photos)]) for i in range(warmup + runs)]
    with tempfile.TemporaryDirectory(prefix="fastinfer-darknet-") as tmp:
        try:
            done = subprocess.run(["stdbuf", "-oL", "darknet", "detector", "test", str(DARKNET_DATA), str(cfg),
                                   str(weights), "-out", "prediction"], input="\n".join(paths) + "\n", cwd=tmp,
                                  capture_output=True, text=True, timeout=120 + 60 * len(paths))
        except (OSError, subprocess.TimeoutExpired) as exc:
            print(f"  darknet: failed ({exc}): skipped")
            return None
    times = [float(v) * (1e3 if unit == "seconds" else 1.0) for v, unit in DARKNET_TIME.findall(done.stdout)]
    if len(times) != len(paths):
        print(f"  darknet: {len(times)} times printed for {len(paths)} photos (exit status {done.returncode}: "
              f"{done.stderr.strip().splitlines()[-1:]}): skipped")
        return None
    return benchmarking.summarize(times[warmup:], warmup).to_dict()


# --------------------------------------------------------------------------
# One model: build, check, time.
# --------------------------------------------------------------------------

def batches(names: Sequence[str], batch: int) -> list[list[str]]:
    """The calls of one timed run: each photo alone, or one call of ``batch`` photos (cycled)."""
    if batch == 1:
        return [[n] for n in names]
    return [[names[i % len(names)] for i in range(batch)]]


def check(pipelines: dict, images: dict[str, np.ndarray], calls: list[list[str]]) -> dict[str, dict]:
    """Every pipeline against ``ort-python`` on the calls of one run (see the module docstring)."""
    reference = {}
    for call in calls:
        for name, result in zip(call, pipelines["ort-python"].timed([images[n] for n in call])[0]):
            reference[name] = result
    checks: dict[str, dict] = {}
    for p, pipeline in pipelines.items():
        if p == "ort-python" or (len(calls[0]) > 1 and not pipeline.batched):
            continue
        for call in calls:
            frames = [images[n] for n in call]
            results = pipeline.e2e(frames) if isinstance(pipeline, FastInfer) else pipeline.timed(frames)[0]
            for name, img, result in zip(call, frames, results):
                ref = reference[name]
                if p.startswith("fastinfer"):
                    ok = same_objects(ref, result, img.shape[1], img.shape[0], 0.99)
                else:
                    ok = sorted(as_classic(result)[0]) == sorted(as_classic(ref)[0])
                entry = checks.setdefault(p, {"same": 0, "photos": 0, "different": []})
                entry["photos"] += 1
                entry["same"] += int(ok)
                if not ok:
                    entry["different"].append(name)
    return checks


def time_pipeline(pipeline, frames_of_run: list[list[np.ndarray]], policy: Policy) -> dict[str, dict]:
    """Per-image stage figures of one pipeline over the calls of a run."""
    images = sum(len(frames) for frames in frames_of_run)

    def run() -> dict[str, float]:
        total: dict[str, float] = {}
        for frames in frames_of_run:
            for stage, seconds in pipeline.timed(frames)[1].items():
                total[stage] = total.get(stage, 0.0) + seconds
        return total

    stats = benchmarking.measure_stages(run, **policy.kwargs())
    if isinstance(pipeline, FastInfer):
        stats["e2e"] = benchmarking.measure(lambda: [pipeline.e2e(f) for f in frames_of_run], **policy.kwargs())
    return {s: stats[s].scaled(1 / images).to_dict() for s in STAGES if s in stats}


def bench_model(label: str, cfg: Path, weights: Path, images: dict[str, np.ndarray], photo_files: list[Path],
                policies: dict[int, Policy], darknet: tuple[int, int], calibration: list[Path]) -> dict:
    names = list(images)
    print(f"\n## detection: {label} ({cfg.name}) at {SIZE[0]}x{SIZE[1]}, {len(names)} photos")
    t = time.perf_counter()
    fp32 = fastinfer.Detector(str(cfg), weights, input_size=SIZE, conf=CONF, iou=IOU)
    int8 = fastinfer.Detector(str(cfg), weights, input_size=SIZE, conf=CONF, iou=IOU, precision="int8",
                              calibration=calibration)
    print(f"fastinfer: ONNX conversion, INT8 quantization (both cached) and sessions in {time.perf_counter() - t:.1f} s")
    pipelines: dict[str, Any] = {
        "classic": Classic(cfg, weights),
        "DetectionModel": OpenCVDetectionModel(cfg, weights),
        "ort-python": OrtPython(fp32.onnx_path),
        "fastinfer/opencv": FastInfer(fastinfer.Detector(str(cfg), weights, input_size=SIZE, conf=CONF, iou=IOU,
                                                         backend="opencv")),
        FASTINFER: FastInfer(fp32),
        "fastinfer/ort-int8": FastInfer(int8),
    }
    report: dict[str, Any] = {"photos": names, "batches": {}, "checks": {}}
    for batch in BATCHES:
        calls = batches(names, batch)
        checks = check(pipelines, images, calls)
        report["checks"][str(batch)] = checks
        print(f"check, batch {batch}, against ort-python: " + ", ".join(
            f"{p} {c['same']}/{c['photos']}" for p, c in checks.items()))
        failed = [p for p, c in checks.items() if p != "fastinfer/ort-int8" and c["different"]]
        if failed:
            sys.exit(f"check FAILED at batch {batch} for {', '.join(failed)} "
                     f"({', '.join(str(checks[p]['different']) for p in failed)}): not timing different work")

    for batch in BATCHES:
        calls = batches(names, batch)
        frames_of_run = [[images[n] for n in call] for call in calls]
        policy = policies[batch]
        figures: dict[str, dict] = {}
        started = time.perf_counter()
        for p in PIPELINES:
            if p == "darknet":
                if batch == 1:
                    warmup, runs = darknet
                    stats = darknet_forward(cfg, weights, photo_files, warmup, runs)
                    figures[p] = {"forward": stats} if stats else {}
                    if stats:
                        print(f"  batch 1 {p:20s} forward {stats['median']:.2f} (its own printed time)")
                continue
            if batch > 1 and not pipelines[p].batched:
                figures[p] = {}
                continue
            figures[p] = time_pipeline(pipelines[p], frames_of_run, policy)
            print(f"  batch {batch} {p:20s} " + "  ".join(f"{s} {figures[p][s]['median']:.2f}"
                                                           for s in STAGES if s in figures[p]))
        print(f"  batch {batch} timed in {time.perf_counter() - started:.0f} s")
        report["batches"][str(batch)] = {"policy": policy.kwargs(), "photos_per_run": len(calls) * batch,
                                         "pipelines": figures}
    report["ratios"] = ratios(report)
    return report


def ratios(report: dict) -> dict[str, dict[str, float | None]]:
    """The ratios that matter, per batch: fastinfer e2e / classic e2e, / ORT forward alone; post speed-up."""
    out: dict[str, dict[str, float | None]] = {}
    for batch, data in report["batches"].items():
        figures = data["pipelines"]

        def median(p: str, s: str) -> float | None:
            stats = (figures.get(p) or {}).get(s)
            return stats["median"] if stats else None

        fi_e2e, fi_post = median(FASTINFER, "e2e"), median(FASTINFER, "post")
        classic_e2e, classic_post = median("classic", "e2e"), median("classic", "post")
        ort_forward = median("ort-python", "forward")
        out[batch] = {
            "fastinfer_e2e_over_classic_e2e": fi_e2e / classic_e2e if fi_e2e and classic_e2e else None,
            "fastinfer_e2e_over_ort_forward": fi_e2e / ort_forward if fi_e2e and ort_forward else None,
            "post_speedup_over_python_loop": classic_post / fi_post if fi_post and classic_post else None,
        }
    return out


# --------------------------------------------------------------------------
# The section: run, tables, plots, ratio lines.
# --------------------------------------------------------------------------

def run(data: Path, *, quick: bool, models: Sequence[str] = MODELS) -> dict:
    """Times every model; returns the section's figures (JSON-able)."""
    tiny_dir = data / "models" / "yolov3-tiny"
    tiny = (tiny_dir / "yolov3-tiny.cfg", tiny_dir / "yolov3-tiny.weights")
    yolov3_cfg = data / "darknet-cfg" / "yolov3.cfg"
    require([*tiny, yolov3_cfg], "bench_pipelines")
    photo_files = photo_paths(data)
    images = read_photos(photo_files)
    print(f"detection: cv2 {cv2.__version__} (pip, {cv2.getNumThreads()} threads), onnxruntime {ort.__version__} "
          "(Python package, default threads); fastinfer's ONNX Runtime and OpenCV at their default threads")
    section: dict[str, Any] = {"settings": {"input_size": list(SIZE), "conf": CONF, "iou": IOU, "batches": BATCHES,
                                            "fastinfer": FASTINFER, "pip_cv2_threads": cv2.getNumThreads(),
                                            "onnxruntime_python": ort.__version__, "quick": quick},
                               "models": {}}
    with tempfile.TemporaryDirectory(prefix="fastinfer-bench-") as tmp:
        for label in models:
            if label == "yolov3-tiny":
                cfg, weights = tiny
                chosen = photo_files[:2] if quick else photo_files
                policies = {1: Policy(1, 2, 0.0), 8: Policy(1, 2, 0.0)} if quick else \
                    {1: Policy(2, 5, 2.0), 8: Policy(2, 5, 2.0)}
                darknet = (1, 1) if quick else (1, 5)
            else:
                cfg, weights = yolov3_cfg, Path(tmp) / "yolov3-random.weights"
                blob = cv2.dnn.blobFromImages([images[p.name] for p in photo_files[:2]], 1 / 255, SIZE, swapRB=True)
                write_random_weights(cfg, weights, seed=0, blob=blob)
                chosen = photo_files[:1] if quick else photo_files[:3]
                policies = {1: Policy(1, 1, 0.0), 8: Policy(0, 1, 0.0)} if quick else \
                    {1: Policy(1, 3, 2.0), 8: Policy(1, 3, 2.0)}
                darknet = (0, 1) if quick else (1, 3)
            section["models"][label] = bench_model(label, cfg, weights, {p.name: images[p.name] for p in chosen},
                                                   chosen, policies, darknet, photo_files)
    return section


def markdown(section: dict) -> str:
    s = section["settings"]
    parts = [f"## Detection: YOLO at {s['input_size'][0]}x{s['input_size'][1]}, ms per image\n",
             "Median [p10-p90] per image of each stage; `e2e / classic` compares end to end with the classic "
             "pure-Python path at the same batch size. `darknet` is Darknet's own printed forward time "
             "(single-threaded build). fastinfer's stages are timed one after the other, its end to end by a "
             "separate call of `det(...)`."]
    for label, model in section["models"].items():
        for batch, data in model["batches"].items():
            figures = data["pipelines"]
            classic = (figures.get("classic") or {}).get("e2e")
            rows = []
            for p in PIPELINES:
                f = figures.get(p) or {}
                ratio = f"{f['e2e']['median'] / classic['median']:.2f}x" if f.get("e2e") and classic else "-"
                rows.append([p] + [cell(f.get(st)) for st in STAGES] + [ratio])
            parts.append(f"\n### {label}, batch {batch} ({data['photos_per_run']} photos per timed run, "
                         f"{data['policy']['min_runs']}+ runs after {data['policy']['warmup']} warm-up)\n")
            parts.append(table(["pipeline", "pre", "forward", "post", "end to end", "e2e / classic"], rows))
        int8 = model["checks"]["1"].get("fastinfer/ort-int8", {})
        parts.append(f"\nChecks: every FP32 pipeline does the same work as `ort-python` at both batch sizes; INT8 "
                     f"finds the same objects on {int8.get('same', 0)}/{int8.get('photos', 0)} photos.")
    return "\n".join(parts) + "\n"


def ratio_lines(section: dict) -> list[str]:
    lines = []
    names = {"fastinfer_e2e_over_classic_e2e": "fastinfer e2e / classic e2e",
             "fastinfer_e2e_over_ort_forward": "fastinfer e2e / ORT forward alone",
             "post_speedup_over_python_loop": "post-processing speed-up over the Python loop"}
    for label, model in section["models"].items():
        for key, text in names.items():
            values = []
            for batch, r in model["ratios"].items():
                v = r[key]
                values.append(f"{v:.3f}" + ("x" if key.startswith("post") else "") + f" (batch {batch})"
                              if v is not None else f"- (batch {batch})")
            lines.append(f"{label:12s} {text + ':':48s} " + ", ".join(values))
    return lines


def plots(section: dict, out: Path, plt) -> list[Path]:
    """One grouped bar chart per model and batch: stages per pipeline, log-scale ms."""
    written = []
    colors = {"pre": "#4c72b0", "forward": "#dd8452", "post": "#55a868", "e2e": "#c44e52"}
    for label, model in section["models"].items():
        for batch, data in model["batches"].items():
            figures = data["pipelines"]
            shown = [p for p in PIPELINES if figures.get(p)]
            fig, ax = plt.subplots(figsize=(10, 5))
            width = 0.2
            for k, stage in enumerate(STAGES):
                xs = [i + (k - 1.5) * width for i, p in enumerate(shown) if figures[p].get(stage)]
                ys = [figures[p][stage]["median"] for p in shown if figures[p].get(stage)]
                ax.bar(xs, ys, width, label=stage, color=colors[stage])
            ax.set_xticks(range(len(shown)), shown, rotation=20, ha="right")
            ax.set_yscale("log")
            ax.set_ylabel("ms per image (median, log scale)")
            ax.set_title(f"{label}, batch {batch}: stages per pipeline")
            ax.grid(axis="y", which="both", alpha=0.3)
            ax.legend()
            fig.tight_layout()
            path = out / f"detection_{label}_batch{batch}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python benchmarks/bench_pipelines.py [suite options]``: the suite's detection section alone."""
    import suite

    return suite.main(["--sections", "detection", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
