"""``fastinfer.tools.bench`` (the timing helper of ``fastinfer bench`` and ``benchmarks/suite.py``) and the CLI."""

from __future__ import annotations

import gc
import json
import math
import re
import time

import numpy as np
import pytest
import torch
from torch import nn

import fastinfer
from fastinfer import cli
from fastinfer.tools import bench as benchmarking


def quick(*extra: str) -> list[str]:
    return ["--runs", "3", "--warmup", "1", "--min-time", "0", *extra]


# ---------------------------------------------------------------- statistics and the run loop


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("count", [2, 3, 10, 101])
def test_summarize_equals_numpy_median_and_percentiles(seed, count):
    samples = np.random.default_rng(seed).lognormal(1.0, 0.5, count)
    stats = benchmarking.summarize(samples.tolist(), warmup=4)
    p10, p90 = np.percentile(samples, [10, 90])  # numpy's default: linear, as "inclusive" quantiles
    assert stats.median == pytest.approx(np.median(samples), rel=1e-12)
    assert stats.p10 == pytest.approx(p10, rel=1e-12) and stats.p90 == pytest.approx(p90, rel=1e-12)
    assert (stats.runs, stats.warmup) == (count, 4)
    scaled = stats.scaled(0.125)
    assert (scaled.median, scaled.p10, scaled.runs) == (stats.median * 0.125, stats.p10 * 0.125, count)


def test_summarize_one_sample_and_none(raises_invalid):
    assert benchmarking.summarize([2.5]).to_dict() == {"median": 2.5, "p10": 2.5, "p90": 2.5, "runs": 1,
                                                        "warmup": 0}
    with raises_invalid("summarize needs at least one sample, got none"):
        benchmarking.summarize([])


def test_measure_warms_up_then_stops_at_min_runs():
    calls = []
    stats = benchmarking.measure(lambda: calls.append(gc.isenabled()), warmup=2, min_runs=3, min_time=0)
    assert len(calls) == 5 and (stats.runs, stats.warmup) == (3, 2)
    assert calls == [True, True, False, False, False], "the garbage collector is off while timing only"
    assert gc.isenabled()


def test_measure_runs_until_min_time_and_times_each_call():
    stats = benchmarking.measure(lambda: time.sleep(0.02), warmup=0, min_runs=1, min_time=0.1)
    # Each call sleeps >= 20 ms: five calls reach 0.1 s; a slow machine needs fewer.
    assert 1 < stats.runs <= 5
    assert 20 <= stats.p10 <= stats.median <= stats.p90


def test_measure_stops_at_max_runs():
    calls = []
    stats = benchmarking.measure(lambda: calls.append(1), warmup=0, min_runs=2, min_time=60, max_runs=4)
    assert stats.runs == len(calls) == 4


def test_measure_stages_summarizes_what_the_function_reports():
    stages = benchmarking.measure_stages(lambda: {"pre": 0.001, "forward": 0.004}, warmup=1, min_runs=6, min_time=0)
    assert set(stages) == {"pre", "forward"}
    assert stages["pre"].median == pytest.approx(1.0) and stages["forward"].p90 == pytest.approx(4.0)
    assert (stages["forward"].runs, stages["forward"].warmup) == (6, 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"warmup": -1}, r"warmup must be an int >= 0, got -1"),
    ({"warmup": 1.5}, r"warmup must be an int >= 0, got 1.5"),
    ({"min_runs": 0}, r"min_runs must be an int >= 1, got 0"),
    ({"min_runs": True}, r"min_runs must be an int >= 1, got True"),
    ({"min_runs": 5, "max_runs": 4}, r"max_runs must be an int >= min_runs \(5\), got 4"),
    ({"min_time": -1.0}, r"min_time must be a finite number of seconds >= 0, got -1.0"),
    ({"min_time": math.nan}, r"min_time must be a finite number of seconds >= 0, got nan"),
])
def test_measure_bad_policy(kwargs, message, raises_invalid):
    calls = []
    with raises_invalid(message):
        benchmarking.measure(lambda: calls.append(1), **kwargs)
    assert not calls, "nothing runs before the arguments are checked"


def test_machine_description():
    slug = benchmarking.machine_slug()
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug) and slug.endswith(f"-{benchmarking.usable_cores()}cores")
    info = benchmarking.machine()
    assert info["cpu"] == benchmarking.cpu_model() and info["usable_cores"] >= 1 and info["date"]
    assert benchmarking.versions()["fastinfer"] == fastinfer.__version__


# ---------------------------------------------------------------- fastinfer bench


