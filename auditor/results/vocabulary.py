"""The words a result is written in: a rule's outcome and a finding's severity. A leaf module,
so rules, reports, the store and waivers all import them from here without a circle."""

from __future__ import annotations

import enum


class Severity(enum.StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Status(enum.StrEnum):
    """A rule's outcome on one target. `error` means undecided: never counted as a pass."""

    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    ERROR = "error"
    NOT_APPLICABLE = "not_applicable"
    # Set after evaluation by a waiver file (pipeline/waivers.py), never by a rule: every
    # finding of a failing result is accepted until its waiver expires.
    WAIVED = "waived"
