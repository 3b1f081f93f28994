"""Checks of option values shared by the CLI and the library: whole numbers that are really whole
(no silent truncation of 1.9 to 1), finite numbers, seeds that fit the journal's 64-bit integers.
Each failure is a ConfigError naming the option."""
from __future__ import annotations

import math
import numbers

from .errors import ConfigError

MAX_SEED = 2 ** 63 - 1  # SQLite INTEGER, numpy and torch seeds all hold it


def whole_number(value, what: str) -> int:
    """value as an int: an int, a numpy integer, an integral float (2.0) or a decimal string ('3').
    ConfigError for 1.9, nan, inf, 'a', a list, a bool."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a whole number, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if math.isfinite(value) and float(value).is_integer():
            return int(value)
        raise ConfigError(f"{what} must be a whole number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
    raise ConfigError(f"{what} must be a whole number, got {str(value)[:40]!r}")


def seed_value(value, what: str = "seed") -> int:
    """A seed: a whole number in 0..2**63-1."""
    seed = whole_number(value, what)
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{what} must be in 0..2**63-1, got {seed}")
    return seed


def finite_positive(value, what: str) -> float:
    """A finite number above 0 (ConfigError for nan, inf, 0, negatives)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{what} must be a finite number above 0, got {value}")
    return number
