"""What time it is, as cycle writes it and reads it back: UTC stamps, and the date in England.

Every audit entry's `at` and every time a row holds is a UTC stamp, ISO 8601 with microseconds and a Z:
2026-10-14T09:30:00.123456Z. Reminders, decisions and reports are about calendar days in England, so
"today" is the date in Europe/London, which is one hour ahead of UTC in summer: 23:30 UTC on 31 March
is already 1 April there.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
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


# A stamp before 23:00 UTC: London (UTC+0 in winter, UTC+1 in summer) is on the same calendar day.
_BEFORE_23 = re.compile(r"(\d{4}-\d{2}-\d{2})T(?:[01]\d|2[0-2]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?Z", re.ASCII)


def london_day(stamp: str) -> date:
    """london_date(parse_utc(stamp)), the same answer and the same errors, quicker over many stamps (the due scan
    asks it of every project's stage entries): before 23:00 UTC the day is the stamp's own, worked out once per
    distinct day; other stamps (and anything not in the usual form) go the long way."""
    found = _BEFORE_23.fullmatch(stamp)
    if found is None:
        return london_date(parse_utc(stamp))
    return _day_of(found.group(1))


@lru_cache(maxsize=4096)
def _day_of(text: str) -> date:
    return date.fromisoformat(text)


def london_today() -> date:
    return london_date(datetime.now(UTC))
