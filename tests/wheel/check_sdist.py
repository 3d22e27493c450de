"""``pip install`` of the sdist on a machine without OpenCV's development files fails early, naming the packages.

Run by ``make test-wheel`` as root (``make wheel`` has already built the
wheel from the same sdist, on this machine with the build dependencies)::

    .venv/bin/python tests/wheel/check_sdist.py dist/fastinfer-0.1.0.tar.gz

A fresh virtual environment runs ``pip install`` of the sdist (with build
isolation, as a user would) in a mount namespace where OpenCV's headers and
CMake files are empty folders. The install must fail at CMake's configure
step, before anything compiles, with the message naming the apt packages.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Where Debian/Ubuntu and source builds put OpenCV's headers and CMake package.
OPENCV_DEV_DIRS = ("/usr/include/opencv4", "/usr/local/include/opencv4", "/usr/lib/*/cmake/opencv4",
                   "/usr/lib/cmake/opencv4", "/usr/local/lib/cmake/opencv4", "/usr/share/OpenCV")
EXPECTED = ("fastinfer needs OpenCV's C++ development files",
            "apt-get install libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-dnn-dev")
HIDE_SCRIPT = """set -e
empty=$(mktemp -d)
IFS=:
for dir in $FASTINFER_HIDE_DIRS; do mount --bind "$empty" "$dir"; done
unset IFS
exec "$@"
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sdist", type=Path)
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        sys.exit("check_sdist: needs root and unshare(1), to hide OpenCV's headers in a mount namespace")
    hidden = [path for pattern in OPENCV_DEV_DIRS for path in glob.glob(pattern) if os.path.isdir(path)]
    if not hidden:
        sys.exit("check_sdist: found no OpenCV development files to hide; is this the build machine?")

    with tempfile.TemporaryDirectory(prefix="fastinfer-sdist-") as tmp:
        venv = Path(tmp, "venv")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        script = Path(tmp, "hide.sh")
        script.write_text(HIDE_SCRIPT)
        env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env.update(FASTINFER_HIDE_DIRS=":".join(hidden),
                   PATH=os.pathsep.join([str(venv / "bin"), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]))
        command = ["unshare", "--mount", "--propagation", "private", "sh", str(script), str(venv / "bin" / "python"),
                   "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", str(args.sdist.resolve())]
        print("+", " ".join(command), f"(hiding {' '.join(hidden)})", flush=True)
        started = time.perf_counter()
        result = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
    output = result.stdout + result.stderr
    flat = " ".join(output.split())
    problems = []
    if result.returncode == 0:
        problems.append("pip install succeeded without OpenCV's development files")
    problems += [f"the output does not say {text!r}" for text in EXPECTED if text not in flat]
    if "Building CXX object" in output or "Compiling" in output:
        problems.append("something was compiled before the build failed")
    if problems:
        print(output)
        sys.exit("check_sdist: " + "; ".join(problems))
    message = next(line.strip() for line in output.splitlines() if "fastinfer needs OpenCV" in line)
    print(f"sdist without OpenCV's headers: pip install failed after {elapsed:.0f} s, before compiling: {message} ...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
