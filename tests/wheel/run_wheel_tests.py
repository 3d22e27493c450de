"""Installs the repaired wheel into a fresh virtual environment and runs the detection tests against it.

Run by ``make test-wheel`` with the source build's interpreter, as root::

    .venv/bin/python tests/wheel/run_wheel_tests.py dist/fastinfer-0.1.0-cp311-cp311-manylinux_2_35_x86_64.whl

1. A fresh venv in a temporary folder outside the source tree gets the wheel
   (numpy, onnxruntime and onnx pinned to the source build's versions, so both
   run the same code) and the test tools.
2. The source build (this interpreter's fastinfer) records the reference: its
   detections of the sample photos on both backends, its frames of a short
   video, and its errors on the formats the wheel stands in for.
3. ``test_detector.py``, the conftest and helpers it uses and
   ``wheel_checks.py`` are copied into that folder, pytest reads the source
   tree's test data (``$FASTINFER_TESTDATA``), and runs there in a mount namespace where every system
   library the source build's extension loads (OpenCV first) is an empty
   file, except those Python's standard library itself loads and those the
   manylinux policy lets a wheel expect from the system.
4. The import and first-inference times of the installed wheel are measured
   in the same namespace and printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

import fastinfer
from fastinfer import _core, models

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))
import testdata  # noqa: E402 - the test-data folder (`make testdata`) of this source tree

DATA = testdata.folder()
DETECTION_TESTS = ["test_detector.py"]
PINNED = ["numpy", "onnxruntime", "onnx", "pytest", "opencv-python-headless"]
TEST_TOOLS = ["pytest", "opencv-python-headless", "pyelftools"]
BACKENDS = ("auto", "opencv")
# Libraries a manylinux wheel may take from the system (auditwheel's policy):
# glibc, the GCC runtime, zlib, expat, and the X11, GL and GLib client libraries.
MANYLINUX_SYSTEM = {
    "libc.so.6", "libm.so.6", "libmvec.so.1", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libutil.so.1",
    "libnsl.so.1", "libanl.so.1", "libresolv.so.2", "ld-linux-x86-64.so.2", "libstdc++.so.6", "libgcc_s.so.1",
    "libatomic.so.1", "libz.so.1", "libexpat.so.1", "libX11.so.6", "libXext.so.6", "libXrender.so.1",
    "libICE.so.6", "libSM.so.6", "libGL.so.1", "libgobject-2.0.so.0", "libgthread-2.0.so.0", "libglib-2.0.so.0",
}
# The programs the namespace runs besides Python: mount hides, ldd (a bash script) checks.
TOOLS = ("mount", "sh", "bash")
HIDE_SCRIPT = """set -e
while IFS= read -r path; do mount --bind /dev/null "$path"; done < "$FASTINFER_WHEEL_HIDDEN"
exec "$@"
"""
TIMING_SCRIPT = r"""
import json, os, statistics, subprocess, sys, time
from pathlib import Path
home, photo = Path(sys.argv[1]), sys.argv[2]
os.environ["FASTINFER_HOME"] = str(home)
def fresh(code):
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])
imports = [fresh("import time; t = time.perf_counter(); import fastinfer; print(time.perf_counter() - t)")
           for _ in range(7)]
