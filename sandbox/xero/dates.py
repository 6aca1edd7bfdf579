"""Dates the way Xero writes and reads them: `/Date(ms+0000)/` out, several shapes in."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def ms_date(epoch_seconds: float) -> str:
    """1700000000.5 -> '/Date(1700000000500+0000)/'"""
    return f"/Date({int(round(epoch_seconds * 1000))}+0000)/"


def iso_no_zone(epoch_seconds: float) -> str:
    """The `...String` twin Xero sends next to a /Date()/ value: '2024-01-31T00:00:00'."""
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def iso_utc_micro(epoch_seconds: float) -> str:
    """Identity API style: '2019-12-07T18:46:19.5165400' (no zone, 7 fraction digits)."""
    moment = datetime.fromtimestamp(epoch_seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0"


def parse_xero_date(value: object) -> float | None:
    """'2024-01-31', '2024-01-31T10:00:00', '/Date(1706659200000+0000)/' -> epoch seconds (UTC).

    Returns None when the value cannot be read as a date.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    match = _MS_DATE.match(text)
    if match:
        return int(match.group(1)) / 1000
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def parse_if_modified_since(value: str | None) -> float | None:
    """Xero documents `yyyy-mm-ddThh:mm:ss` (UTC); HTTP-date is read too, to be forgiving."""
    if not value:
        return None
    parsed = parse_xero_date(value)
    if parsed is not None:
        return parsed
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def day_start(epoch_seconds: float) -> float:
    moment = datetime.fromtimestamp(epoch_seconds, timezone.utc)
    return datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc).timestamp()
