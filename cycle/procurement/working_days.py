"""Working days as each law defines them, and the counting conventions the regimes' clocks use.

- The PSR (SI 2023/1348 reg 12(12)): "'public holiday' means Christmas Day, Good Friday, the first Monday in May
  or a bank holiday in England under the Banking and Financial Dealings Act 1971; 'working day' means any day
  which is not Saturday, Sunday or a public holiday." England's bank holidays only (Scotland's 2 January and 30
  November and Northern Ireland's 17 March and 12 July are working days), and the first Monday in May literally
  (in 2020 the bank holiday moved to 8 May; Monday 4 May was still a public holiday for the PSR).
- The Procurement Act 2023 s.123(1): "a day other than a Saturday or Sunday, or a day which is a bank holiday in
  any part of the United Kingdom under the Banking and Financial Dealings Act 1971". Every nation's bank holidays
  (England and Wales, Scotland, Northern Ireland); Christmas Day and Good Friday are bank holidays in Scotland.
- Christmas Eve is a working day under both.

Bank holidays come from the `holidays` package (cycle.calendar.dates), which knows 1872 to 2100; a day that a
future proclamation makes a bank holiday appears once the package is updated.
"""

from __future__ import annotations

from datetime import date, timedelta

from cycle import inputs
from cycle.calendar import dates
from cycle.errors import BadInput

#: The calendars a clock may count in (regimes.toml `calendar`), and what each is called in a sentence.
CALENDARS = {
    "days": "calendar days",
    "psr-working-days": "working days (PSR reg 12(12): England's bank holidays, Christmas Day, Good Friday, "
                        "the first Monday in May)",
    "pa2023-working-days": "working days (Procurement Act 2023 s.123(1): a bank holiday in any part of the UK)",
}
#: How a period is counted from the day of the event that starts it (regimes.toml `count`).
COUNTS = {
    "after": "from the day after the event (the Nth day after it)",
    "beginning-with": "beginning with the day of the event (that day is day 1)",
    "after-the-day-after": "the period begins on the day after the event, and runs N days after that day "
                           "(PSR reg 12(2)-(3))",
}
_UK = ("england", "wales", "scotland", "northern-ireland")


def _first_monday_in_may(year: int) -> date:
    first = date(year, 5, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7)


def psr_holiday(d: date) -> str | None:
    """The PSR public holiday `d` is (reg 12(12)), or None."""
    if d.month == 12 and d.day == 25:
        return "Christmas Day"
    if d == _first_monday_in_may(d.year):
        return "the first Monday in May"
    name = dates.bank_holiday_name(d, "england")
    if name is not None:
        return name  # Good Friday is in the package's list for England (a common-law holiday there)
    return None


def pa2023_holiday(d: date) -> str | None:
    """The bank holiday in some part of the UK that `d` is (PA 2023 s.123(1)), or None."""
    for nation in _UK:
        name = dates.bank_holiday_name(d, nation)
        if name is not None:
            return f"{name} ({dates.NATIONS[nation][1]})"
    return None


def is_working_day(d: date, calendar: str) -> bool:
    if calendar == "days":
        return True
    if d.weekday() >= 5:
        return False
    return (psr_holiday(d) if calendar == "psr-working-days" else pa2023_holiday(d)) is None


def last_day(event: date, n: int, calendar: str, count: str) -> date:
    """The last day of a period of `n` days (in `calendar`) started by an event on `event`, counted by `count`.

    after:               calendar days: event + n; working days: the nth working day after the event.
    beginning-with:      calendar days: event + n - 1; working days: the nth working day counting the event's
                         day itself when it is one.
    after-the-day-after: the period begins on event + 1; its end is the nth (working) day after that day."""
    if count == "after-the-day-after":
        event += timedelta(days=1)
        count = "after"
    if calendar == "days":
        return event + timedelta(days=n - 1 if count == "beginning-with" else n)  # a date past 2100 is kept
    day = event - timedelta(days=1) if count == "beginning-with" else event
    found = 0
    while found < n:
        day += timedelta(days=1)
        if day > inputs.LAST_DAY:  # the package knows no bank holidays after 2100: a count there would be wrong
            raise BadInput(f"a period of {n} working days from {event.isoformat()} runs past "
                           f"{inputs.LAST_DAY.isoformat()}, beyond the bank holidays cycle knows")
        if is_working_day(day, calendar):
            found += 1
    return day
