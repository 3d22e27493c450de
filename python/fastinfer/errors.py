"""Exception hierarchy of fastinfer.

The native core raises these same classes (it takes them from this module
when it loads), so an error raised in C++ and one raised in Python are the
same type::

    FastInferError
    ├── ModelLoadError      a model, cfg, weights or labels file cannot be used
    ├── InvalidInputError   a bad argument or input (also a ValueError)
    ├── BackendError        an inference backend failed
    └── BackendUnavailableError  a backend or provider is missing or too old

``ImageWarning`` (a ``UserWarning``) is issued for an image file that was read
but is damaged.
"""

__all__ = ["FastInferError", "ModelLoadError", "InvalidInputError", "BackendError", "BackendUnavailableError",
           "ImageWarning"]


class FastInferError(Exception):
    """Base class of every fastinfer error."""

    __module__ = "fastinfer"


class ModelLoadError(FastInferError):
    """A model, cfg, weights or labels file cannot be used."""

    __module__ = "fastinfer"


class InvalidInputError(FastInferError, ValueError):
    """An argument or input is not what the call needs."""

    __module__ = "fastinfer"


class BackendError(FastInferError):
    """An inference backend failed."""

    __module__ = "fastinfer"


class BackendUnavailableError(FastInferError):
    """A backend or execution provider is not installed or too old."""

    __module__ = "fastinfer"


class ImageWarning(UserWarning):
    """An image file was read but is damaged (for example truncated)."""

    __module__ = "fastinfer"
