"""Exception hierarchy of fastinfer.

The classes are defined by the native core, so an error raised in C++ and one
raised in Python are the same type::

    FastInferError
    ├── ModelLoadError      a model, cfg, weights or labels file cannot be used
    ├── InvalidInputError   a bad argument or input (also a ValueError)
    ├── BackendError        an inference backend failed
    └── BackendUnavailableError  a backend or provider is missing or too old
"""

from ._core import BackendError, BackendUnavailableError, FastInferError, InvalidInputError, ModelLoadError

__all__ = ["FastInferError", "ModelLoadError", "InvalidInputError", "BackendError", "BackendUnavailableError"]
