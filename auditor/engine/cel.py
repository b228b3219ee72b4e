"""The one place that talks to the CEL library (common-expression-language, a Rust binding)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import cel


class CelCompileError(Exception):
    """A condition that does not parse; `short` is the first line of the library's message."""

    def __init__(self, expression: str, message: str) -> None:
        super().__init__(message)
        found = re.search(r"ERROR: <input>:(\d+):(\d+): ([^\n]*)", message)
        if found:
            line, column, text = found.groups()
            self.short = (
                f"line {line} column {column} of the expression: {text.split(' expecting ')[0]}"
            )
        else:
            self.short = message.splitlines()[0] if message else "syntax error"


class CelEvaluationError(Exception):
    """An expression that failed on these facts (missing key, wrong type...)."""


@lru_cache(maxsize=4096)
def compile_expression(expression: str) -> Any:
    """Compile once; the same text anywhere in the pack shares one program."""
    try:
        return cel.compile(expression)
    except (ValueError, RuntimeError) as exc:
        raise CelCompileError(expression, str(exc)) from None


def run(expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate `expression` over `context`; any failure becomes CelEvaluationError."""
    program = compile_expression(expression)
    try:
        return program.execute(dict(context))
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError, ArithmeticError) as exc:
        raise CelEvaluationError(f"{type(exc).__name__}: {exc}") from None
