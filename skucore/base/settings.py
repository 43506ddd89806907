"""Numeric settings read from the environment: one reader, so that every setting fails the same clear way."""
from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["env_number"]


def env_number(name: str, default: float, *, minimum: float = 0, kind: type = int,
               env: Mapping[str, str] | None = None) -> float:
    """The number in the environment variable `name` (of `env`, else `os.environ`), or `default` when it is unset
    or blank. A value that is not a `kind` (int: a whole number) or is below `minimum` raises a ValueError that
    names the variable and quotes the value, so a typo in a deployment stops the process that reads it."""
    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw:
        return default
    try:
        number = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}, got {raw!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be {minimum:g} or more, got {raw!r}")
    return number
