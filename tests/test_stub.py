"""The committed type stub of the native module is current, and the package ships ``py.typed``."""

from __future__ import annotations

import difflib
import subprocess
import sys
from importlib import resources
from pathlib import Path

import fastinfer

COMMITTED_STUB = Path(__file__).resolve().parents[1] / "python" / "fastinfer" / "_core.pyi"


def test_core_stub_is_current(tmp_path):
    assert COMMITTED_STUB.is_file(), f"the committed stub {COMMITTED_STUB} is missing: run `make stubs`"
    proc = subprocess.run(
        [sys.executable, "-m", "pybind11_stubgen", "fastinfer._core", "-o", str(tmp_path),
         "--numpy-array-use-type-var"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, f"pybind11-stubgen failed:\n{proc.stdout}\n{proc.stderr}"
    generated = tmp_path / "fastinfer" / "_core.pyi"
    assert generated.is_file(), f"pybind11-stubgen wrote no {generated}:\n{proc.stdout}\n{proc.stderr}"
    new, old = generated.read_text(), COMMITTED_STUB.read_text()
    if new != old:
        diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "committed _core.pyi",
                                            "generated _core.pyi"))
        raise AssertionError(
            "python/fastinfer/_core.pyi is out of date with the installed native module: run `make stubs` "
            f"(after `make build`) and commit the result.\n{diff[:4000]}")


def test_stub_documents_the_core_functions():
    text = COMMITTED_STUB.read_text()
    for name in ("def make_blob", "def postprocess_darknet", "def nms", "def darknet_cfg_info", "class Backend"):
        assert name in text


def test_py_typed_is_installed():
    package = resources.files("fastinfer")
    assert package.joinpath("py.typed").is_file(), "the installed fastinfer package lacks py.typed"
    assert package.joinpath("_core.pyi").is_file(), "the installed fastinfer package lacks _core.pyi"


def test_tests_use_the_installed_package():
    source = Path(__file__).resolve().parents[1] / "python" / "fastinfer"
    installed = Path(fastinfer.__file__).resolve().parent
    assert installed != source.resolve(), "tests must import the installed package, not python/fastinfer"
