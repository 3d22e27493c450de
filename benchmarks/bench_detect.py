"""Detection benchmark: yolov3-tiny, the classic cv2 pipeline against fastinfer.

What it measures:
    Wall-clock time (``time.perf_counter``) of YOLOv3-tiny object detection at
    416x416 on real photos, stage by stage, for two pipelines that do the same
    work on the same decoded BGR image (decoding is never timed):

    * classic: the well-known pure-Python OpenCV demo on pip's ``cv2`` 4.x:
      ``cv2.dnn.blobFromImage(img, 1/255, (416, 416), swapRB=True,
      crop=False)``, ``net.forward(net.getUnconnectedOutLayersNames())``, a
      Python loop over every output row (argmax of the class scores,
      threshold, integer ``[left, top, width, height]`` box), then
      ``cv2.dnn.NMSBoxes`` once per class.
    * fastinfer: ``fastinfer.Detector(cfg)``; its stages are timed by calling
      ``det.preprocess([img])``, ``det.backend.forward(blob)`` and
      ``det.postprocess(outputs, transforms)`` one after the other, and end to
      end by a separate call ``det(img)`` (the public API, including building
      the ``Detections`` result).

    Stages: ``pre`` (image -> blob), ``forward`` (network), ``post`` (rows ->
    thresholded, suppressed boxes in image pixels) and ``e2e`` (image ->
    detections). fastinfer is also timed on one batch of 8 photos
    (``det([img1, ..., img8])``), reported per image.

    Before timing, every photo goes through both pipelines once and the
    detections are compared (same classes and count, boxes matched one to one
    within ``BOX_TOLERANCE_PX``); the script stops with status 1 if they
    differ, since the figures would then compare different work.

How it runs:
    Every round visits every photo and runs the three timed calls (classic,
    fastinfer stages, fastinfer end to end) in an order that rotates with the
    round and the photo, so no pipeline always runs first or right after the
    other; the batch call moves between the start and the end of the rounds.
    ``--warmup`` untimed rounds come first, then ``--runs`` timed ones, with
    Python's garbage collector off while timing.

How to read it:
    Each cell is the median in milliseconds over the timed runs, with the
    10th and 90th percentiles in brackets (a wide bracket means a noisy
    machine: raise ``--runs``). The ``mean`` rows average the per-photo
    medians. The last lines are ratios of those means, fastinfer / classic:
    below 1 means fastinfer is faster; beside each, the range of the
    per-photo ratios and the median ratio of paired runs (the two pipelines'
    runs of the same round and photo, taken well under a second apart). On a
    shared or virtual machine whose speed drifts, absolute times move but the
    paired ratio barely does; when it and the ratio of means disagree, trust
    the paired one and raise ``--runs``. Forward passes run on two different
    OpenCV builds (pip's cv2 for the classic path, the system OpenCV that
    fastinfer's core links), so the forward ratio compares those builds, not
    fastinfer's own code; pre- and post-processing are fastinfer's C++ core
    against cv2/numpy/Python.

    Threads: by default both OpenCV copies keep their own default thread
    count (printed). ``--threads N`` calls ``cv2.setNumThreads(N)`` on pip's
    cv2 and, through ``ctypes``, ``cv::setNumThreads(N)`` on the system
    ``libopencv_core`` loaded by fastinfer, which has its own thread pool
    (TBB on Debian) that pip's setting does not reach.

Usage:
    .venv/bin/python benchmarks/bench_detect.py [--runs N] [--warmup N]
        [--images NAME_OR_PATH ...] [--threads N] [--json FILE] [--data DIR]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    import cv2
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("bench_detect: needs pip's OpenCV (opencv-python-headless 4.x) for the classic pipeline; "
             "`make build` installs it into .venv")

import fastinfer
from fastinfer import _core
from fastinfer.tools import bench as benchmarking
from fastinfer.tools.bench import cpu_model, usable_cores

from bench_pipelines import CONF, IOU, STAGES, Classic, FastInfer  # the shared pipelines and their settings
from bench_pipelines import SIZE as INPUT_SIZE
from common import DEFAULT_DATA

MODEL = "yolov3-tiny"
BATCH = 8
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
# The classic demo truncates the box centre, the size and then the corner to
# int, which moves an edge by up to 2 px from the exact float box fastinfer
# returns (the rows the two read are the same); more than that is a mismatch.
BOX_TOLERANCE_PX = 2.0


def classic_detect(classic: Classic, frame):
    """One image through the classic pipeline; returns (detections, stage times in s)."""
    (result,), times = classic.timed([frame])
    return result, tuple(times[s] for s in STAGES)


def fastinfer_stages(fi: FastInfer, image):
    results, times = fi.timed([image])
    return results, tuple(times[s] for s in STAGES[:3])


def fastinfer_e2e(det, image):
    t0 = time.perf_counter()
    dets = det(image)
    return dets, time.perf_counter() - t0


# --------------------------------------------------------------------------
# Set-up: paths, threads, machine.
# --------------------------------------------------------------------------

def locate_data(data: Path, wanted: list[str] | None) -> tuple[Path, Path, list[Path]]:
    model_dir = data / "models" / MODEL
    cfg, weights = model_dir / f"{MODEL}.cfg", model_dir / f"{MODEL}.weights"
    image_dir = data / "images"
    missing = [p for p in (cfg, weights, image_dir) if not p.exists()]
    if missing:
        sys.exit(f"bench_detect: test data not found: {', '.join(str(p) for p in missing)}\n"
                 f"  expected the test-data folder (`make testdata`) holding models/{MODEL}/"
                 f"{{{MODEL}.cfg,{MODEL}.weights}} and images/; pass --data DIR to point elsewhere")
    if wanted:
        images = []
        for name in wanted:
            candidates = [Path(name), image_dir / name]
            found = next((p for p in candidates if p.is_file()), None)
            if found is None:
                sys.exit(f"bench_detect: image '{name}' is neither a file nor in {image_dir}")
            images.append(found)
    else:
        images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            sys.exit(f"bench_detect: no images in {image_dir}")
    return cfg, weights, images


class NativeOpenCV:
    """The system libopencv_core that fastinfer's core links, reached with ctypes.

    fastinfer exposes no thread setting; its OpenCV keeps a thread pool of its
    own, separate from pip's cv2 (which links OpenCV statically).
    """

    def __init__(self) -> None:
        self.lib = None
        try:
            with open("/proc/self/maps") as maps:
                paths = sorted({line.split()[-1] for line in maps if "libopencv_core.so" in line})
        except OSError:
            paths = []
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
                lib._ZN2cv13getNumThreadsEv.restype = ctypes.c_int
                lib._ZN2cv13setNumThreadsEi.argtypes = [ctypes.c_int]
                self.lib = lib
                break
            except (OSError, AttributeError):
                continue

    def get_threads(self) -> int | None:
        return int(self.lib._ZN2cv13getNumThreadsEv()) if self.lib is not None else None

    def set_threads(self, n: int) -> bool:
        if self.lib is None:
            return False
        self.lib._ZN2cv13setNumThreadsEi(int(n))
        return True


# --------------------------------------------------------------------------
# Statistics, the parity check, the report.
# --------------------------------------------------------------------------

def summarize(samples_s: list[float]) -> dict:
    ms = [t * 1e3 for t in samples_s]
    return {**benchmarking.summarize(ms).to_dict(), "samples_ms": ms}


def compare(classic, fi_dets, width, height) -> dict:
    """Matches classic detections to fastinfer's one to one, class by class."""
    c_ids, c_conf, c_boxes = classic
    c_xyxy = np.array([[l, t, l + w, t + h] for l, t, w, h in c_boxes], dtype=np.float64).reshape(-1, 4)
    # fastinfer clips the kept boxes to the image; the demo does not.
    c_xyxy = np.clip(c_xyxy, 0, [width, height, width, height])
    f_xyxy = fi_dets.xyxy.astype(np.float64)
    f_ids, f_conf = fi_dets.class_id.tolist(), fi_dets.confidence.tolist()
    same_classes = sorted(c_ids) == sorted(f_ids)
    used, box_err, conf_err, unmatched = set(), 0.0, 0.0, 0
    for i in np.argsort(-np.asarray(c_conf, dtype=np.float64), kind="stable"):
        best, best_err = None, None
        for j in range(len(f_ids)):
            if j in used or f_ids[j] != c_ids[i]:
                continue
            err = float(np.abs(c_xyxy[i] - f_xyxy[j]).max())
            if best_err is None or err < best_err:
                best, best_err = j, err
        if best is None or best_err > BOX_TOLERANCE_PX:
            unmatched += 1
            continue
        used.add(best)
        box_err = max(box_err, best_err)
        conf_err = max(conf_err, abs(c_conf[i] - f_conf[best]))
    ok = same_classes and unmatched == 0 and len(used) == len(f_ids)
    return {"ok": ok, "classic": len(c_ids), "fastinfer": len(f_ids), "same_classes": same_classes,
            "max_box_diff_px": box_err, "max_conf_diff": conf_err,
            "classic_classes": sorted(c_ids), "fastinfer_classes": sorted(f_ids)}


