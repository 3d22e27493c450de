"""Writes the INT8 calibration photos that ship with fastinfer, from scikit-image's pinned wheel.

``python/fastinfer/data/calibration/`` holds a few small, freely licensed
photos (public domain or CC0, each licence as scikit-image's own docstrings
state it in ``skimage/data/_fetchers.py`` of the same wheel) that
``precision="int8"`` calibrates on when no images are given, so INT8 works
from a plain ``pip install``. This script regenerates them:

1. ``pip download --no-deps scikit-image==0.25.2`` (or ``--wheel FILE``);
2. reads each photo out of the wheel and checks its SHA-256 against the one
   written below (a wheel with other bytes is refused);
3. shrinks it so that its longer side is at most 320 pixels (``cv2.INTER_AREA``;
   grey photos become 3-channel) and writes it as a JPEG of quality 90 with
   pip's OpenCV.

The JPEG bytes depend on the libjpeg that OpenCV bundles, so another cv2
version may write files that differ slightly (the originals' hashes are what
is checked). The README beside the photos records each one's source, the
original's SHA-256 and its licence.

Usage::

    python scripts/make_calibration_set.py [--wheel scikit_image-0.25.2-*.whl] [--out python/fastinfer/data/calibration]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

REQUIREMENT = "scikit-image==0.25.2"
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "python" / "fastinfer" / "data" / "calibration"
MAX_SIDE = 320
QUALITY = 90

#: name in the wheel's skimage/data/ -> (SHA-256 of that file, licence as scikit-image states it, what it shows)
PHOTOS = {
    "astronaut.png": ("88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
                      "public domain (NASA; \"No known copyright restrictions, released into the public domain\")",
                      "a person (astronaut Eileen Collins) and a flag"),
    "chelsea.png": ("596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
                    "CC0 (photographer Stefan van der Walt)", "a cat"),
    "coffee.png": ("cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
                   "CC0 (photographer Rachel Michetti)", "a cup of coffee on a saucer, a spoon"),
    "rocket.jpg": ("c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
                   "public domain (SpaceX, released into the public domain)", "a rocket on its launch pad, sky"),
    "camera.png": ("b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
                   "CC0 (photographer Lav Varshney)", "a person with a camera on a tripod (grey)"),
    "clock_motion.png": ("f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955",
                         "public domain (photographer Stefan van der Walt)", "a wall clock, motion-blurred (grey)"),
}


def fetch_wheel(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
                    REQUIREMENT, "-d", str(folder)], check=True)
    wheels = sorted(folder.glob("scikit_image-*.whl"))
    if not wheels:
        sys.exit(f"make_calibration_set: pip downloaded no wheel of {REQUIREMENT}")
    return wheels[0]


def shrink(data: bytes, name: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        sys.exit(f"make_calibration_set: cannot decode {name}")
    h, w = image.shape[:2]
    scale = MAX_SIDE / max(h, w)
    if scale < 1:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {REQUIREMENT} wheel (default: pip download it)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write the photos into")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fastinfer-calibration-") as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            for name, (sha256, _, _) in PHOTOS.items():
                data = archive.read(f"skimage/data/{name}")
                found = hashlib.sha256(data).hexdigest()
                if found != sha256:
                    sys.exit(f"make_calibration_set: skimage/data/{name} in {wheel.name} has SHA-256 {found}, "
                             f"expected {sha256}")
                image = shrink(data, name)
                target = args.out / (Path(name).stem + ".jpg")
                if not cv2.imwrite(str(target), image, [cv2.IMWRITE_JPEG_QUALITY, QUALITY]):
                    sys.exit(f"make_calibration_set: cannot write {target}")
                line = (f"{target.name}: {image.shape[1]}x{image.shape[0]}, {target.stat().st_size} bytes, "
                        f"SHA-256 {hashlib.sha256(target.read_bytes()).hexdigest()}")
                print(line)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
