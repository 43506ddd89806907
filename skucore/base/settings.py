"""Numeric and on/off settings read from the environment: one reader each, so that every setting fails the same
clear way."""
from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["env_flag", "env_number"]


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


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def env_flag(name: str, default: bool, *, env: Mapping[str, str] | None = None) -> bool:
    """The on/off setting in the environment variable `name` (1/0, true/false, yes/no, on/off, any case), or
    `default` when it is unset or blank. Anything else raises a ValueError that names the variable."""
    raw = (os.environ if env is None else env).get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in _TRUE + _FALSE:
        raise ValueError(f"{name} must be 1 or 0 (or true/false, yes/no, on/off), got {raw!r}")
    return raw in _TRUE
