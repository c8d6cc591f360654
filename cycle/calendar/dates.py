"""Date arithmetic for contracts: periods, month ends, England and Wales working days, notice deadlines.

Conventions (stated once, used everywhere):
- A notice period of N months served on day D ends on D + N months; when that month has no such day
  the period ends on the month's last day (31 August + 6 months = 28 or 29 February).
- The notice deadline is the last day D on which notice can be served so that the period has run
  by the contract's end date E: for months, the latest D with D + N months <= E (so a month-end E
  gives a month-end deadline); for calendar days, E - N days; for working days, the latest D with
  N working days after D up to and including E, moved back to a working day.
- A run-on of N months from an end date E ends on E + N months, and a month-end E gives a month-end
  run-on end, as for the notice deadline (30 September + 6 months = 31 March; 28 February 2027 +
  12 months = 29 February 2028); calendar days and working days count on from E as `add` does.
- Working days are Monday to Friday except England and Wales bank holidays (the `holidays` package).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from cycle.errors import BadInput

_PERIOD = re.compile(r"^\s*(\d{1,4})\s*(months?|m|days?|d|working[ -]days?|wd|weeks?|w|years?|y)\s*$", re.I)


@dataclass(frozen=True)
class Period:
    n: int
    unit: str  # months | days | working-days

    def __str__(self) -> str:
        unit = self.unit.replace("-", " ")
        return f"{self.n} {unit[:-1] if self.n == 1 else unit}"


def parse_period(text: str, what: str = "period") -> Period:
    """'6 months', '90 days', '60 working days', and short forms 6m, 90d, 60wd, 26w, 1y."""
    m = _PERIOD.match(text or "")
    if not m:
        raise BadInput(f"{what} {text!r} is not a period; write e.g. '6 months', '90 days' or '60 working days'")
    n, unit = int(m.group(1)), m.group(2).lower()
    if unit.startswith("working") or unit == "wd":
        return Period(n, "working-days")
    if unit in ("w", "week", "weeks"):
        return Period(n * 7, "days")
    if unit in ("y", "year", "years"):
        return Period(n * 12, "months")
    if unit.startswith("m"):
        return Period(n, "months")
    return Period(n, "days")


def parse_date(text: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise BadInput(f"{what} {text!r} is not a date; use YYYY-MM-DD, e.g. 2027-03-31") from None


def last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def is_month_end(d: date) -> bool:
    return d.day == last_day(d.year, d.month)


def add_months(d: date, n: int) -> date:
    """d + n months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = d.year * 12 + (d.month - 1) + n
    year, month = divmod(index, 12)
    return date(year, month + 1, min(d.day, last_day(year, month + 1)))


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    import holidays  # imported on first use: only contract commands need it

    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(d: date) -> bool:
    return d.weekday() < 5 and d not in _bank_holidays(d.year)


def bank_holiday_name(d: date) -> str | None:
    import holidays

    return holidays.country_holidays("GB", subdiv="ENG", years=d.year).get(d)


def add(d: date, period: Period) -> date:
    """The day a period starting after `d` has run (for working days: the Nth working day after d)."""
    if period.unit == "months":
        return add_months(d, period.n)
    if period.unit == "days":
        return d + timedelta(days=period.n)
    day, count = d, 0
    while count < period.n:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return day


def run_on_end(end: date, run_on: Period) -> date:
    """The last day of a run-on of `run_on` after a contract's end date (see the module docstring)."""
    if run_on.unit == "months" and is_month_end(end):
        later = add_months(end, run_on.n)
        return later.replace(day=last_day(later.year, later.month))
    return add(end, run_on)


def notice_deadline(end: date, notice: Period) -> date:
    """The last day notice can be served for the contract to end on `end` (see the module docstring)."""
    if notice.unit == "months":
        deadline = add_months(end, -notice.n)
        if is_month_end(end):
            deadline = deadline.replace(day=last_day(deadline.year, deadline.month))
        return deadline
    if notice.unit == "days":
        return end - timedelta(days=notice.n)
    day, count = end, 0
    while count < notice.n:  # count back N working days within (D, end]
        if is_working_day(day):
            count += 1
        day -= timedelta(days=1)
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def window_end(start: date, text: str) -> date:
    """The last day of a --within window such as '180d', '6m', '26w' or '60 working days' from `start`."""
    return add(start, parse_period(text, "--within"))
