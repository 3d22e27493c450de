"""Small helpers shared by several test files."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def edited_cfg(tmp_path: Path, source: Path, old: str, new: str, name: str = "edited.cfg") -> Path:
    """Writes ``source`` with the first ``old`` replaced by ``new``."""
    text = source.read_text()
    assert old in text, f"test set-up: {old!r} not in {source}"
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, line: str) -> int:
    """1-based number of the first line of ``path`` equal to ``line`` (stripped)."""
    return [text.strip() for text in path.read_text().splitlines()].index(line) + 1


def assert_same(got, expected, where=""):
    """Per-image ``(xyxy, confidence, class_id)`` from the core equal a reference's ``(xyxy, conf, cls, raw)``."""
    assert len(got) == len(expected), where
    for i, ((xyxy, conf, cls), (e_xyxy, e_conf, e_cls, _)) in enumerate(zip(got, expected)):
        assert xyxy.dtype == np.float32 and conf.dtype == np.float32 and cls.dtype == np.int64
        assert xyxy.shape == (len(e_conf), 4), f"{where} image {i}: {len(conf)} detections, expected {len(e_conf)}"
        np.testing.assert_array_equal(cls, e_cls, err_msg=f"{where} image {i}")
        np.testing.assert_array_equal(conf, e_conf, err_msg=f"{where} image {i}")
        np.testing.assert_allclose(xyxy, e_xyxy, rtol=1e-5, atol=2e-3, err_msg=f"{where} image {i}")
