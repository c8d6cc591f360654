"""What time it is, as cycle writes it and reads it back: UTC stamps, and the date in England.

Every audit entry's `at` and every time a row holds is a UTC stamp, ISO 8601 with microseconds and a Z:
2026-10-14T09:30:00.123456Z. Reminders, decisions and reports are about calendar days in England, so
"today" is the date in Europe/London, which is one hour ahead of UTC in summer: 23:30 UTC on 31 March
is already 1 April there.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def utc_now() -> str:
    """Now, as a UTC stamp (what every entry's `at` and every row's times are)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"  # [:-6]: "+00:00"


def utc_stamp(instant: datetime) -> str:
    """An aware datetime as a UTC stamp."""
    return instant.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_utc(stamp: str) -> datetime:
    """A UTC stamp ('2026-11-22T07:17:57.123456Z') as an aware UTC datetime."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)


def london_date(instant: datetime) -> date:
    """The calendar date in England at an instant (which must carry its time zone)."""
    if instant.tzinfo is None:
        raise ValueError("london_date needs an aware datetime (e.g. datetime.now(UTC))")
    return instant.astimezone(LONDON).date()


def london_today() -> date:
    return london_date(datetime.now(UTC))
