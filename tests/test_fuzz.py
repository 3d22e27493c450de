"""Fuzzing the loaders: seeded random mutations of the real cfg, weights and ONNX files (tests/fuzz_cases.py),
run in child processes in batches. Any signal, hang, or exception other than a ``fastinfer.FastInferError``
fails the test with the cases that caused it.

The test suite runs a bounded number of cases with a fixed seed (``FASTINFER_FUZZ_CASES`` cases per target,
default 40; ``FASTINFER_FUZZ_SEED``, default 0); ``make fuzz`` runs a longer one with a fresh seed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CASES = int(os.environ.get("FASTINFER_FUZZ_CASES", "40"))
SEED = int(os.environ.get("FASTINFER_FUZZ_SEED", "0"))
BATCH = int(os.environ.get("FASTINFER_FUZZ_BATCH", "30"))


def run_batch(target: str, first: int, count: int, files: dict[str, Path],
              keep: Path) -> tuple[list[str], str, int]:
    """Runs cases first..first+count-1; returns the findings, a summary line and the last case that ran."""
    command = [sys.executable, str(HERE / "fuzz_cases.py"), target, "--seed", str(SEED), "--first", str(first),
               "--count", str(count), "--keep", str(keep)] + [f"--{k}={v}" for k, v in files.items()]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60 + 10 * count,
                              env=dict(os.environ, OMP_NUM_THREADS="1"))
        stdout, code, how = done.stdout, done.returncode, None
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        code, how = None, "hung (timeout)"
    findings = [line for line in stdout.splitlines() if line.startswith("FAIL ")]
    started = [line for line in stdout.splitlines() if line.startswith("START ")]
    ended = {line.split()[1] for line in stdout.splitlines() if line.startswith(("OK ", "FAIL "))}
    unfinished = [line for line in started if line.split()[1] not in ended]
    if code is not None and code != 0:
        how = f"signal {-code}" if code < 0 else f"exit status {code}: {done.stderr[-1500:]}"
    last = first + count - 1
    if how:
        case = unfinished[-1] if unfinished else "(before any case started)"
        findings.append(f"{how} in {case}")
        last = int(unfinished[-1].split()[1]) if unfinished else first
    ok = sum(1 for line in stdout.splitlines() if line.startswith("OK "))
    return findings, f"{target} cases {first}..{last}: {ok} ok", last


@pytest.fixture(scope="module")
def fuzz_files(yolo_files, nudenet_model) -> dict[str, Path]:
    return {"cfg": yolo_files["cfg"], "weights": yolo_files["weights"], "mini": HERE / "data" / "yolov4-tiny-mini.cfg",
            "onnx": nudenet_model}


@pytest.mark.parametrize("target", ["cfg", "weights", "onnx"])
def test_fuzz(target, fuzz_files, tmp_path):
    findings: list[str] = []
    first = 0
    while first < CASES:
        count = min(BATCH, CASES - first)
        found, summary, last = run_batch(target, first, count, fuzz_files, tmp_path / f"batch{first}")
        print(summary)
        findings += found
        # A process that died at one case goes on after it, so one crash does not hide the rest.
        first = last + 1
    assert not findings, (f"{len(findings)} of {CASES} {target} cases (seed {SEED}) failed; reproduce one with "
                          f"python tests/fuzz_cases.py {target} --seed {SEED} --first I --count 1 ...\n"
                          + "\n".join(findings))
