"""``import fastinfer`` stays light: torch, cv2 and matplotlib are installed here but never imported by it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "cv2", "matplotlib")


@pytest.mark.parametrize("module", ["fastinfer", "fastinfer.cli", "fastinfer.tools.doctor"])
def test_import_loads_neither_torch_nor_cv2(module):
    code = (f"import importlib.util, json, sys; import {module}; "
            f"print(json.dumps({{'loaded': sorted(m for m in {HEAVY!r} if m in sys.modules), "
            f"'installed': sorted(m for m in {HEAVY!r} if importlib.util.find_spec(m))}}))")
    result = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                       text=True).stdout)
    assert result["installed"] == sorted(HEAVY), "the test environment should have every heavy module to catch"
    assert result["loaded"] == [], f"import {module} imported {result['loaded']}"
