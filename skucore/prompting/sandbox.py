"""The Jinja2 sandbox prompts render in, shared by the prompt table (which renders) and the template library
(which syntax-checks templates with the same environment, so the two agree).

`ImmutableSandboxedEnvironment` refuses attribute tricks and mutation of lists and dicts; `StrictUndefined` makes
a missing field an error rather than an empty string; autoescape is off (prompts are plain text, never HTML).
"""
from __future__ import annotations

import operator
from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_REPEAT = 10_000  # largest sequence a template may build with * (guards a template against memory blow-ups)


class PromptSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus a cap on `*` and `**` so a template cannot allocate gigabytes."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, (int, float)) and abs(right) > 100:
                raise SecurityError("exponent too large in a prompt template")
            return operator.pow(left, right)
        if isinstance(left, (str, list, tuple)) and isinstance(right, int) and right * max(len(left), 1) > MAX_REPEAT:
            raise SecurityError("sequence repetition too large in a prompt template")
        if isinstance(right, (str, list, tuple)) and isinstance(left, int) and left * max(len(right), 1) > MAX_REPEAT:
            raise SecurityError("sequence repetition too large in a prompt template")
        return operator.mul(left, right)


def make_environment() -> ImmutableSandboxedEnvironment:
    """The Jinja2 environment prompts render in (also used to syntax-check library templates)."""
    return PromptSandbox(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)


# --------------------------------------------------------------------------------------------------- seeds, hashes
