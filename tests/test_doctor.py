"""``fastinfer --version`` and ``fastinfer doctor`` (through ``fastinfer.cli.main``), against independent references:
the package metadata, the loader (``ldd``), OpenCV's own version functions and onnxruntime's Python API."""

from __future__ import annotations

import ctypes
import json
import os
import re
import subprocess
from importlib.metadata import version
from pathlib import Path

import onnxruntime as ort
import pytest

from fastinfer import _core, cli
from fastinfer.errors import BackendUnavailableError
from fastinfer.runtime import backends
from fastinfer.tools import doctor


@pytest.fixture(scope="module")
def opencv_core() -> Path:
    """The libopencv_core the loader resolves for the native module, and its version from OpenCV itself."""
    out = subprocess.run(["ldd", _core.__file__], check=True, capture_output=True, text=True).stdout
    paths = re.findall(r"libopencv_core\S* => (\S+)", out)
    assert len(paths) == 1, out
    return Path(paths[0]).resolve()


@pytest.fixture(scope="module")
def opencv_version(opencv_core) -> str:
    lib = ctypes.CDLL(str(opencv_core))
    parts = (getattr(lib, f"_ZN2cv{name}Ev")() for name in ("15getVersionMajor", "15getVersionMinor",
                                                             "18getVersionRevision"))
    return ".".join(str(part) for part in parts)


@pytest.fixture
def gpu_libraries(tmp_path, monkeypatch) -> dict[str, Path]:
    """Empty stand-ins for libcudart, libcuda and libnvinfer, first on LD_LIBRARY_PATH."""
    folder = tmp_path / "gpu-libs"
    folder.mkdir()
    files = {name: folder / name for name in ("libcudart.so.12", "libcuda.so.1", "libnvinfer.so.10")}
    for path in files.values():
        path.write_bytes(b"")
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{folder}{os.pathsep}{os.environ.get('LD_LIBRARY_PATH', '')}")
    return files


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def test_version_prints_versions_providers_cuda_and_tensorrt(capsys, opencv_version):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code in (0, None)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    package = version("fastinfer")
    providers = ", ".join(ort.get_available_providers())
    assert out.startswith(f"fastinfer {package} (core {package}), OpenCV {opencv_version}, "
                          f"ONNX Runtime {ort.__version__} [{providers}]; CUDA: "), out
    assert re.search(r"; CUDA: (found|partly found|not found); TensorRT: (found|partly found|not found)$", out.strip())


def test_doctor_json_matches_the_references(capsys, opencv_core, opencv_version):
    code, out = run_cli(capsys, "doctor", "--json")
    info = json.loads(out)
    assert code == (1 if info["problems"] else 0)
    assert info["fastinfer"]["version"] == info["core"]["version"] == version("fastinfer")
    assert Path(info["core"]["library"]) == Path(_core.__file__).resolve()
    assert info["opencv"]["version"] == opencv_version
    assert Path(info["opencv"]["library"]).resolve() == opencv_core
    capi = Path(ort.__file__).parent / "capi"
    assert Path(info["onnxruntime"]["library"]).resolve().parent == capi.resolve()
    assert info["onnxruntime"]["version"] == ort.__version__
    assert info["onnxruntime"]["providers"] == ort.get_available_providers()
    assert info["cuda"]["provider"] == ("CUDAExecutionProvider" in ort.get_available_providers())
    assert info["tensorrt"]["provider"] == ("TensorrtExecutionProvider" in ort.get_available_providers())


def test_doctor_text_lists_every_component(capsys):
    code, out = run_cli(capsys, "doctor")
    info = doctor.report()
    for name in ("fastinfer", "core", "OpenCV", "ONNX Runtime", "providers", "CUDA", "TensorRT", "Python"):
        assert re.search(rf"^{name} +\S", out, re.MULTILINE), f"no {name} row in:\n{out}"
    ort_info = info["onnxruntime"]
    assert re.search(rf"^ONNX Runtime +{re.escape(ort_info['version'])} +{re.escape(ort_info['library'])}$", out,
                     re.MULTILINE), out
    if info["problems"]:
        assert code == 1 and all(f"problem: {p}" in out for p in info["problems"])
    else:
        assert code == 0 and out.rstrip().endswith("no problems found")


def test_cuda_and_tensorrt_libraries_are_found_on_the_library_path(capsys, gpu_libraries):
    _, out = run_cli(capsys, "doctor", "--json")
    info = json.loads(out)
    assert info["cuda"]["runtime"] == str(gpu_libraries["libcudart.so.12"])
    assert info["cuda"]["driver"] == str(gpu_libraries["libcuda.so.1"])
    assert info["tensorrt"]["library"] == str(gpu_libraries["libnvinfer.so.10"])
    assert "; CUDA: found; TensorRT: found" in doctor.version_line(info)


def test_nothing_found_where_no_folder_holds_the_libraries(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "_library_dirs", lambda: iter([str(tmp_path)]))
    assert doctor.find_library("libcudart.so*") is None
    info = doctor.report()
    assert info["cuda"]["runtime"] is None and info["cuda"]["driver"] is None and info["tensorrt"]["library"] is None
    assert "; CUDA: not found; TensorRT: not found" in doctor.version_line(info)


def test_a_gpu_provider_without_its_libraries_is_a_problem(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "_library_dirs", lambda: iter([str(tmp_path)]))
    real = backends.onnxruntime_info()
    providers = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(backends, "onnxruntime_info", lambda: {**real, "providers": providers})
    code, out = run_cli(capsys, "doctor")
    assert code == 1
    assert re.search(r"problem: ONNX Runtime has the CUDAExecutionProvider but libcudart and libcuda \(the NVIDIA "
                     r"driver\) was not found", out), out
    assert "problem: ONNX Runtime has the TensorrtExecutionProvider but libnvinfer (TensorRT) was not found" in out
    assert re.search(r"^CUDA +not found +CUDAExecutionProvider: yes", out, re.MULTILINE), out


def test_a_missing_onnxruntime_is_a_problem(capsys, monkeypatch):
    def unavailable():
        raise BackendUnavailableError("the onnxruntime backend needs the onnxruntime package: pip install onnxruntime")

    monkeypatch.setattr(backends, "onnxruntime_info", unavailable)
    code, out = run_cli(capsys, "doctor", "--json")
    info = json.loads(out)
    assert code == 1
    assert info["onnxruntime"]["version"] is None and info["onnxruntime"]["providers"] == []
    assert info["problems"] == ["the onnxruntime backend needs the onnxruntime package: pip install onnxruntime"]
    assert "ONNX Runtime not available" in doctor.version_line(info)


def test_a_core_from_another_version_is_a_problem(capsys, monkeypatch):
    monkeypatch.setattr(doctor, "__version__", "9.9.9")
    code, out = run_cli(capsys, "doctor")
    assert code == 1
    assert f"problem: the native core is version {_core.__version__} but the package is 9.9.9: reinstall" in out


def test_ld_so_conf_includes_are_followed(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "cuda.conf").write_text("/opt/cuda/lib64  # the toolkit\n")
    (tmp_path / "conf.d" / "ignored.txt").write_text("/not/listed\n")
    (tmp_path / "ld.so.conf").write_text("/usr/local/lib\ninclude conf.d/*.conf\n# /commented\n")
    assert list(doctor._ld_so_conf(str(tmp_path / "ld.so.conf"))) == ["/usr/local/lib", "/opt/cuda/lib64"]
