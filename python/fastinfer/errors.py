"""Exception hierarchy of fastinfer.

The classes are defined by the native core, so an error raised in C++ and one
raised in Python are the same type::

    FastInferError
    ├── ModelLoadError      a model, cfg, weights or labels file cannot be used
    ├── InvalidInputError   a bad argument or input (also a ValueError)
    ├── BackendError        an inference backend failed
    └── BackendUnavailableError  a backend or provider is missing or too old
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the same hierarchy, spelled out for type checkers (the generated stub cannot)

    class FastInferError(Exception): ...

    class ModelLoadError(FastInferError): ...

    class InvalidInputError(FastInferError, ValueError): ...

    class BackendError(FastInferError): ...

    class BackendUnavailableError(FastInferError): ...

else:
    from ._core import BackendError, BackendUnavailableError, FastInferError, InvalidInputError, ModelLoadError

__all__ = ["FastInferError", "ModelLoadError", "InvalidInputError", "BackendError", "BackendUnavailableError"]
