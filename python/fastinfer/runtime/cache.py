"""fastinfer's cache: keyed files under one folder, written atomically.

Everything fastinfer keeps between runs lives under ``home()``
(``$FASTINFER_HOME``, else ``~/.cache/fastinfer``), one folder per kind:

* ``models/<name>/``: model zoo downloads (``fastinfer.models``);
* ``onnx/<key>.onnx``: Darknet models converted to ONNX (``fastinfer.convert``);
* ``int8/<key>.onnx``: INT8 copies (``fastinfer.quantize``).

A key is the SHA-256 of what the file is made from (``Key``). Files are
written to a temporary ``.part`` file beside their final path and renamed
onto it (``atomic_path``, ``atomic_file``), so a reader, another process
included, never sees a partial file. This module is the one place for the
cache's rules (verification and clean-up of partial files belong here too).

Example:
    >>> key = Key("my-recipe 1").file("model.onnx").text("640x640").hexdigest()
    >>> cached("int8", key, ".onnx", lambda tmp: build_into(tmp))
    PosixPath('/home/me/.cache/fastinfer/int8/3f2a....onnx')
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, BinaryIO, Callable, Iterator, Optional, Union

from ..errors import ModelLoadError

log = logging.getLogger(__name__)

HOME_ENV = "FASTINFER_HOME"
DEFAULT_HOME = "~/.cache/fastinfer"
CHUNK = 1 << 20

PathLike = Union[str, "os.PathLike[str]"]


def home(cache_dir: Optional[PathLike] = None) -> Path:
    """fastinfer's cache folder: ``cache_dir``, else ``$FASTINFER_HOME``, else ``~/.cache/fastinfer``."""
    if cache_dir is not None:
        root = Path(cache_dir)
    else:
        env = os.environ.get(HOME_ENV, "").strip()
        root = Path(env) if env else Path(DEFAULT_HOME)
    return root.expanduser().absolute()


def folder(kind: str, cache_dir: Optional[PathLike] = None, *, create: bool = True) -> Path:
    """The cache's folder for ``kind`` (``"onnx"``, ``"int8"``, ``"models/<name>"``), created if asked."""
    path = home(cache_dir) / kind
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelLoadError(f"cannot create the cache folder {path}: {exc.strerror or exc}") from exc
    return path


def iter_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """The bytes of an open binary file, ``CHUNK`` at a time."""
    while True:
        chunk = handle.read(CHUNK)
        if not chunk:
            return
        yield chunk


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter_chunks(handle):
            digest.update(chunk)
    return digest.hexdigest()


class Key:
    """A cache key built up from text, bytes and files: the SHA-256 of all of them in order."""

    def __init__(self, recipe: str = "") -> None:
        self._digest = hashlib.sha256()
        if recipe:
            self.text(recipe)

    def text(self, value: str) -> Key:
        """Adds a line of text (a recipe version, a size, settings)."""
        self._digest.update(value.encode() + b"\n")
        return self

    def data(self, value: bytes) -> Key:
        """Adds bytes, by their own SHA-256 (so boundaries between parts stay distinct)."""
        self._digest.update(hashlib.sha256(value).digest())
        return self

    def file(self, path: PathLike, label: str = "file") -> Key:
        """Adds a file's size and bytes; ``ModelLoadError`` naming ``label`` if it cannot be read."""
        path = Path(path)
        try:
            self.text(f"{label} {path.stat().st_size}")
            with open(path, "rb") as handle:
                for chunk in iter_chunks(handle):
                    self._digest.update(chunk)
        except OSError as exc:
            raise ModelLoadError(f"cannot read {label} '{path}': {exc.strerror or exc}") from exc
        return self

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: PathLike, what: str = "file") -> Iterator[Path]:
    """A temporary path beside ``path`` to write; renamed onto ``path`` when the block ends without error.

    For tools that write a file by name (ONNX Runtime's quantizer, ``onnx.save``).
    The temporary file is removed if the block fails; an ``OSError`` becomes a
    ``ModelLoadError`` saying that the ``what`` cannot be written.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    except OSError as exc:
        raise ModelLoadError(f"cannot write {what} '{final}': {exc.strerror or exc}") from exc
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)  # same folder: atomic
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ModelLoadError(f"cannot write {what} '{final}': {exc.strerror or exc}") from exc
        raise


@contextlib.contextmanager
def atomic_file(path: PathLike, what: str = "file") -> Iterator[BinaryIO]:
    """An open binary file to write, renamed onto ``path`` (after ``fsync``) when the block ends without error."""
    with atomic_path(path, what) as tmp:
        with open(tmp, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def cached(kind: str, key: str, suffix: str, build: Callable[[Path], object], *,
           cache_dir: Optional[PathLike] = None, what: str = "file") -> Path:
    """``<home>/<kind>/<key><suffix>``, built by ``build(temporary_path)`` the first time, reused after.

    ``build`` writes the file at the path it is given; it becomes the cache
    entry atomically once ``build`` returns.
    """
    target = folder(kind, cache_dir) / f"{key}{suffix}"
    if target.is_file():
        log.debug("%s found in the cache: %s", what, target)
        return target
    with atomic_path(target, what) as tmp:
        build(tmp)
    log.debug("%s cached: %s", what, target)
    return target
