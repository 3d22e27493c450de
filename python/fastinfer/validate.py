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
import operator
import os
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np

from .errors import InvalidInputError

Size = Union[int, Sequence[int]]

#: The largest side of a network input, in pixels (issue 17, defect 9).
MAX_INPUT_SIDE = 16384
#: The most detections kept per image (``max_det``).
MAX_DETECTIONS = 100_000
#: Thread counts (``threads=``, stream ``workers=``) above this many per core are refused (issue 17, defect 6).
THREADS_PER_CORE = 4


def max_threads() -> int:
    """The most threads an argument may ask for: ``THREADS_PER_CORE`` x the machine's cores."""
    return THREADS_PER_CORE * (os.cpu_count() or 1)


def is_int(value: Any) -> bool:
    """Whether ``value`` is a Python or numpy integer (bools are not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_choice(name: str, value: str, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else an ``InvalidInputError`` naming ``name``."""
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_size(value: Size, name: str = "input_size") -> tuple[int, int]:
    """An int or ``(width, height)`` as ``(width, height)``, each side in 1 .. ``MAX_INPUT_SIDE``."""
    if isinstance(value, (str, bytes)):
        raise InvalidInputError(f"{name} must be an int or (width, height), got {value!r}")
    values: list[Any]
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        values = [value] * 2
    else:
        try:
            values = list(value)  # type: ignore[arg-type]
        except TypeError:
            raise InvalidInputError(f"{name} must be an int or (width, height), got {value!r}") from None
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
                                   for v in values):
        raise InvalidInputError(f"{name} must be an int or (width, height), got {value!r}")
    w, h = (int(v) for v in values)
    if w <= 0 or h <= 0:
        raise InvalidInputError(f"{name} must be positive, got {w}x{h}")
    if w > MAX_INPUT_SIDE or h > MAX_INPUT_SIDE:
        raise InvalidInputError(f"{name} must be at most {MAX_INPUT_SIDE} pixels a side, got {w}x{h}")
    return w, h


def check_unit(name: str, value: Any) -> float:
    """A number in ``[0, 1]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a number in [0, 1], got {value!r}")
    number = float(value)
    if not 0.0 <= number <= 1.0:  # also rejects NaN
        raise InvalidInputError(f"{name} must be in [0, 1], got {number}")
    return number


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


def check_int(name: str, value: Any, *, low: int = 1, high: int | None = None, hint: str = "",
              optional: bool = False) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (Python or numpy integer, not bool)."""
    bound = f"an int in [{low}, {high}]" if high is not None else f"an int >= {low}"
    bound = f"None or {bound}" if optional else bound
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be {bound}, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"{name} must be {bound}, got {value!r} ({type(value).__name__})") from None
    if number < low or (high is not None and number > high):
        raise InvalidInputError(f"{name} must be {bound}{hint}, got {number}")
    return number


def check_optional_int(name: str, value: Any, *, low: int = 1, high: int | None = None, hint: str = "") -> int | None:
    """None, or ``check_int``."""
    return None if value is None else check_int(name, value, low=low, high=high, hint=hint, optional=True)


def check_threads(name: str, value: Any) -> int | None:
    """A thread count: None, or 1 .. ``max_threads()`` (defect 6: hundreds of threads stall the machine)."""
    return check_optional_int(name, value, high=max_threads(),
                              hint=f" ({THREADS_PER_CORE} x the {os.cpu_count() or 1} cores of this machine)")


def check_max_det(value: Any) -> int | None:
    """``max_det``: None or 1 .. ``MAX_DETECTIONS``."""
    return check_optional_int("max_det", value, high=MAX_DETECTIONS)


def check_path(name: str, value: Any) -> str:
    """A path argument as ``str``: not None, a str or ``os.PathLike``, encodable for the file system."""
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise InvalidInputError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    text = os.fspath(value)
    if not isinstance(text, str):
        raise InvalidInputError(f"{name} must be a str path, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"{name} {text!r} is not a valid UTF-8 path (it holds undecodable characters)") \
            from None
    if "\x00" in text:
        raise InvalidInputError(f"{name} {text!r} holds a NUL character")
    return text


def check_file(name: str, value: Any, what: str = "file") -> Path:
    """``check_path``, then: it exists and is not a directory."""
    path = Path(check_path(name, value))
    if path.is_dir():
        raise InvalidInputError(f"{name} '{path}' is a directory, not a {what}")
    return path


def check_providers(value: Any) -> list[str]:
    """``providers``: None or a list of provider names; one bare name is one provider."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        items = list(value)
    except TypeError:
        raise InvalidInputError(f"providers must be a list of provider names, got {value!r}") from None
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError(f"providers must be a list of provider names (str), got {value!r}")
    return items
