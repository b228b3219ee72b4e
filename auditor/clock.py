"""UTC timestamps as every document spells them: ISO 8601, seconds, a Z."""

from __future__ import annotations

import datetime as dt


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def utc_now() -> str:
    return iso(dt.datetime.now(dt.UTC))
