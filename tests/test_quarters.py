"""English financial quarters: Q1 April-June ... Q4 January-March of the next calendar year, on London dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cycle.calendar.clock import london_date
from cycle.calendar.quarters import Quarter, parse_quarter, quarter_of, quarters_between
from cycle.errors import BadInput


def test_quarters_of_the_financial_year() -> None:
    assert [str(quarter_of(date(2026, m, 15))) for m in range(1, 13)] == (
        ["2025-Q4"] * 3 + ["2026-Q1"] * 3 + ["2026-Q2"] * 3 + ["2026-Q3"] * 3)
    q4 = Quarter(2026, 4)
    assert (q4.start, q4.end) == (date(2027, 1, 1), date(2027, 3, 31))
    assert q4.describe() == "January to March 2027 (financial year 2026/27)"
    assert Quarter(2027, 4).end == date(2028, 3, 31)  # the financial year's end is never a leap day
    assert Quarter(2026, 1).start == date(2026, 4, 1) and Quarter(2026, 1).end == date(2026, 6, 30)
    assert Quarter(2026, 2).end == date(2026, 9, 30)
    assert Quarter(2099, 3).describe() == "October to December 2099 (financial year 2099/00)"


def test_quarter_arithmetic_across_the_year_end() -> None:
    q3 = parse_quarter("2026-Q3")
    assert (q3.start, q3.end) == (date(2026, 10, 1), date(2026, 12, 31))
    assert str(q3 + 1) == "2026-Q4" and (q3 + 1).start == date(2027, 1, 1)  # the calendar year changes ...
    assert str(q3 + 2) == "2027-Q1" and (q3 + 2).start == date(2027, 4, 1)  # ... the financial year here
    assert str(Quarter(2027, 1) - 1) == "2026-Q4"
    assert str(q3 + 8) == "2028-Q3" and str(q3 - 8) == "2024-Q3"
    assert quarter_of(date(2026, 12, 31)) == q3 and quarter_of(date(2027, 1, 1)) == q3 + 1
    assert quarter_of(date(2027, 3, 31)) == q3 + 1 and quarter_of(date(2027, 4, 1)) == q3 + 2
    assert [str(q) for q in quarters_between(date(2026, 12, 31), date(2027, 4, 1))] == ["2026-Q3", "2026-Q4",
                                                                                         "2027-Q1"]
    # every day of a span belongs to exactly the quarter whose bounds contain it
    day = date(2025, 1, 1)
    while day < date(2029, 1, 1):
        q = quarter_of(day)
        assert q.start <= day <= q.end and (q + 1).start == q.end + timedelta(days=1)
        day += timedelta(days=1)


def test_quarter_labels_are_parsed_strictly() -> None:
    assert parse_quarter("2026q3") == parse_quarter(" 2026-Q3 ") == Quarter(2026, 3)
    for bad in ("2026-Q5", "Q3 2026", "2026", "26-Q3", ""):
        with pytest.raises(BadInput, match=r"is not a financial quarter; write YEAR-QN, e.g. 2026-Q3"):
            parse_quarter(bad)


@pytest.mark.parametrize(("utc", "london", "quarter"), [
    # year end, in GMT: London is UTC
    ("2026-12-31T23:59:59", "2026-12-31", "2026-Q3"),
    ("2027-01-01T00:00:00", "2027-01-01", "2026-Q4"),
    # spring change (28 March 2027, 01:00 UTC): London runs an hour ahead from then on, so the
    # quarter (and financial year) turns at 23:00 UTC on 31 March
    ("2027-03-28T00:59:59", "2027-03-28", "2026-Q4"),
    ("2027-03-31T22:59:59", "2027-03-31", "2026-Q4"),
    ("2027-03-31T23:00:00", "2027-04-01", "2027-Q1"),
    # summer: 1 October begins at 23:00 UTC on 30 September
    ("2026-09-30T22:59:59", "2026-09-30", "2026-Q2"),
    ("2026-09-30T23:00:00", "2026-10-01", "2026-Q3"),
    # autumn change (25 October 2026, 01:00 UTC): both 01:30s are the same London date
    ("2026-10-25T00:30:00", "2026-10-25", "2026-Q3"),
    ("2026-10-25T01:30:00", "2026-10-25", "2026-Q3"),
    ("2026-10-25T23:30:00", "2026-10-25", "2026-Q3"),
])
def test_london_date_and_quarter_at_an_instant(utc: str, london: str, quarter: str) -> None:
    instant = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert london_date(instant).isoformat() == london
    assert str(quarter_of(london_date(instant))) == quarter


def test_london_date_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        london_date(datetime(2027, 3, 31, 23, 30))
