"""The native core, loaded on first use.

``fastinfer._core`` links OpenCV (and, through its image codecs and video I/O,
a few hundred shared libraries); loading it takes about as long as the rest
of ``import fastinfer`` together. :func:`install` puts a stand-in module under
that name, so ``from fastinfer import _core`` binds it without loading
anything; the first attribute read (``_core.read_image``) loads the
extension, after which the stand-in holds the real module's attributes and
``sys.modules`` the real module.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
import types
from typing import Any

NAME = "fastinfer._core"
_lock = threading.RLock()


class _CoreOnDemand(types.ModuleType):
    """Stand-in for ``fastinfer._core`` until something reads an attribute of it."""

    def __getattr__(self, name: str) -> Any:
        if name == "__path__":  # an extension module is not a package
            raise AttributeError(name)
        return getattr(load(), name)

    def __dir__(self) -> list[str]:
        return dir(load())


_stand_in: _CoreOnDemand | None = None


def install(package: types.ModuleType) -> None:
    """Registers the stand-in as ``fastinfer._core`` (once, before any module imports the core)."""
    global _stand_in
    if NAME in sys.modules:
        return
    spec = importlib.machinery.PathFinder.find_spec(NAME, list(package.__path__))
    if spec is None or spec.loader is None:
        raise ImportError(f"fastinfer's native core ({NAME}) is not installed next to {package.__path__[0]}: "
                          "reinstall fastinfer (pip install --force-reinstall fastinfer)", name=NAME)
    stand_in = _CoreOnDemand(NAME, "fastinfer's native core (private: use the fastinfer package).")
    stand_in.__spec__ = spec
    stand_in.__loader__ = spec.loader
    stand_in.__file__ = spec.origin
    stand_in.__package__ = package.__name__
    _stand_in = stand_in
    sys.modules[NAME] = stand_in
    package.__dict__["_core"] = stand_in


def loaded() -> bool:
    """Whether the extension has been loaded into this process."""
    return not isinstance(sys.modules.get(NAME), _CoreOnDemand)


def load() -> types.ModuleType:
    """Loads the extension (once; thread-safe) and returns it."""
    with _lock:
        current = sys.modules.get(NAME)
        if current is not None and not isinstance(current, _CoreOnDemand):
            return current
        assert _stand_in is not None and _stand_in.__spec__ is not None
        spec = _stand_in.__spec__
        module = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        spec.loader.exec_module(module)
        # Modules that bound the stand-in read the real attributes from now on without another lookup.
        for key, value in vars(module).items():
            if key not in ("__spec__", "__loader__", "__name__"):
                setattr(_stand_in, key, value)
        sys.modules[NAME] = module
        sys.modules[spec.parent or "fastinfer"].__dict__["_core"] = module
        return module
