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
- Working days are Monday to Friday except the bank holidays of one UK nation (the `holidays` package):
  England by default, or Wales, Scotland or Northern Ireland ([calendar] bank_holidays in reminders.toml).
- A date the product tells someone to act by that falls on a weekend or a bank holiday does not move (a
  contract's term is the contract's); `non_working` says so and advises acting by the working day before.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from cycle import inputs
from cycle.errors import BadInput

_PERIOD = re.compile(r"^\s*(\d{1,4})\s*(months?|m|days?|d|working[ -]days?|wd|weeks?|w|years?|y)\s*$", re.I)


MAX_MONTHS = 12 * inputs.MAX_PERIOD_YEARS  # the longest period cycle takes, in months
MAX_DAYS = 9999  # calendar or working days: what the text form holds, so a stored period always reads back


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
        found = Period(n, "working-days")
    elif unit in ("w", "week", "weeks"):
        found = Period(n * 7, "days")
    elif unit in ("y", "year", "years"):
        found = Period(n * 12, "months")
    elif unit.startswith("m"):
        found = Period(n, "months")
    else:
        found = Period(n, "days")
    ceiling = {"months": MAX_MONTHS, "days": MAX_DAYS, "working-days": MAX_DAYS}[found.unit]
    if found.n > ceiling:  # as given, not as stored; a stored period must read back (four digits)
        most = (f"{MAX_MONTHS} months ({inputs.MAX_PERIOD_YEARS} years)" if found.unit == "months"
                else f"{MAX_DAYS} {found.unit.replace('-', ' ')}")
        raise BadInput(f"{what} {text.strip()!r} is longer than cycle takes (at most {most}); write e.g. "
                       f"'6 months' or '2y'")
    return found


def parse_date(text: str, what: str = "date") -> date:
    """YYYY-MM-DD as a date within cycle's range (cycle.inputs.day)."""
    return inputs.day(text, what)


@functools.lru_cache(maxsize=4096)  # asked for every quarter's end, every notice deadline: at portfolio scale, often
def last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def is_month_end(d: date) -> bool:
    return d.day == last_day(d.year, d.month)


def add_months(d: date, n: int) -> date:
    """d + n months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = d.year * 12 + (d.month - 1) + n
    year, month = divmod(index, 12)
    return date(year, month + 1, min(d.day, last_day(year, month + 1)))


#: The nations whose bank holidays can make a day non-working, as the setting names them.
NATIONS = {"england": ("ENG", "England"), "wales": ("WLS", "Wales"), "scotland": ("SCT", "Scotland"),
           "northern-ireland": ("NIR", "Northern Ireland")}
DEFAULT_NATION = "england"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: The months' names, January first (dates and quarters written out: long_date, Quarter.describe, the emails).
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


@lru_cache(maxsize=256)
def _holidays(year: int, nation: str) -> dict[date, str]:
    import holidays  # imported on first use: only contract commands need it

    return dict(holidays.country_holidays("GB", subdiv=NATIONS[nation][0], years=year))


def is_working_day(d: date, nation: str = DEFAULT_NATION) -> bool:
    return d.weekday() < 5 and d not in _holidays(d.year, nation)


def bank_holiday_name(d: date, nation: str = DEFAULT_NATION) -> str | None:
    return _holidays(d.year, nation).get(d)


def long_date(d: date) -> str:
    """A date as UK readers write it, with its weekday: 'Friday 24 December 2027'."""
    return f"{_WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}"


def in_days(n: int) -> str:
    """How far off a day `n` days ahead is, as a sentence says it: 'today', 'in 1 day', 'in 12 days'."""
    return "today" if n == 0 else "in 1 day" if n == 1 else f"in {n} days"


@dataclass(frozen=True)
class NonWorking:
    """A day to act by that is not a working day, and the working day before it."""

    day: date
    holiday: str | None  # the bank or public holiday's name, None for a plain weekend day
    act_by: date
    nation: str

    def what(self) -> str:
        """What the day is: 'a weekend day', 'Easter Monday, a bank holiday in England', ..."""
        place = NATIONS[self.nation][1]
        if self.holiday is None:
            return "a weekend day"
        name = self.holiday
        if name.endswith(" (observed)"):
            return f"the bank holiday in {place} in place of {name.removesuffix(' (observed)')}"
        # Christmas Day and Good Friday are common-law holidays outside Scotland, not bank holidays.
        kind = "public holiday" if name in ("Christmas Day", "Good Friday") and self.nation != "scotland" \
            else "bank holiday"
        weekend = " (on a weekend)" if self.day.weekday() >= 5 else ""
        return f"{name}, a {kind} in {place}{weekend}"

    def advice(self, verb: str = "serve notice", today: date | None = None) -> str:
        """The one sentence every output uses: 'Saturday 25 December 2027 is Christmas Day, a public holiday
        in England (on a weekend): serve notice by Friday 24 December 2027, the working day before.' Once
        `today` is past that working day, it says so instead of advising a day gone by: the deadline itself
        does not move, and whether a step taken on the day itself counts is for the contract's own terms."""
        if today is not None and today > self.act_by:
            return (f"{long_date(self.day)} is {self.what()}, and the working day before it ({long_date(self.act_by)})"
                    f" has gone by: {verb} by {long_date(self.day)} at the latest, and check the contract's terms for"
                    f" how a step taken on a non-working day counts.")
        return f"{long_date(self.day)} is {self.what()}: {verb} by {long_date(self.act_by)}, the working day before."

    def as_dict(self) -> dict[str, str | None]:
        return {"date": self.day.isoformat(), "holiday": self.holiday, "act_by": self.act_by.isoformat(),
                "nation": self.nation}


def non_working(d: date, nation: str = DEFAULT_NATION) -> NonWorking | None:
    """None when `d` is a working day; else what it is and the last working day before it."""
    if is_working_day(d, nation):
        return None
    before = d - timedelta(days=1)
    while not is_working_day(before, nation):
        before -= timedelta(days=1)
    return NonWorking(d, bank_holiday_name(d, nation), before, nation)


def add(d: date, period: Period, nation: str = DEFAULT_NATION) -> date:
    """The day a period starting after `d` has run (for working days: the Nth working day after d)."""
    if period.unit == "months":
        return add_months(d, period.n)
    if period.unit == "days":
        return d + timedelta(days=period.n)
    day, count = d, 0
    while count < period.n:
        day += timedelta(days=1)
        if is_working_day(day, nation):
            count += 1
    return day


def run_on_end(end: date, run_on: Period, nation: str = DEFAULT_NATION) -> date:
    """The last day of a run-on of `run_on` after a contract's end date (see the module docstring)."""
    if run_on.unit == "months" and is_month_end(end):
        later = add_months(end, run_on.n)
        return later.replace(day=last_day(later.year, later.month))
    return add(end, run_on, nation)


def notice_deadline(end: date, notice: Period, nation: str = DEFAULT_NATION) -> date:
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
        if is_working_day(day, nation):
            count += 1
        day -= timedelta(days=1)
    while not is_working_day(day, nation):
        day -= timedelta(days=1)
    return day


def window_end(start: date, text: str, nation: str = DEFAULT_NATION) -> date:
    """The last day of a --within window such as '180d', '6m', '26w' or '60 working days' from `start`."""
    return add(start, parse_period(text, "--within"), nation)
