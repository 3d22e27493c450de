"""Exception hierarchy of fastinfer."""


class FastInferError(Exception):
    """Base class of every error raised by fastinfer."""


class ModelLoadError(FastInferError):
    """A model or its files could not be found, fetched, verified or loaded."""


class InvalidInputError(FastInferError, ValueError):
    """An argument or input tensor is invalid."""


class BackendError(FastInferError):
    """The native backend failed."""
