"""fastinfer: fast inference for vision models."""
from ._core import FastInferError, ModelLoadError, InvalidInputError, BackendError  # noqa: F401
