"""Shared fixtures: the real model files and photos in ``shared/`` beside the repository.

``shared/`` is not part of the repository; it sits next to the repository root
(``<root>/../shared``). The tests need it and fail, with a message saying what
is missing, when it is not there: they are never skipped.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pytest

import fastinfer
from fastinfer import models

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
YOLO_DIR = SHARED_DIR / "models" / "yolov3-tiny"
YOLO_FILES = ("yolov3-tiny.cfg", "yolov3-tiny.weights", "coco.names")
IMAGE_SUFFIXES = (".jpg", ".png")


def _require_shared() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(
            f"the shared test data folder {SHARED_DIR} is missing: it must sit beside the repository root "
            "and hold models/yolov3-tiny/ (cfg, weights, coco.names) and images/ (the sample photos)",
            pytrace=False,
        )
    return SHARED_DIR


def _require_yolo_files() -> dict[str, Path]:
    _require_shared()
    files = {name: YOLO_DIR / name for name in YOLO_FILES}
    absent = [name for name, path in files.items() if not path.is_file()]
    if absent:
        pytest.fail(f"the real yolov3-tiny files are missing from {YOLO_DIR}: {', '.join(absent)}", pytrace=False)
    return files


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``shared/`` folder beside the repository root."""
    return _require_shared()


@pytest.fixture(scope="session")
def yolo_files() -> dict[str, Path]:
    """Paths of the real yolov3-tiny files, keyed ``cfg``, ``weights`` and ``names``."""
    files = _require_yolo_files()
    return {"cfg": files["yolov3-tiny.cfg"], "weights": files["yolov3-tiny.weights"], "names": files["coco.names"]}


@pytest.fixture(scope="session")
def photos(shared_dir: Path) -> list[Path]:
    """The sample photos in ``shared/images``, sorted by name."""
    folder = shared_dir / "images"
    found = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not found:
        pytest.fail(f"no sample photos (*.jpg, *.png) in {folder}", pytrace=False)
    return found


def _shared_model(shared_dir: Path, folder: str, name: str) -> Path:
    path = shared_dir / "models" / folder / name
    if not path.is_file():
        pytest.fail(f"the shared model {path} is missing", pytrace=False)
    return path


@pytest.fixture(scope="session")
def nudenet_model(shared_dir: Path) -> Path:
    """NudeNet's YOLOv8n ONNX export (18 classes, dynamic H/W, names in metadata)."""
    return _shared_model(shared_dir, "yolov8n-nudenet", "320n.onnx")


@pytest.fixture(scope="session")
def ddddocr_model(shared_dir: Path) -> Path:
    """ddddocr's YOLOX ONNX detector (1 class, 416x416)."""
    return _shared_model(shared_dir, "yolox-ddddocr", "common_det.onnx")


@pytest.fixture(scope="session")
def raises_invalid():
    """``raises_invalid(match)``: a context manager expecting ``fastinfer.InvalidInputError``.

    It checks the message first (any ``ValueError`` whose text matches), then
    that the exception is the public ``fastinfer.InvalidInputError``, so a
    failure says which of the two is wrong.
    """

    @contextlib.contextmanager
    def check(match: str):
        with pytest.raises(ValueError, match=match) as info:
            yield info
        assert isinstance(info.value, fastinfer.InvalidInputError), (
            f"expected fastinfer.InvalidInputError, got {type(info.value).__module__}.{type(info.value).__qualname__} "
            f"(MRO: {[c.__qualname__ for c in type(info.value).__mro__]}): {info.value}")

    return check


@pytest.fixture(scope="session", autouse=True)
def fastinfer_home(tmp_path_factory: pytest.TempPathFactory):
    """Points ``FASTINFER_HOME`` at a fresh folder seeded with yolov3-tiny, so nothing is downloaded."""
    _require_yolo_files()
    home = tmp_path_factory.mktemp("fastinfer-home")
    models.seed("yolov3-tiny", YOLO_DIR, cache_dir=home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(models.HOME_ENV, str(home))
        yield home


@pytest.fixture(autouse=True)
def _restore_fastinfer_logger():
    """``fastinfer.cli.main`` sets the level of the "fastinfer" logger; keep that out of other tests."""
    logger = logging.getLogger("fastinfer")
    level = logger.level
    yield
    logger.setLevel(level)
