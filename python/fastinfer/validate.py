"""Argument checks shared by every entry point: each raises ``InvalidInputError`` naming the argument.

Example:
    >>> check_size(416)
    (416, 416)
    >>> check_unit("conf", 1.5)
    Traceback (most recent call last):
    ...
    fastinfer.InvalidInputError: conf must be in [0, 1], got 1.5
"""

from __future__ import annotations

import math
from typing import Any, Sequence, Union

import numpy as np

from .errors import InvalidInputError

Size = Union[int, Sequence[int]]


def is_int(value: Any) -> bool:
    """Whether ``value`` is a Python or numpy integer (bools are not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_choice(name: str, value: str, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else an ``InvalidInputError`` naming ``name``."""
    if value not in allowed:
        raise InvalidInputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_size(value: Size, name: str = "input_size") -> tuple[int, int]:
    """An int or ``(width, height)`` as a positive ``(width, height)``."""
    values: list[Any] = [value] * 2 if is_int(value) else list(value)  # type: ignore[arg-type]
    if len(values) != 2 or not all(is_int(v) for v in values):
        raise InvalidInputError(f"{name} must be an int or (width, height), got {value!r}")
    w, h = int(values[0]), int(values[1])
    if w <= 0 or h <= 0:
        raise InvalidInputError(f"{name} must be positive, got {w}x{h}")
    return w, h


def check_unit(name: str, value: float) -> float:
    """``value`` as a float in [0, 1]."""
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be in [0, 1], got {value}")
    return value


def check_count(name: str, value: Any, *, minimum: int = 1, optional: bool = False) -> int | None:
    """``value`` as an int of at least ``minimum``; None passes when ``optional``."""
    if value is None and optional:
        return None
    if not is_int(value) or value < minimum:
        prefix = "None or " if optional else ""
        raise InvalidInputError(f"{name} must be {prefix}an int >= {minimum}, got {value!r}")
    return int(value)


def check_bool(name: str, value: Any, *, optional: bool = False) -> bool | None:
    """``value`` if it is a bool (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be {'None, ' if optional else ''}True or False, got {value!r}")
    return bool(value)


def check_channels(name: str, values: float | Sequence[float]) -> tuple[float, float, float]:
    """One value for all three channels, or three, as finite floats."""
    try:
        flat = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be a number or 3 numbers, got {values!r}") from exc
    if len(flat) == 1:
        flat = np.repeat(flat, 3)
    if len(flat) != 3:
        raise InvalidInputError(f"{name} must have 1 or 3 values (one per input channel), got {len(flat)}: "
                                f"{tuple(flat.tolist())}")
    if not all(math.isfinite(v) for v in flat.tolist()):
        raise InvalidInputError(f"{name} values must be finite, got {tuple(flat.tolist())}")
    return (float(flat[0]), float(flat[1]), float(flat[2]))


def check_instance(name: str, value: Any, kind: type, described: str) -> Any:
    """``value`` if it is a ``kind`` (None passes), else an error saying a ``described`` was expected."""
    if value is not None and not isinstance(value, kind):
        raise InvalidInputError(f"{name} must be a {described}, got {type(value).__name__}")
    return value
