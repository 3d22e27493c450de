"""The installed package's version (from its metadata; ``0.0.0`` in a source tree)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fastinfer")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
