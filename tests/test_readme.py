"""Every code block of README.md runs as written.

Python blocks run one by one, each in a fresh interpreter, in a folder holding Darknet's sample photos and
scikit-image's (``dog.jpg``, ``chelsea.png``, ...; ``photos/`` holds them too), with the model zoo's cache seeded
from the test data (the autouse ``fastinfer_home`` fixture). Shell blocks run with ``bash -e`` in the same
folder. Two kinds of block are not run here, and the test checks that a block is one of them rather than
skipping whatever fails: set-up blocks (every command is ``make``, ``pip``, ``git`` or ``cd``: what ``make demo``,
``make test`` and CI run) and the Ray Serve service block (a server that runs until stopped, and ``curl``
against it: ``tests/test_ray_serve.py`` runs ``fastinfer serve`` end to end). Blocks that ``import ray`` run
against a one-node Ray cluster on 127.0.0.1 that the test starts (``RAY_ADDRESS``) and ends by PID.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import raycluster
from conftest import DATA_DIR, ZOO_SEEDS
from fastinfer import models

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
SETUP_COMMAND = re.compile(r"^(make|pip|git|cd)\b")
SERVICE_COMMAND = re.compile(r"^(fastinfer serve|curl)\b")
TIMEOUT_S = 600


def _blocks() -> list[tuple[int, str, str]]:
    text = README.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def _commands(code: str) -> list[str]:
    return [line.split("  #")[0].strip() for line in code.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def _kind(lang: str, code: str) -> str:
    if lang == "python":
        return "python"
    if lang in ("sh", "bash"):
        commands = _commands(code)
        if commands and all(SETUP_COMMAND.match(c) for c in commands):
            return "setup"
        if commands and all(SERVICE_COMMAND.match(c) for c in commands):
            return "service"
        return "shell"
    return "text"


def _uses_ray(code: str) -> bool:
    return re.search(r"^import .*\bray\b", code, re.M) is not None


BLOCKS = _blocks()
RUN = [b for b in BLOCKS if _kind(b[1], b[2]) in ("python", "shell") and not _uses_ray(b[2])]
RUN_RAY = [b for b in BLOCKS if _kind(b[1], b[2]) == "python" and _uses_ray(b[2])]


def test_readme_blocks_are_code_or_said_why_not():
    """Only set-up and service blocks are not run; no block is plain text pretending to be code."""
    kinds = {line: _kind(lang, code) for line, lang, code in BLOCKS}
    assert "text" not in kinds.values(), f"README blocks without a runnable language: {kinds}"
    assert list(kinds.values()).count("service") <= 1
    first = BLOCKS[0]
    assert first[1] == "sh" and _commands(first[2]) == ["make demo", "make test"], \
        "the README starts with `make demo` and `make test`"


@pytest.fixture(scope="module")
def readme_dir(tmp_path_factory: pytest.TempPathFactory, photos: list[Path]) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    (folder / "photos").mkdir()
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
        shutil.copy(photo, folder / "photos" / photo.name)
    # The COCO-format example the README's validation section names.
    shutil.copy(Path(__file__).parent / "data" / "coco-sample.json", folder / "coco-sample.json")
    # A model cache of its own, seeded as the session's is: what the README's blocks fetch (yolov4-tiny) stays
    # out of the session's cache, whose contents other tests check.
    home = folder / "fastinfer-home"
    for name, models_folder in ZOO_SEEDS.items():
        models.seed(name, DATA_DIR / "models" / models_folder, cache_dir=home)
    return folder


def _run(line: int, lang: str, code: str, folder: Path, **extra_env: str) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               MPLBACKEND="Agg", **extra_env)
    env[models.HOME_ENV] = str(folder / "fastinfer-home")
    if lang == "python":
        command = [sys.executable, "-c", code]
    else:
        command = ["bash", "-e", "-o", "pipefail", "-c", code]
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, (f"README.md line {line} ({lang}) failed:\n{code}\n--- stdout\n"
                                    f"{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")


@pytest.mark.parametrize("line,lang,code", RUN, ids=[f"line{b[0]}" for b in RUN])
def test_readme_block_runs(line: int, lang: str, code: str, readme_dir: Path):
    _run(line, lang, code, readme_dir)


@pytest.mark.ray
@pytest.mark.parametrize("line,lang,code", RUN_RAY, ids=[f"line{b[0]}" for b in RUN_RAY])
def test_readme_ray_block_runs(line: int, lang: str, code: str, readme_dir: Path):
    import fastinfer

    fastinfer.Detector("yolov3-tiny")  # converted once here, so the actors find the ONNX file in the cache
    cluster = raycluster.Cluster(Path(tempfile.mkdtemp(prefix="fi-ray-", dir="/tmp")))
    try:
        cluster.start_node(2, head=True, ip="127.0.0.1")
        cluster.connect()
        _run(line, lang, code, readme_dir, RAY_ADDRESS=cluster.address,
             **{k: v for k, v in raycluster.env().items() if k.startswith("RAY_")})
    finally:
        raycluster.remove(cluster)