def test_cli_bench_json_on_yolov3_tiny(yolo_files, testdata, capsys):
    dog = testdata / "images" / "dog.jpg"
    assert cli.main(["bench", str(yolo_files["cfg"]), "--json", "--image", str(dog), *quick("--runs", "5")]) == 0
    record = json.loads(capsys.readouterr().out)
    assert {k: record[k] for k in ("task", "backend", "precision", "input_size", "batch", "image", "unit")} == {
        "task": "detect", "backend": "onnxruntime", "precision": "fp32", "input_size": [416, 416], "batch": 1,
        "image": str(dog), "unit": "ms per image"}
    stages = record["stages"]
    assert list(stages) == ["pre", "forward", "post", "e2e"]
    for stats in stages.values():
        assert set(stats) == {"median", "p10", "p90", "runs", "warmup"}
        assert 0 < stats["p10"] <= stats["median"] <= stats["p90"] and stats["runs"] >= 5 and stats["warmup"] == 1
    median = {s: v["median"] for s, v in stages.items()}
    # The network dominates yolov3-tiny; the separately timed stages add up to about the end-to-end call.
    assert median["forward"] > median["pre"] and median["forward"] > median["post"]
    assert 0.5 <= (median["pre"] + median["forward"] + median["post"]) / median["e2e"] <= 2.0
    assert record["e2e_over_forward"] == pytest.approx(median["e2e"] / median["forward"])
    assert record["images_per_s"] == pytest.approx(1e3 / median["e2e"])
    assert record["machine"]["usable_cores"] >= 1 and record["versions"]["fastinfer"] == fastinfer.__version__


def test_cli_bench_summary_batch_and_backend(yolo_files, capsys):
    assert cli.main(["bench", str(yolo_files["cfg"]), "--batch", "2", "--backend", "opencv", "--input-size", "320",
                     *quick()]) == 0
    out = capsys.readouterr().out
    assert "detect, opencv fp32, 320x320, batch 2, image synthetic 640x480 noise" in out
    figures = {m[1]: float(m[2]) for m in re.finditer(r"^  (pre|forward|post|e2e) +([0-9.]+)", out, re.M)}
    assert list(figures) == ["pre", "forward", "post", "e2e"] and all(v > 0 for v in figures.values())
    ratio = float(re.search(r"end to end / forward alone: ([0-9.]+)x", out)[1])
    assert ratio == pytest.approx(figures["e2e"] / figures["forward"], abs=0.01)


class TinyClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "tiny.onnx"
    torch.manual_seed(0)
    report = fastinfer.export(TinyClassifier(), torch.rand(1, 3, 48, 32), path)  # fixed 32x48 (W x H)
    assert report.passed, str(report)
    return path


def test_benchmark_a_classifier_at_its_own_size(tiny_classifier):
    result = benchmarking.benchmark(tiny_classifier, task="classify", batch=3, warmup=1, min_runs=3, min_time=0)
    assert (result.task, result.input_size, result.batch, result.precision) == ("classify", (32, 48), 3, "fp32")
    assert set(result.stages) == set(benchmarking.STAGES)
    assert result.to_dict()["stages"]["e2e"]["runs"] >= 3


def test_bench_errors(yolo_files, tiny_classifier, tmp_path, raises_invalid, capsys):
    cfg = str(yolo_files["cfg"])
    with raises_invalid(r"batch must be an int >= 1, got 0"):
        benchmarking.benchmark(cfg, batch=0)
    with raises_invalid(r"task must be one of detect, classify; got 'segment'"):
        benchmarking.benchmark(cfg, task="segment")
    with raises_invalid(r"input_size must be an int or \(width, height\), got \[1, 2, 3\]"):
        benchmarking.benchmark(cfg, input_size=[1, 2, 3])
    with raises_invalid(r"input_size must be positive, got 0x0"):
        benchmarking.benchmark(cfg, input_size=0)
    with raises_invalid(r"precision 'int8' is not available for classifiers; use 'fp32'"):
        benchmarking.benchmark(tiny_classifier, task="classify", precision="int8")
    with raises_invalid(r"min_runs must be an int >= 1, got 0"):
        benchmarking.benchmark(cfg, min_runs=0)
    with pytest.raises(fastinfer.ModelLoadError, match=r"a Classifier runs ONNX models, got '.*yolov3-tiny.cfg'"):
        benchmarking.benchmark(cfg, task="classify")

    # The CLI prints the error and exits with status 2.
    for args, message in [(["--runs", "0"], "min_runs must be an int >= 1, got 0"),
                          (["--warmup", "-1"], "warmup must be an int >= 0, got -1"),
                          (["--min-time", "-2"], "min_time must be a finite number of seconds >= 0, got -2.0"),
                          (["--image", str(tmp_path / "none.jpg")], "none.jpg")]:
        assert cli.main(["bench", cfg, *args]) == 2
        assert message in capsys.readouterr().err
    assert cli.main(["bench", str(tmp_path / "absent.cfg")]) == 2
    assert "does not exist and is not a model zoo name" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", cfg, "--task", "segment"])
    assert exc.value.code == 2 and "invalid choice: 'segment'" in capsys.readouterr().err