first = '''
import json, time
t0 = time.perf_counter()
import fastinfer
t1 = time.perf_counter()
det = fastinfer.Detector("yolov3-tiny")
t2 = time.perf_counter()
det(%r)
t3 = time.perf_counter()
steady = []
for _ in range(20):
    s = time.perf_counter(); det(%r); steady.append(time.perf_counter() - s)
steady.sort()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first_call": t3 - t2, "steady": steady[10]}))
''' % (photo, photo)
cold = fresh(first)   # Darknet -> ONNX conversion on the first load
warm = fresh(first)   # the converted model from the cache
print(json.dumps({"import_median": statistics.median(imports), "cold": cold, "warm": warm}))
"""


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join("<script>" if "\n" in str(part) else str(part) for part in command), flush=True)
    return subprocess.run([str(part) for part in command], check=True, **kwargs)


def loaded_by(path: Path | str) -> dict[str, Path]:
    """SONAME -> real path of every library the loader resolves for ``path``."""
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True).stdout
    return {name: Path(target).resolve() for name, target in re.findall(r"^\s*(\S+) => (/\S+)", out, re.MULTILINE)}


def hidden_libraries(venv_python: Path) -> list[Path]:
    """System libraries of the source build to hide from the wheel test: every one but those Python's standard
    library and the namespace's tools load, and those the manylinux policy lets a wheel expect."""
    source = loaded_by(_core.__file__)
    ldconfig = subprocess.run([shutil.which("ldconfig") or "/sbin/ldconfig", "-p"], capture_output=True,
                              text=True).stdout
    for name, target in re.findall(r"^\s*(libopencv_\S+) .*=> (/\S+)", ldconfig, re.MULTILINE):
        source[name] = Path(target).resolve()
    keep: set[Path] = set()
    dynload = subprocess.run([venv_python, "-c", "import sysconfig; print(sysconfig.get_config_var('DESTSHARED'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    tools = [shutil.which(tool) for tool in TOOLS]
    for program in [Path(sys.executable).resolve(), *Path(dynload).glob("*.so"), *filter(None, tools)]:
        keep.update(loaded_by(program).values())
    for name, path in source.items():
        if name in MANYLINUX_SYSTEM:
            keep.add(path)
            keep.update(loaded_by(path).values())
    return sorted(set(source.values()) - keep)


def failure(call, path) -> str | None:
    """``"ErrorType: message"`` of what ``call(path)`` raises (None if it does not)."""
    try:
        call(path)
    except fastinfer.FastInferError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@contextlib.contextmanager
def quiet_stderr():
    """Sends what native code writes to file descriptor 2 to /dev/null."""
    saved = os.dup(2)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def write_reference(work: Path, photos: list[Path]) -> Path:
    """The source build's results, for the wheel to reproduce."""
    cfg = DATA / "models" / "yolov3-tiny" / "yolov3-tiny.cfg"
    arrays: dict[str, np.ndarray] = {}
    for backend in BACKENDS:
        detector = fastinfer.Detector(cfg, backend=backend)
        for photo in photos:
            dets = detector(photo)
            for field in ("xyxy", "confidence", "class_id"):
                arrays[f"{backend}/{photo.name}/{field}"] = getattr(dets, field)
    errors = {}
    for name, content in {"fake.dcm": b"\0" * 128 + b"DICM" + b"\1" * 256,
                          "fake.ntf": b"NITF02.10" + b"\0" * 400}.items():
        (work / name).write_bytes(content)
        with quiet_stderr():  # GDCM and GDAL describe the invalid files there
            errors[str(work / name)] = failure(fastinfer.read_image, work / name)
    video = {}
    if hasattr(_core, "VideoReader"):
        import cv2  # the test peer writes the clip (pip's OpenCV has its own FFmpeg)

        path = work / "clip.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
        for photo in photos:
            writer.write(cv2.resize(cv2.imread(str(photo)), (320, 240)))
        writer.release()
        with _core.VideoReader(str(path)) as reader:
            frames = []
            while (frame := reader.read()) is not None:
                frames.append(frame)
            video = {"path": str(path), "backend": reader.backend}
        arrays["video/frames"] = np.stack(frames)
        # Not a video: FFmpeg fails, then OpenCV tries its other backends (GStreamer's a stand-in in the wheel).
        (work / "not-a-video.mp4").write_bytes(b"\0" * 4096)
        with quiet_stderr():
            video["errors"] = {str(work / "not-a-video.mp4"): failure(_core.VideoReader, str(work / "not-a-video.mp4"))}
    reference = work / "reference.npz"
    np.savez(reference, **arrays)
    (work / "reference.json").write_text(json.dumps({"errors": errors, "video": video,
                                                     "has_video": hasattr(_core, "VideoReader")}))
    return reference


def copy_tests(tree: Path) -> None:
    """The detection tests, the helpers and conftest they use, and the wheel checks, with pytest's settings."""
    import tomllib

    tests = tree / "tests"
    tests.mkdir(parents=True)
    for path in TESTS.glob("*.py"):
        if not path.name.startswith("test_") or path.name in DETECTION_TESTS:
            shutil.copy(path, tests / path.name)
    shutil.copy(Path(__file__).with_name("wheel_checks.py"), tests / "test_wheel.py")
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    lines = ["[pytest]", "testpaths = tests", "addopts = " + " ".join(options.get("addopts", [])),
             "filterwarnings =", *(f"    {rule}" for rule in options.get("filterwarnings", []))]
    (tree / "pytest.ini").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    wheel = args.wheel.resolve()
    if testdata.missing(DATA):
        sys.exit(f"run_wheel_tests: the test data in {DATA} is incomplete; run `make testdata`")
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        sys.exit("run_wheel_tests: needs root and unshare(1), to hide the system libraries in a mount namespace")

    work = Path(tempfile.mkdtemp(prefix="fastinfer-wheel-"))
    try:
        venv = work / "venv"
        python = venv / "bin" / "python"
        run([sys.executable, "-m", "venv", venv])
        pins = work / "constraints.txt"
        pins.write_text("".join(f"{name}=={version(name)}\n" for name in PINNED))
        run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", pins, wheel, *TEST_TOOLS],
            cwd=work)

        os.environ[models.HOME_ENV] = str(work / "source-home")
        models.seed("yolov3-tiny", DATA / "models" / "yolov3-tiny", cache_dir=work / "source-home")
        photos = sorted(p for p in (DATA / "images").glob("*") if p.suffix.lower() in (".jpg", ".png"))
        reference = write_reference(work, photos)
        tree = work / "tree"
        copy_tests(tree)
        hidden = hidden_libraries(python)
        (work / "hidden.txt").write_text("".join(f"{path}\n" for path in hidden))
        (work / "hide.sh").write_text(HIDE_SCRIPT)
        print(f"hiding {len(hidden)} system libraries from the wheel: "
              f"{' '.join(p.name for p in hidden if p.name.startswith('libopencv'))} ...", flush=True)

        env = {key: value for key, value in os.environ.items()
               if key not in ("LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "VIRTUAL_ENV", models.HOME_ENV)}
        env.update(FASTINFER_WHEEL_HIDDEN=str(work / "hidden.txt"), FASTINFER_WHEEL_REFERENCE=str(reference),
                   FASTINFER_TESTDATA=str(DATA),
                   PATH=os.pathsep.join([str(venv / "bin"), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]))
        isolated = ["unshare", "--mount", "--propagation", "private", "sh", work / "hide.sh"]
        started = time.perf_counter()
        run([*isolated, python, "-m", "pytest", "-p", "no:cacheprovider", "-q", *(f"tests/{name}" for name in
             [*DETECTION_TESTS, "test_wheel.py"])], cwd=tree, env=env)
        print(f"wheel tests: {time.perf_counter() - started:.0f} s")

        timing_home = work / "timing-home"
        models.seed("yolov3-tiny", DATA / "models" / "yolov3-tiny", cache_dir=timing_home)
        out = run([*isolated, python, "-c", TIMING_SCRIPT, timing_home, DATA / "images" / "dog.jpg"], cwd=work,
                  env=env, capture_output=True, text=True).stdout
        timing = json.loads(out.strip().splitlines()[-1])
        print(f"wheel: {wheel.name}, {wheel.stat().st_size / 1e6:.1f} MB")
        print(f"import fastinfer: {timing['import_median'] * 1e3:.0f} ms (median of 7 fresh interpreters)")
        for name, label in (("cold", "first run, Darknet -> ONNX conversion"), ("warm", "converted model cached")):
            t = timing[name]
            print(f"yolov3-tiny on dog.jpg, {label}: load {t['load'] * 1e3:.0f} ms, first detection "
                  f"{t['first_call'] * 1e3:.0f} ms, then {t['steady'] * 1e3:.1f} ms (median of 20)")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
