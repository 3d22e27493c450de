"""Repairs a fastinfer wheel into a manylinux wheel that carries the OpenCV it links.

``auditwheel repair`` copies every shared library the extension needs (outside
the manylinux whitelist) into ``fastinfer.libs/`` and points the extension at
those copies. Debian's OpenCV (and its FFmpeg) link optional readers whose
libraries would drag ~200 more libraries into the wheel, for formats and
devices fastinfer's users do not read. Those libraries (``STAND_INS`` below)
are replaced by stand-ins built here: one small library with the same SONAME
that defines exactly the symbols the kept libraries import from it, each
throwing ``std::runtime_error`` if it is ever called (OpenCV's ``imread`` and
``VideoCapture`` catch that and report the file as unreadable), its objects
zero-filled. auditwheel is pointed at the stand-ins through
``AUDITWHEEL_LD_LIBRARY_PATH``, so it grafts them instead of the real ones and
everything behind them drops out of the wheel.

Usage::

    python scripts/repair_wheel.py dist/raw/fastinfer-*.whl -w dist
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import deque
from pathlib import Path

from elftools.elf.elffile import ELFFile

# SONAME pattern -> what OpenCV 4.6 uses the library for, and why it can go.
# make test-wheel reads photos and a video through the stand-ins.
STAND_INS = {
    "libgdal.so.*": "OpenCV's GDAL raster reader, tried last, for NITF and DTED files or cv::IMREAD_LOAD_GDAL; "
                    "GDAL's own dependencies (databases, TLS, HDF5, PDF, ...) are ~120 libraries and ~150 MB",
    "libgdcm*.so.*": "OpenCV's DICOM (medical image) reader; ~10 MB with its own dependencies",
    "libGLX.so.*": "OpenCV's OpenGL interop (cv::ogl); needs libX11, which slim systems lack",
    # videoio: files and cameras are read through FFmpeg and V4L2; these are
    # its other backends, each tried only after those fail (OpenCV catches
    # the stand-in's exception and moves on).
    "libgst*.so.*": "OpenCV's GStreamer video backend (GStreamer pipelines)",
    "libdc1394.so.*": "OpenCV's FireWire (IIDC) camera backend",
    "libgphoto2*.so.*": "OpenCV's gPhoto2 (still camera) backend",
    # FFmpeg (Debian's build links every optional library): ones it calls only
    # when a stream of their kind is opened, never while probing a file or
    # registering codecs, and heavy with what they bring.
    "libcodec2.so.*": "FFmpeg's Codec 2 speech codec; 17 MB",
    "librsvg-2.so.*": "FFmpeg's SVG image decoder; with Cairo, Pango and HarfBuzz ~20 MB",
    "libcairo.so.*": "FFmpeg's SVG image decoder draws with it",
    "libxml2.so.*": "FFmpeg's DASH and IMF manifest readers; with ICU's data ~35 MB",
}
# Functions of those libraries that OpenCV calls on its ordinary paths, where
# doing nothing is right: imgcodecs registers GDAL's drivers when it sets up
# its decoders, before the first imread.
NO_OPS = {"GDALAllRegister"}

STUB_SOURCE = """\
// A stand-in for {soname}, written by scripts/repair_wheel.py: {why}.
#include <stdexcept>
#include <string>

namespace {{
[[noreturn]] void missing(const char* symbol) {{
  throw std::runtime_error(std::string("{soname} is not bundled with the fastinfer wheel: ") + symbol +
                           " is unavailable (build fastinfer from source for it)");
}}
}}  // namespace

#define FUNCTION(id, symbol) \\
  __attribute__((visibility("default"))) void id() __asm__(symbol); \\
  void id() {{ missing(symbol); }}
#define NO_OP(id, symbol) \\
  __attribute__((visibility("default"))) void id() __asm__(symbol); \\
  void id() {{}}
#define OBJECT(id, symbol, size) \\
  __attribute__((visibility("default"), aligned(16))) unsigned char id[size] __asm__(symbol) = {{}};

