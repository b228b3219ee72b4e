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


_ERRORS = (KeyError, ValueError, TypeError, RuntimeError, IndexError, ArithmeticError)


def prepare(context: Mapping[str, Any]) -> Any:
    """Convert `context` to CEL values once, for several expressions over the same facts."""
    try:
        return cel.Context(variables=dict(context))
    except _ERRORS as exc:
        raise CelEvaluationError(f"{type(exc).__name__}: {exc}") from None


def run(expression: str, context: Any) -> Any:
    """Evaluate `expression` over a mapping or a `prepare`d context; failures become
    CelEvaluationError."""
    program = compile_expression(expression)
    try:
        return program.execute(context if isinstance(context, cel.Context) else dict(context))
    except _ERRORS as exc:
        raise CelEvaluationError(f"{type(exc).__name__}: {exc}") from None
