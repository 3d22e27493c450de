"""fastinfer's benchmark suite: one entry point, results in ``benchmarks/results/<machine>/``.

Sections (``--sections``, default all):

* ``detection`` (``bench_pipelines.py``): YOLO (yolov3-tiny, real weights;
  yolov3, seeded random weights) stage by stage at batch 1 and 8: Darknet's
  own detector, the classic pure-Python cv2 path, ``cv2.dnn.DetectionModel``,
  numpy + onnxruntime, and fastinfer on each backend and precision;
* ``classification`` (``bench_classify.py``): ResNet18 and MobileNetV3-Small
  (``nets.py``) at 32-1024 pixels, batch 1 and 16: torch, onnxruntime with
  fixed and dynamic axes, fastinfer end to end and its forward alone;
* ``precision`` (``bench_precision.py``): EfficientNet-Lite0's top-3 from
  torch, onnxruntime and fastinfer on every photo, max abs differences;
* ``stream`` (``bench_stream.py``): sequential against pipelined
  ``Detector.stream``, in frames per second.

Every figure is a median after warm-up, over runs repeated until a minimum
count and a minimum time (``fastinfer.tools.bench.measure``; each section's
docstring gives its policy), with the 10th and 90th percentiles.

Output, in ``--out`` (default ``benchmarks/results/<machine>``, where
``<machine>`` is the CPU model and usable cores, e.g. ``amd-epyc-2cores``;
``--quick`` runs go to ``benchmarks/out/quick/<machine>``, which git ignores):
``results.md`` (every table), ``results.json`` (every figure: median, p10,
p90, runs, warm-up; versions, CPU model, cores, date) and PNG plots. A run of
some sections keeps the other sections already in ``results.json`` (each
section records its own date), so one section can be re-run alone.

The last printed lines are the ratios that matter: per detection model,
fastinfer end to end / classic end to end, fastinfer end to end / ONNX
Runtime's forward alone, the post-processing speed-up over the Python loop;
then the stream's pipelined / sequential fps.

Usage:
    .venv/bin/python benchmarks/suite.py [--sections detection classification precision stream] [--quick]
        [--out DIR] [--machine NAME] [--data DIR] [--models yolov3-tiny yolov3]

A full run takes about 30 minutes on 2 cores; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import DEFAULT_DATA, REPO, cv2  # noqa: E402

from fastinfer import benchmarking  # noqa: E402

SECTIONS = ("detection", "classification", "precision", "stream")


# ------------------------------------------------------------------ sections


def run_section(name: str, args: argparse.Namespace) -> dict:
    """Runs one section; returns its figures."""
    if name == "detection":
        import bench_pipelines

        return bench_pipelines.run(args.data, quick=args.quick, models=args.models)
    if name == "classification":
        import bench_classify

        return bench_classify.run(args.data, quick=args.quick)
    if name == "precision":
        import bench_precision

        return bench_precision.run(args.data, quick=args.quick)
    return run_stream(args)


def run_stream(args: argparse.Namespace) -> dict:
    """The stream section: ``bench_stream.run``."""
    import bench_stream

    print("\n## stream: sequential against pipelined Detector.stream")
    return bench_stream.run(args.data, quick=args.quick)


def stream_markdown(section: dict) -> str:
    labels = {"sequential": "sequential: read + `det(frame)`, one after another",
              "pipelined": "pipelined: `det.stream(video)`",
              "sequential_reference": "sequential, ONNX Runtime's default threads"}
    rows = [[labels.get(name, name), f"{f['median']:.2f} [{min(f['runs']):.2f}-{max(f['runs']):.2f}]",
             len(f["runs"])] for name, f in section["fps"].items()]
    w, h = section["size"]
    text = (f"## Stream: sequential against pipelined `Detector.stream`\n\nyolov3-tiny on a {section['frames']}-frame "
            f"{w}x{h} video decoded by fastinfer (decoding timed); detector threads {section['threads'] or 'default'}, "
            f"{section['workers']} inference workers, batch {section['batch_size']}. Frames per second, median "
            "[min-max] over whole passes (`bench_stream.py`).\n\n")
    text += common.table(["set-up", "fps", "passes"], rows)
    text += f"\n\npipelined / sequential: {section['ratio']:.2f}x"
    if "ratio_vs_reference" in section:
        text += f"; pipelined / sequential with ONNX Runtime's default threads: {section['ratio_vs_reference']:.2f}x"
    return text + ".\n"


def markdown(data: dict, plots: list[str]) -> str:
    m, v = data["machine"], data["versions"]
    parts = [f"# fastinfer benchmarks: {m['cpu']}, {m['usable_cores']} usable cores\n",
             f"Written by `benchmarks/suite.py` ({'QUICK SMOKE RUN, not for comparison; ' if data['quick'] else ''}"
             f"last run {m['date']}; {m['platform']}). Versions: " +
             ", ".join(f"{k} {val}" for k, val in v.items()) + ".\n",
             "Each figure is the median after warm-up of runs repeated until a minimum count and a minimum time "
             "(`fastinfer.tools.bench`), with [p10-p90]; `results.json` holds every figure with its run and "
             "warm-up counts. Sections: " + ", ".join(f"{name} ({s['date']}{', quick' if s['quick'] else ''})"
                                                       for name, s in data["sections"].items()) + ".\n"]
    for name, section in data["sections"].items():
        module = {"detection": "bench_pipelines", "classification": "bench_classify",
                  "precision": "bench_precision"}.get(name)
        text = stream_markdown(section) if module is None else __import__(module).markdown(section)
        parts.append(text)
        parts += [f"![{Path(p).stem}]({p})\n" for p in plots if Path(p).stem.startswith(name)]
    lines = ratio_lines(data)
    if lines:
        parts.append("## Ratios\n\n```\n" + "\n".join(lines) + "\n```\n")
    return "\n".join(parts)


def ratio_lines(data: dict) -> list[str]:
    lines = []
    if "detection" in data["sections"]:
        import bench_pipelines

        lines += bench_pipelines.ratio_lines(data["sections"]["detection"])
    stream = data["sections"].get("stream")
    if stream:
        lines.append(f"{'stream':12s} {'pipelined / sequential fps:':48s} {stream['ratio']:.2f}x "
                     f"({stream['pipelined_fps']:.1f} / {stream['sequential_fps']:.1f} fps)"
                     + (f", {stream['ratio_vs_reference']:.2f}x against sequential at ONNX Runtime's default "
                        "threads" if "ratio_vs_reference" in stream else ""))
    return lines


def write_plots(data: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    written: list[Path] = []
    if "detection" in data["sections"]:
        import bench_pipelines

        written += bench_pipelines.plots(data["sections"]["detection"], out, plt)
    if "classification" in data["sections"]:
        import bench_classify

        written += bench_classify.plots(data["sections"]["classification"], out, plt)
    return [p.name for p in written]


def versions() -> dict[str, str]:
    found = benchmarking.versions()
    found["cv2 (pip)"] = cv2.__version__
    for module in ("onnxruntime", "torch", "matplotlib"):
        try:
            found[module] = __import__(module).__version__
        except ImportError:
            found[module] = "not installed"
    return found


def write(data: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(data, out)
    (out / "results.json").write_text(json.dumps(data, indent=1) + "\n")
    (out / "results.md").write_text(markdown(data, plots))


# ------------------------------------------------------------------ main


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Sections: " + ", ".join(SECTIONS))
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="what to run")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: few runs, photos and sizes")
    parser.add_argument("--out", type=Path, help="output folder (default: benchmarks/results/<machine>; "
                        "--quick: benchmarks/out/quick/<machine>)")
    parser.add_argument("--machine", default=benchmarking.machine_slug(),
                        help="machine name in the default output folder (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="test-data folder (default: "
                        "$FASTINFER_TESTDATA, else .testdata/; `make testdata`)")
    parser.add_argument("--models", nargs="+", default=["yolov3-tiny", "yolov3"], choices=["yolov3-tiny", "yolov3"],
                        help="detection models")
    args = parser.parse_args(argv)
    if args.out is None:
        base = REPO / "benchmarks" / ("out/quick" if args.quick else "results")
        args.out = base / args.machine
    args.data = args.data.resolve()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    data: dict[str, Any] = {"machine": benchmarking.machine(), "versions": versions(), "quick": args.quick,
                            "sections": {}}
    previous = args.out / "results.json"
    if previous.is_file():
        kept = json.loads(previous.read_text()).get("sections", {})
        data["sections"] = {name: kept[name] for name in SECTIONS if name in kept and name not in args.sections}
    m = data["machine"]
    print(f"# fastinfer benchmark suite{' (QUICK)' if args.quick else ''}: {', '.join(args.sections)} -> {args.out}")
    print(f"cpu: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable) | {platform.platform()} | {m['date']}")
    print(" | ".join(f"{k} {v}" for k, v in data["versions"].items()))
    started = time.perf_counter()
    for name in args.sections:
        t0 = time.perf_counter()
        section = run_section(name, args)
        section.update(date=benchmarking.machine()["date"], quick=args.quick,
                       elapsed_s=round(time.perf_counter() - t0, 1))
        data["sections"][name] = section
        data["sections"] = {n: data["sections"][n] for n in SECTIONS if n in data["sections"]}
        write(data, args.out)  # after each section, so an interrupted run keeps what it measured
        print(f"{name}: {section['elapsed_s']:.0f} s")
    write(data, args.out)
    print(f"\nwrote {args.out}/results.md, results.json and the plots in {time.perf_counter() - started:.0f} s")
    print("\n# ratios")
    for line in ratio_lines(data):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