def cell(stats: dict) -> str:
    return f"{stats['median']:7.2f} [{stats['p10']:.2f}, {stats['p90']:.2f}]"


def mean_of_medians(per_image: dict, path: str, stage: str, names: list[str]) -> float:
    return statistics.fmean(per_image[n][path][stage]["median"] for n in names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="timed rounds (every photo, every pipeline)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds before them")
    parser.add_argument("--images", nargs="+", metavar="IMAGE",
                        help="photos: names inside DATA/images or paths (default: all of DATA/images)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OpenCV threads for both copies (default: each library's own default)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure, raw runs included, here")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="test-data folder (default: $FASTINFER_TESTDATA, else .testdata/; `make testdata`)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")

    data = (args.data or DEFAULT_DATA).resolve()
    cfg, weights, image_paths = locate_data(data, args.images)

    native = NativeOpenCV()
    if args.threads is not None:
        cv2.setNumThreads(args.threads)
        native.set_threads(args.threads)
    native_threads = native.get_threads()

    print(f"# fastinfer detection benchmark: {MODEL} {INPUT_SIZE[0]}x{INPUT_SIZE[1]}, classic cv2 vs fastinfer")
    print(f"python {platform.python_version()} | numpy {np.__version__} | cv2 {cv2.__version__} (pip) | "
          f"fastinfer {fastinfer.__version__} | fastinfer._core.opencv_version {_core.opencv_version}")
    print(f"cpu: {cpu_model()}, {os.cpu_count()} cores ({usable_cores()} usable) | {platform.platform()}")
    threads_src = f"--threads {args.threads}" if args.threads is not None else "library defaults"
    native_desc = native_threads if native_threads is not None else "unknown (libopencv_core not reachable)"
    print(f"threads ({threads_src}): pip cv2 {cv2.getNumThreads()}, fastinfer's OpenCV {native_desc}")
    print(f"settings: runs {args.runs}, warm-up {args.warmup}, conf {CONF}, iou {IOU}, stretch to "
          f"{INPUT_SIZE[0]}x{INPUT_SIZE[1]} (1/255, swapRB), per-class NMS, batch {BATCH}, decoding not timed")
    print(f"model: {cfg.name} + {weights.name} from {cfg.parent}")

    classic_path = Classic(cfg, weights)
    net, out_names = classic_path.net, classic_path.out_names
    det = fastinfer.Detector(str(cfg), conf=CONF, iou=IOU)
    fi = FastInfer(det)

    images = {}
    for path in image_paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            sys.exit(f"bench_detect: cannot decode {path}")
        name = path.name if path.name not in images else str(path)
        images[name] = np.ascontiguousarray(image)
    names = list(images)
    batch_names = [names[i % len(names)] for i in range(BATCH)]
    batch_images = [images[n] for n in batch_names]
    print(f"images ({len(names)}): " + ", ".join(f"{n} {images[n].shape[1]}x{images[n].shape[0]}" for n in names))
    print(f"batch {BATCH}: " + ", ".join(batch_names))

    # ---- same work? -------------------------------------------------------
    checks = {}
    print()
    print(f"## check: same detections (same classes, boxes within {BOX_TOLERANCE_PX:g} px)")
    for name in names:
        img = images[name]
        classic, _ = classic_detect(classic_path, img)
        fi_dets, _ = fastinfer_e2e(det, img)
        blob_c = cv2.dnn.blobFromImage(img, 1 / 255, INPUT_SIZE, swapRB=True, crop=False)
        blob_f, _ = det.preprocess([img])
        net.setInput(blob_c)
        outs_c = net.forward(out_names)
        outs_f = det.backend.forward(blob_f)
        pairs = [(a, b) for a in outs_c for b in outs_f if a.shape == np.squeeze(b).shape]
        rows_diff = max((float(np.abs(a - np.squeeze(b)).max()) for a, b in pairs), default=float("nan"))
        result = compare(classic, fi_dets, img.shape[1], img.shape[0])
        result["blob_max_diff"] = float(np.abs(blob_c - blob_f).max())
        result["rows_max_diff"] = rows_diff
        checks[name] = result
        verdict = "same" if result["ok"] else "DIFFERENT"
        print(f"  {name:22s} {verdict}: {result['classic']} vs {result['fastinfer']} detections, "
              f"classes {result['classic_classes']}, max box diff {result['max_box_diff_px']:.2f} px, "
              f"max score diff {result['max_conf_diff']:.1e}; blob diff {result['blob_max_diff']:.1e}, "
              f"output rows diff {rows_diff:.1e}")
    bad = [n for n, r in checks.items() if not r["ok"]]
    if bad:
        print(f"check FAILED on {', '.join(bad)}: classic: {[checks[n]['classic_classes'] for n in bad]}, "
              f"fastinfer: {[checks[n]['fastinfer_classes'] for n in bad]}; not timing different work")
        return 1
    total = sum(r["classic"] for r in checks.values())
    print(f"check passed: both pipelines give the same {total} detections on all {len(names)} photos "
          f"(same classes, boxes within {BOX_TOLERANCE_PX:g} px: the demo truncates its boxes to int)")

    # ---- timing -----------------------------------------------------------
    samples = {n: {"classic": {s: [] for s in STAGES}, "fastinfer": {s: [] for s in STAGES}} for n in names}
    batch_samples = []
    calls = ("classic", "fi_stages", "fi_e2e")

    def run_one(call, name, record):
        img = images[name]
        if call == "classic":
            _, times = classic_detect(classic_path, img)
            if record:
                for stage, t in zip(STAGES, times):
                    samples[name]["classic"][stage].append(t)
        elif call == "fi_stages":
            _, times = fastinfer_stages(fi, img)
            if record:
                for stage, t in zip(STAGES[:3], times[:3]):
                    samples[name]["fastinfer"][stage].append(t)
        else:
            _, t = fastinfer_e2e(det, img)
            if record:
                samples[name]["fastinfer"]["e2e"].append(t)

    def run_batch(record):
        _, t = fastinfer_e2e(det, batch_images)
        if record:
            batch_samples.append(t)

    started = time.perf_counter()
    gc.collect()
    gc.disable()
    try:
        for rnd in range(args.warmup + args.runs):
            record = rnd >= args.warmup
            if rnd % 2 == 0:
                run_batch(record)
            for k, name in enumerate(names):
                shift = (rnd + k) % len(calls)
                for call in calls[shift:] + calls[:shift]:
                    run_one(call, name, record)
            if rnd % 2 == 1:
                run_batch(record)
    finally:
        gc.enable()
    elapsed = time.perf_counter() - started

    per_image = {n: {path: {s: summarize(samples[n][path][s]) for s in STAGES} for path in ("classic", "fastinfer")}
                 for n in names}
    batch_stats = summarize([t / BATCH for t in batch_samples])

    # ---- report -----------------------------------------------------------
    print()
    print(f"## results: ms per image, median [p10, p90] over {args.runs} runs "
          f"({args.warmup} warm-up rounds; timing took {elapsed:.0f} s)")
    print()
    print("| image | size | dets | pipeline | pre | forward | post | end to end |")
    print("|---|---|---|---|---|---|---|---|")
    for n in names:
        size = f"{images[n].shape[1]}x{images[n].shape[0]}"
        for path in ("classic", "fastinfer"):
            row = " | ".join(cell(per_image[n][path][s]) for s in STAGES)
            print(f"| {n} | {size} | {checks[n]['classic']} | {path} | {row} |")
    means = {path: {s: mean_of_medians(per_image, path, s, names) for s in STAGES} for path in ("classic", "fastinfer")}
    for path in ("classic", "fastinfer"):
        row = " | ".join(f"{means[path][s]:7.2f}" for s in STAGES)
        print(f"| mean of {len(names)} | | | {path} | {row} |")
    batch_single = statistics.fmean(per_image[n]["fastinfer"]["e2e"]["median"] for n in batch_names)
    batch_classic = statistics.fmean(per_image[n]["classic"]["e2e"]["median"] for n in batch_names)
    print(f"| batch of {BATCH} | | | fastinfer | | | | {cell(batch_stats)} |")
    print()
    print(f"fastinfer batch {BATCH}, per image: {batch_stats['median']:.2f} ms, against {batch_single:.2f} ms "
          f"one at a time ({batch_stats['median'] / batch_single:.2f}x) and {batch_classic:.2f} ms classic "
          f"({batch_stats['median'] / batch_classic:.2f}x) on the same photos")

    ratios = {s: means["fastinfer"][s] / means["classic"][s] for s in STAGES}
    per_image_ratios = {s: [per_image[n]["fastinfer"][s]["median"] / per_image[n]["classic"][s]["median"]
                            for n in names] for s in STAGES}
    # Runs of the same round and photo are taken within a fraction of a second
    # of each other, so their ratio cancels slow phases of a shared machine.
    paired_ratios = {s: statistics.median(f / c for n in names
                                          for f, c in zip(samples[n]["fastinfer"][s], samples[n]["classic"][s]))
                     for s in STAGES}

    if args.json:
        report = {
            "model": MODEL, "input_size": list(INPUT_SIZE),
            "settings": {"runs": args.runs, "warmup": args.warmup, "conf": CONF, "iou": IOU, "batch": BATCH,
                         "threads": args.threads, "pip_cv2_threads": cv2.getNumThreads(),
                         "fastinfer_opencv_threads": native_threads, "box_tolerance_px": BOX_TOLERANCE_PX,
                         "images": names, "batch_images": batch_names, "timing_s": elapsed},
            "versions": {"python": platform.python_version(), "numpy": np.__version__, "cv2": cv2.__version__,
                         "fastinfer": fastinfer.__version__, "fastinfer_opencv": _core.opencv_version},
            "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": usable_cores(),
                        "platform": platform.platform()},
            "check": checks,
            "per_image_ms": {n: {"size": [int(images[n].shape[1]), int(images[n].shape[0])], **per_image[n]}
                             for n in names},
            "mean_of_medians_ms": means,
            "batch_per_image_ms": batch_stats,
            "batch_context_ms": {"fastinfer_single_e2e": batch_single, "classic_e2e": batch_classic},
            "ratios_fastinfer_over_classic": ratios,
            "per_image_ratios": per_image_ratios,
            "paired_run_ratios_median": paired_ratios,
            "post_speedup": 1 / ratios["post"],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"figures written to {args.json}")

    def detail(stage, digits=2):
        r = per_image_ratios[stage]
        return (f"(per photo {min(r):.{digits}f}-{max(r):.{digits}f}, "
                f"paired runs {paired_ratios[stage]:.{digits}f}x)")

    print()
    print("ratios fastinfer / classic (of the mean rows; below 1: fastinfer faster):")
    print(f"  end to end: {ratios['e2e']:.2f}x {detail('e2e')}")
    print(f"  pre:        {ratios['pre']:.2f}x {detail('pre')}")
    print(f"  post:       {ratios['post']:.3f}x {detail('post', 3)}: post-processing "
          f"{1 / ratios['post']:.1f}x faster")
    print(f"  forward:    {ratios['forward']:.2f}x {detail('forward')}, OpenCV {_core.opencv_version} "
          f"(fastinfer) against pip cv2 {cv2.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