extern "C" {{
{definitions}
}}
"""


class Library:
    """The dynamic section and symbols of one ELF shared object."""

    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as file:
            elf = ELFFile(file)
            dynamic = elf.get_section_by_name(".dynamic")
            tags = list(dynamic.iter_tags()) if dynamic else []
            self.needed = [tag.needed for tag in tags if tag.entry.d_tag == "DT_NEEDED"]
            sonames = [tag.soname for tag in tags if tag.entry.d_tag == "DT_SONAME"]
            self.soname = sonames[0] if sonames else path.name
            self.defined: dict[str, tuple[str, int]] = {}  # name -> (type, size)
            self.undefined: dict[str, str | None] = {}  # strong references: name -> version
            versions = _needed_versions(elf)
            versym = elf.get_section_by_name(".gnu.version")
            for index, symbol in enumerate(elf.get_section_by_name(".dynsym").iter_symbols()):
                bind, kind = symbol["st_info"]["bind"], symbol["st_info"]["type"]
                if not symbol.name or bind not in ("STB_GLOBAL", "STB_WEAK", "STB_GNU_UNIQUE"):
                    continue
                if symbol["st_shndx"] != "SHN_UNDEF":
                    self.defined[symbol.name] = (kind, symbol["st_size"])
                elif bind == "STB_GLOBAL":  # weak references may stay unresolved
                    ndx = versym.get_symbol(index)["ndx"] if versym else 0
                    self.undefined[symbol.name] = versions.get(ndx) if isinstance(ndx, int) else None


def _needed_versions(elf: ELFFile) -> dict[int, str]:
    """Version index -> version name of the symbol versions an object requires."""
    section = elf.get_section_by_name(".gnu.version_r")
    if section is None:
        return {}
    return {aux["vna_other"]: aux.name for _, auxes in section.iter_versions() for aux in auxes}


def resolved_libraries(extension: Path) -> dict[str, Path]:
    """SONAME -> path of every library the loader resolves for ``extension`` (``ldd``)."""
    out = subprocess.run(["ldd", str(extension)], check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        match = re.match(r"\s*(\S+) => (\S+)", line)
        if match and match.group(2) == "not":
            sys.exit(f"repair_wheel: {extension.name} needs {match.group(1)}, which the loader cannot find")
        if match:
            found[match.group(1)] = Path(match.group(2))
    return found


def stand_in_plan(extensions: list[Path]) -> dict[str, tuple[str, dict[str, tuple[str, int, str | None]]]]:
    """For each library to stand in for: (why, {symbol: (type, size, version)}) that the kept libraries use."""
    paths: dict[str, Path] = {}
    for extension in extensions:
        paths.update(resolved_libraries(extension))
    libraries = {soname: Library(path) for soname, path in paths.items()}

    def stood_in(soname: str) -> str | None:
        return next((why for pattern, why in STAND_INS.items() if fnmatch.fnmatch(soname, pattern)), None)

    # What the extensions still load when the stood-in libraries load nothing.
    kept: set[str] = set()
    queue = deque(need for extension in extensions for need in Library(extension).needed)
    users = [Library(extension) for extension in extensions]
    while queue:
        soname = queue.popleft()
        if soname in kept or soname not in libraries or stood_in(soname):
            continue
        kept.add(soname)
        users.append(libraries[soname])
        queue.extend(libraries[soname].needed)
    provided = {name for soname in kept for name in libraries[soname].defined}

    plan = {}
    for user in users:
        for soname in user.needed:
            why = stood_in(soname)
            if why is None or soname not in libraries:
                continue
            real = libraries[soname]
            symbols = plan.setdefault(soname, (why, {}))[1]
            for name, version in user.undefined.items():
                if name in real.defined and name not in provided:
                    kind, size = real.defined[name]
                    symbols[name] = (kind, size, version)
    return plan


def build_stand_in(soname: str, why: str, symbols: dict[str, tuple[str, int, str | None]], folder: Path) -> Path:
    """Compiles ``folder/soname``: every function throws (``NO_OPS`` return), every object is zeros of its size."""
    lines = []
    for i, (name, (kind, size, _)) in enumerate(sorted(symbols.items())):
        if kind == "STT_TLS":
            sys.exit(f"repair_wheel: {soname} exports the thread-local {name}, which a stand-in cannot provide")
        if kind == "STT_OBJECT":
            lines.append(f'OBJECT(object_{i}, "{name}", {max(size, 1)})')
        elif name in NO_OPS:
            lines.append(f'NO_OP(function_{i}, "{name}")')
        else:
            lines.append(f'FUNCTION(function_{i}, "{name}")')
    source = folder / f"{soname}.cpp"
    source.write_text(STUB_SOURCE.format(soname=soname, why=why, definitions="\n".join(lines)))
    command = [os.environ.get("CXX", "c++"), "-shared", "-fPIC", "-O1", "-s", "-o", str(folder / soname),
               f"-Wl,-soname,{soname}", str(source)]
    versions: dict[str, list[str]] = {}
    for name, (_, _, version) in symbols.items():
        if version:
            versions.setdefault(version, []).append(name)
    if versions:
        script = folder / f"{soname}.map"
        script.write_text("".join(f"{v} {{ global: {'; '.join(sorted(n))}; }};\n" for v, n in versions.items()))
        command.append(f"-Wl,--version-script={script}")
    subprocess.run(command, check=True)
    return folder / soname


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="the wheel pip or scikit-build-core built")
    parser.add_argument("-w", "--wheel-dir", type=Path, default=Path("dist"), help="where the repaired wheel goes")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fastinfer-repair-") as tmp:
        unpacked, stand_ins = Path(tmp, "wheel"), Path(tmp, "stand-ins")
        stand_ins.mkdir()
        with zipfile.ZipFile(args.wheel) as wheel:
            wheel.extractall(unpacked)
        extensions = sorted(unpacked.rglob("*.so"))
        if not extensions:
            sys.exit(f"repair_wheel: no extension module in {args.wheel}")
        for soname, (why, symbols) in sorted(stand_in_plan(extensions).items()):
            build_stand_in(soname, why, symbols, stand_ins)
            print(f"stand-in for {soname}: {len(symbols)} symbols ({why})")

        env = dict(os.environ, AUDITWHEEL_LD_LIBRARY_PATH=str(stand_ins),
                   PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
        out = Path(tmp, "out")
        subprocess.run([sys.executable, "-m", "auditwheel", "repair", "-w", str(out), str(args.wheel)],
                       check=True, env=env)
        args.wheel_dir.mkdir(parents=True, exist_ok=True)
        for built in sorted(out.glob("*.whl")):
            path = args.wheel_dir / built.name
            shutil.move(built, path)
            with zipfile.ZipFile(path) as wheel:
                bundled = sorted(Path(n).name for n in wheel.namelist() if re.search(r"\.libs/[^/]+\.so", n))
                installed_mb = sum(info.file_size for info in wheel.infolist()) / 1e6
            print(f"{path}: {path.stat().st_size / 1e6:.1f} MB ({installed_mb:.1f} MB installed), "
                  f"{len(bundled)} bundled libraries: {' '.join(bundled)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
