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
cache's rules:

* verification (issue 17, defect 3): ``cached`` records each file's SHA-256
  beside it (``<file>.sha256``) once written, and builds the file again, with
  a WARNING naming it, when it no longer matches (flipped bytes, truncated,
  empty) or the record is missing or unreadable;
* clean-up (issue 17, defect 13): partial files are named with the writer's
  host and process id (``.<name>.<pid>@<host>.<random>.part``), and so are
  temporary folders (``temp_dir``); those of processes that are gone (killed)
  are removed by ``remove_stale_partials`` / ``remove_stale_temp_dirs``, which
  ``cached`` and the zoo's fetch call; ``cleanup_on_sigterm`` lets a SIGTERM
  unwind (removing them) before the process ends.

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
import re
import secrets
import shutil
import signal
import socket
import tempfile
import threading
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


HASH_SUFFIX = ".sha256"
_PARTIAL = re.compile(r"^\..+\.(\d+)@([A-Za-z0-9-]+)\.[A-Za-z0-9_-]+\.part$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OSError:
        return True
    return True


def partial_path(final: Path) -> Path:
    """A fresh partial-file path beside ``final``, tagged with this process (see the module's docstring)."""
    return final.with_name(f".{final.name}.{os.getpid()}@{_host()}.{secrets.token_hex(4)}.part")


def _stale(name: str) -> bool:
    match = _PARTIAL.match(name)
    return match is not None and match.group(2) == _host() and not pid_alive(int(match.group(1)))


def remove_stale_partials(where: Path) -> list[Path]:
    """Removes the partial files in ``where`` left by processes of this machine that are gone."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(where):
            if entry.name.endswith(".part") and _stale(entry.name):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    for path in removed:
        log.info("removed the partial file %s left by an interrupted process", path)
    return removed


def _temp_prefix(prefix: str, pid: int) -> str:
    return f"{prefix}{pid}@{_host()}-"


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder ``<tmp>/<prefix><pid>@<host>-XXXX``, removed on exit (stale ones: see below)."""
    with tempfile.TemporaryDirectory(prefix=_temp_prefix(prefix, os.getpid())) as tmp:
        yield Path(tmp)


def remove_stale_temp_dirs(prefix: str) -> list[Path]:
    """Removes the folders of :func:`temp_dir` with this ``prefix`` whose process is gone."""
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)@([A-Za-z0-9-]+)-")
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(tempfile.gettempdir()):
            match = pattern.match(entry.name)
            if match and match.group(2) == _host() and not pid_alive(int(match.group(1))):
                shutil.rmtree(entry.path, ignore_errors=True)
                if not os.path.exists(entry.path):
                    removed.append(Path(entry.path))
    for path in removed:
        log.info("removed the temporary folder %s left by an interrupted process", path)
    return removed


class Terminated(BaseException):
    """Raised by :func:`cleanup_on_sigterm`'s handler, so that ``finally`` blocks run before the process ends."""


@contextlib.contextmanager
def cleanup_on_sigterm() -> Iterator[None]:
    """Lets a SIGTERM during the block unwind it (removing partial files and temporary folders), then end the
    process by SIGTERM as it would have ended.

    Only in the main thread, and only when SIGTERM has its default action (an application's own handler is
    left alone). SIGKILL cannot be caught: :func:`remove_stale_partials` cleans up after it.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        log.warning("terminated: removed partial files")
        signal.raise_signal(signal.SIGTERM)
        raise  # pragma: no cover - not reached: the default action ends the process
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _hash_path(path: Path) -> Path:
    return path.with_name(path.name + HASH_SUFFIX)


def record_hash(path: Path, digest: str | None = None) -> str:
    """Writes ``<path>.sha256`` (``<hex>  <name>``, atomically) for the file as it is now; returns the hash."""
    digest = digest or sha256_file(path)
    with atomic_path(_hash_path(path), "hash record") as tmp:
        tmp.write_text(f"{digest}  {path.name}\n", encoding="ascii")
    return digest


def verify(path: Path) -> str | None:
    """None if ``path`` matches its recorded SHA-256, else what is wrong with it."""
    if not path.is_file():
        return "it is missing"
    try:
        text = _hash_path(path).read_text(encoding="ascii")
    except FileNotFoundError:
        return f"it has no recorded hash ({_hash_path(path).name})"
    except (OSError, UnicodeDecodeError) as exc:
        return f"its hash record {_hash_path(path).name} is unreadable: {exc}"
    fields = text.split()
    if not fields or not re.fullmatch(r"[0-9a-f]{64}", fields[0]):
        return f"its hash record {_hash_path(path).name} is not a SHA-256"
    try:
        actual = sha256_file(path)
    except OSError as exc:
        return f"it cannot be read: {exc.strerror or exc}"
    if actual != fields[0]:
        return (f"its SHA-256 {actual} is not the one recorded when it was written ({fields[0]}; "
                f"{path.stat().st_size} bytes): it was damaged")
    return None


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
        tmp = partial_path(final)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise ModelLoadError(f"cannot write {what} '{final}': {exc.strerror or exc}") from exc
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
    entry atomically once ``build`` returns, and its SHA-256 is recorded beside
    it. A file that no longer matches its record is built again (WARNING).
    """
    target = folder(kind, cache_dir) / f"{key}{suffix}"
    remove_stale_partials(target.parent)
    problem = verify(target)
    if problem is None:
        log.debug("%s found in the cache: %s", what, target)
        return target
    if target.exists() or _hash_path(target).exists():  # issue 17, defect 3: never used unverified
        log.warning("cached %s %s is not usable: %s; building it again", what, target, problem)
    with cleanup_on_sigterm():
        with atomic_path(target, what) as tmp:
            build(tmp)
        try:
            record_hash(target)
        except OSError as exc:
            raise ModelLoadError(f"cannot write the hash record of {what} '{target}': {exc.strerror or exc}") from exc
    log.debug("%s cached: %s", what, target)
    return target
