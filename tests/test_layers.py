"""The package's shape: imports point one way between its layers, the old module paths still import,
and the code parses with the grammar of the oldest Python that pyproject.toml promises.

Layers, lowest first (a module may import its own layer and the ones below, never one above):

0. ``_core``, ``_native`` (loads ``_core`` on first use), ``errors``, ``validate``, ``_deprecation``, ``_version``: the foundation;
1. ``io``, ``formats``, ``runtime``, ``models``, ``convert``, ``torch``: reading images and files, running models;
2. ``results``: what tasks return;
3. ``tasks``: Detector, Classifier, Segmenter on one base;
4. ``tools``: info, export, bench, val, doctor; ``ray``: the tasks on Ray Data and Ray Serve;
5. ``cli``: the command line.

The package's ``__init__`` re-exports from every layer; no module imports it. Imports under
``if TYPE_CHECKING:`` are for annotations only and do not count.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
import tomllib
from pathlib import Path

import pytest

import fastinfer

PACKAGE = Path(fastinfer.__file__).parent
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
LAYERS = {
    "_core": 0, "_native": 0, "errors": 0, "validate": 0, "_deprecation": 0, "_version": 0,
    "io": 1, "formats": 1, "runtime": 1, "models": 1, "convert": 1, "torch": 1,
    "results": 2,
    "tasks": 3,
    "tools": 4, "ray": 4,
    "cli": 5,
}
#: Module paths of fastinfer 0.1 that keep importing (the module that now holds the code).
OLD_PATHS = {
    "detector": "tasks.detect", "classifier": "tasks.classify", "segmenter": "tasks.segment",
    "preprocessing": "tasks.preprocessing", "detections": "results.detections", "stream": "io.stream",
    "images": "io.images", "backends": "runtime.backends", "quantization": "runtime.quantization",
    "heads": "formats.heads", "ssd": "formats.ssd", "darknet": "formats.darknet", "model_info": "tools.info",
    "exporting": "tools.export", "benchmarking": "tools.bench", "doctor": "tools.doctor", "coco_eval": "tools.val",
}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["fastinfer", *parts])


def runtime_imports(source: str, package: str) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of each fastinfer import outside ``if TYPE_CHECKING:`` blocks of
    ``source``, a module of ``package`` (relative imports are resolved against it)."""
    tree = ast.parse(source)
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "fastinfer"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "fastinfer":
                continue
            if node.module is None or target == "fastinfer":  # from . import a, b: each name is a module
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return found


def layer(name: str) -> int | None:
    parts = name.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_every_module_has_a_layer():
    unplaced = [module_name(p) for p in modules() if module_name(p) != "fastinfer" and layer(module_name(p)) is None]
    assert unplaced == [], "give these modules a layer in LAYERS (and the package docs)"


def test_imports_point_down_the_layers():
    wrong = []
    for path in modules():
        here = module_name(path)
        if here == "fastinfer":
            continue
        package = here if path.name == "__init__.py" else here.rpartition(".")[0]
        for line, target in runtime_imports(path.read_text(encoding="utf-8"), package):
            if target == "fastinfer":
                wrong.append(f"{here}:{line} imports the package itself")
                continue
            there = layer(target)
            if there is not None and there > layer(here):
                wrong.append(f"{here}:{line} (layer {layer(here)}) imports {target} (layer {there})")
    assert wrong == []


def test_the_contract_sees_upward_imports_but_not_annotation_only_ones():
    source = ("from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
              "from ..tasks.base import Task\nfrom .. import _core, cli\nimport fastinfer.tools.bench\n"
              "if TYPE_CHECKING:\n    from ..cli import main\n")
    found = [t for _, t in runtime_imports(source, "fastinfer.results")]
    assert found == ["fastinfer.tasks.base", "fastinfer._core", "fastinfer.cli", "fastinfer.tools.bench"]
    assert [layer(t) for t in found] == [3, 0, 5, 4]


@pytest.mark.parametrize("old,new", sorted(OLD_PATHS.items()))
def test_old_module_paths_still_import(old, new):
    module = importlib.import_module(f"fastinfer.{old}")
    assert module is importlib.import_module(f"fastinfer.{new}")
    assert getattr(fastinfer, old) is module


def test_python_floor_is_the_one_the_code_parses_with():
    """``requires-python`` names the oldest Python whose grammar parses every module (3.11: ``add_note``)."""
    floor = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    major, minor = map(int, re.fullmatch(r">=(\d+)\.(\d+)", floor).groups())
    assert (major, minor) == (3, 11), "stream.py uses BaseException.add_note (3.11)"
    assert sys.version_info >= (major, minor)
    for path in modules():
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(major, minor))
