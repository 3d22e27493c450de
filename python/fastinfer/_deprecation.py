"""Renamed arguments and attributes: the old names keep working and warn (``DeprecationWarning``).

Every rename is listed in the README's changelog.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, TypeVar

from .errors import InvalidInputError

F = TypeVar("F", bound=Callable[..., Any])


def warn(old: str, new: str, stacklevel: int = 3) -> None:
    """Warns that ``old`` is deprecated in favour of ``new``."""
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=stacklevel)


def renamed_arguments(**renames: str) -> Callable[[F], F]:
    """Lets a function take each keyword ``old=`` as ``renames[old]=``, with a warning.

    Example:
        >>> @renamed_arguments(labels="names")
        ... def make(*, names=None): return names
        >>> make(labels=["a"])  # DeprecationWarning: labels= is deprecated; use names=
        ['a']
    """
    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise InvalidInputError(f"pass {new}= only: {old}= is its deprecated name")
                    warn(f"{old}=", f"{new}=")
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate


def renamed_attribute(old: str, new: str, owner: str) -> property:
    """A read-only property ``old`` that warns and returns ``self.<new>``."""
    def getter(self: Any) -> Any:
        warn(f"{owner}.{old}", f"{owner}.{new}")
        return getattr(self, new)

    return property(getter, doc=f"Deprecated name of ``{new}``.")


def rename_names(cls: type) -> type:
    """Class decorator: ``class_names`` (argument and attribute) becomes ``names``, the old name warning."""
    cls.__init__ = renamed_arguments(class_names="names")(cls.__init__)  # type: ignore[misc]
    cls.class_names = renamed_attribute("class_names", "names", cls.__name__)  # type: ignore[attr-defined]
    return cls
