"""The test-data fetcher (``make testdata``): verification, repair, and its message when a registry is out of reach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import testdata as manifest

SCRIPT = Path(manifest.__file__)


@pytest.fixture
def copy(testdata: Path, tmp_path: Path) -> Path:
    """A private copy of the test-data folder, to damage."""
    dest = tmp_path / "data"
    shutil.copytree(testdata, dest)
    return dest


def run_script(folder: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--dir", str(folder)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env}, check=False)


def test_manifest_hashes_are_those_of_the_assembled_files(testdata: Path):
    wrong = [item.dest for item in manifest.ITEMS if manifest.sha256_of(testdata / item.dest) != item.sha256]
    assert not wrong


def test_a_complete_folder_is_only_verified(copy: Path):
    before = {p: p.stat().st_mtime_ns for p in copy.rglob("*") if p.is_file()}
    result = run_script(copy)
    assert result.returncode == 0, result.stderr
    assert "present and verified" in result.stdout
    assert {p: p.stat().st_mtime_ns for p in copy.rglob("*") if p.is_file()} == before


def test_missing_and_changed_files_are_fetched_again(copy: Path):
    dog = copy / "images" / "dog.jpg"
    data = bytearray(dog.read_bytes())
    data[1000] ^= 0xFF
    dog.write_bytes(bytes(data))
    (copy / "darknet-cfg" / "tiny.cfg").unlink()
    written = manifest.assemble(copy)
    assert sorted(written) == ["darknet-cfg/tiny.cfg", "images/dog.jpg"]
    assert manifest.missing(copy) == []
    for item in manifest.ITEMS:
        assert manifest.sha256_of(copy / item.dest) == item.sha256, item.dest
    assert not list(copy.rglob("*.part")), "no temporary file is left behind"


def test_an_unreachable_registry_is_named_with_the_fix(copy: Path):
    (copy / "images" / "chelsea.png").unlink()
    # pip pointed at a closed port on loopback, without this machine's pip configuration.
    result = run_script(copy, PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="http://127.0.0.1:9/simple/",
                        PIP_EXTRA_INDEX_URL="", PIP_FIND_LINKS="", PIP_NO_CACHE_DIR="1", PIP_RETRIES="0",
                        PIP_DEFAULT_TIMEOUT="5")
    assert result.returncode == 1
    assert "testdata: error: pip download scikit-image==0.25.2 failed" in result.stderr
    assert "PyPI must be reachable" in result.stderr
    assert not (copy / "images" / "chelsea.png").exists()
    assert not list(copy.rglob("*.part"))


def test_the_tests_name_make_testdata_when_the_folder_is_incomplete(tmp_path: Path):
    (tmp_path / "conftest.py").write_text((SCRIPT.parent / "conftest.py").read_text())
    (tmp_path / "testdata.py").write_text(SCRIPT.read_text())
    (tmp_path / "test_one.py").write_text("def test_photos(photos):\n    assert photos\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
                            env={**os.environ, manifest.ENV: str(tmp_path / "empty")})
    assert result.returncode != 0
    assert "run `make testdata`" in result.stdout
