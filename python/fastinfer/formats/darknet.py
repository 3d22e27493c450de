"""Finding the files of a Darknet model: cfg, weights, class names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from .. import _core
from ..errors import ModelLoadError

#: COCO's category id (1..90, with gaps) of each of the 80 COCO names in ``coco_names()``' order, as
#: COCO's annotation files and results format number them.
COCO_CATEGORY_IDS: tuple[int, ...] = (
    *range(1, 12), *range(13, 26), 27, 28, *range(31, 45), *range(46, 66), 67, 70, *range(72, 83), *range(84, 91))


def coco_names() -> list[str]:
    """The 80 COCO class names, in Darknet's order."""
    text = resources.files("fastinfer").joinpath("data/coco.names").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_names(path: str | os.PathLike[str]) -> list[str]:
    """Reads a ``.names``/labels file: one class name per line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelLoadError(f"cannot read class names file '{path}': {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ModelLoadError(f"class names file '{path}' is not UTF-8 text") from exc
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ModelLoadError(f"class names file '{path}' has no names")
    return names


def cfg_info(cfg: str | os.PathLike[str]) -> dict[str, Any]:
    """Parses and checks a Darknet cfg: input size, classes, layers and parameter count."""
    return _core.darknet_cfg_info(os.fspath(cfg))


def _spellings(stem: str) -> list[str]:
    out = [stem]
    for a, b in (("_", "-"), ("-", "_")):
        if a in stem and stem.replace(a, b) not in out:
            out.append(stem.replace(a, b))
    return out


def find_weights(cfg: Path) -> Path:
    """The ``.weights`` beside ``cfg`` with the same stem (``_`` and ``-`` interchangeable)."""
    candidates = [cfg.with_name(stem + ".weights") for stem in _spellings(cfg.stem)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(f"'{c}'" for c in candidates)
    raise ModelLoadError(f"no weights found for Darknet cfg '{cfg}': looked for {tried}; pass weights=")


def find_names(cfg: Path) -> Path | None:
    """A ``*.names`` file beside ``cfg``: one with the cfg's stem first, else the only one there."""
    for stem in _spellings(cfg.stem):
        candidate = cfg.with_name(stem + ".names")
        if candidate.is_file():
            return candidate
    found = sorted(cfg.parent.glob("*.names"))
    if len(found) == 1:
        return found[0]
    if "coco.names" in {p.name for p in found}:
        return cfg.with_name("coco.names")
    return None


@dataclass(frozen=True)
class DarknetModel:
    """The resolved files and facts of a Darknet model."""

    cfg: Path
    weights: Path
    names: tuple[str, ...]
    names_source: str
    input_size: tuple[int, int]
    num_classes: int


def resolve(cfg: Path, weights: str | os.PathLike[str] | None,
            names: str | os.PathLike[str] | Sequence[str] | None) -> DarknetModel:
    """Checks ``cfg``, finds weights and names, and makes sure they agree."""
    info = cfg_info(cfg)
    weights_path = Path(weights) if weights is not None else find_weights(cfg)
    if not weights_path.is_file():
        raise ModelLoadError(f"weights file '{weights_path}' does not exist")
    _core.darknet_weights_info(str(cfg), str(weights_path))
    if names is None:
        names_path = find_names(cfg)
        class_names = read_names(names_path) if names_path else coco_names()
        source = str(names_path) if names_path else "COCO (built in)"
    elif isinstance(names, (str, os.PathLike)):
        class_names, source = read_names(names), os.fspath(names)
    else:
        class_names, source = [str(n) for n in names], "names argument"
    classes = info["num_classes"]
    if classes and len(class_names) != classes:
        raise ModelLoadError(
            f"class names from {source} list {len(class_names)} names, but '{cfg}' has {classes} classes")
    return DarknetModel(cfg, weights_path, tuple(class_names), source, (info["width"], info["height"]), classes)
