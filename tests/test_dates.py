"""Notice deadline arithmetic: month ends, leap years, working days over bank holidays, short terms."""

from __future__ import annotations

from datetime import date

import pytest

from cycle import dates
from cycle.contracts import status
from cycle.errors import BadInput
from cycle.models import Contract

P = dates.parse_period


@pytest.mark.parametrize(("end", "notice", "deadline"), [
    (date(2027, 3, 31), "6 months", date(2026, 9, 30)),   # month-end contract: month-end deadline
    (date(2027, 2, 28), "6 months", date(2026, 8, 31)),   # 31 Aug + 6 months = 28 Feb
    (date(2028, 2, 29), "6 months", date(2027, 8, 31)),   # leap-year end
    (date(2028, 8, 31), "6 months", date(2028, 2, 29)),   # leap-year deadline
    (date(2027, 8, 31), "12 months", date(2026, 8, 31)),
    (date(2027, 3, 15), "3 months", date(2026, 12, 15)),  # mid-month: corresponding date
    (date(2027, 5, 30), "3 months", date(2027, 2, 28)),   # no 30 February: clamp back
    (date(2027, 4, 1), "90 days", date(2027, 1, 1)),
    (date(2028, 3, 1), "30 days", date(2028, 1, 31)),     # leap February counted
])
def test_calendar_notice(end: date, notice: str, deadline: date) -> None:
    got = dates.notice_deadline(end, P(notice))
    assert got == deadline
    assert dates.add(got, P(notice)) <= end  # served on the deadline, notice has run by the end
    assert dates.add(got + (date(2000, 1, 2) - date(2000, 1, 1)), P(notice)) > end  # a day later is too late


def test_working_days_over_christmas_and_new_year() -> None:
    # 10 working days before Friday 8 January 2027, skipping 25 and 28 December 2026 (Christmas Day and
    # Boxing Day observed), 1 January 2027 and the weekends.
    assert dates.notice_deadline(date(2027, 1, 8), P("10 working days")) == date(2026, 12, 22)
    assert not dates.is_working_day(date(2026, 12, 28))
    assert dates.bank_holiday_name(date(2026, 12, 28)) == "Boxing Day (observed)"


def test_working_days_over_easter() -> None:
    # Good Friday 26 March and Easter Monday 29 March 2027 are not working days.
    assert dates.notice_deadline(date(2027, 4, 2), P("5 working days")) == date(2027, 3, 24)
    assert dates.notice_deadline(date(2027, 4, 2), P("2 working days")) == date(2027, 3, 31)


def test_working_day_deadline_is_itself_a_working_day() -> None:
    # 1 working day before Tuesday 29 Dec 2026 is Tuesday itself counted; the day before that, Monday 28th,
    # is Boxing Day observed, so the deadline moves back to Thursday 24 December.
    assert dates.notice_deadline(date(2026, 12, 29), P("1 working day")) == date(2026, 12, 24)


@pytest.mark.parametrize(("text", "period"), [
    ("6 months", dates.Period(6, "months")), ("6m", dates.Period(6, "months")), ("1 year", dates.Period(12, "months")),
    ("90 days", dates.Period(90, "days")), ("26w", dates.Period(182, "days")),
    ("60 working days", dates.Period(60, "working-days")), ("60wd", dates.Period(60, "working-days")),
])
def test_periods(text: str, period: dates.Period) -> None:
    assert P(text) == period


def test_bad_period_and_date_say_how_to_write_them() -> None:
    with pytest.raises(BadInput, match="write e.g. '6 months', '90 days' or '60 working days'"):
        P("six months")
    with pytest.raises(BadInput, match="use YYYY-MM-DD"):
        dates.parse_date("31/03/2027")


def _contract(**kw: str) -> Contract:
    base = {"start": "2025-04-01", "end": "2028-03-31", "notice": "6 months", "run_on": "12 months",
            "if_no_notice": "run-on", "updated_at": "x"}
    return Contract(project_id=1, **{**base, **kw})


def test_status_through_time() -> None:
    c = _contract()
    assert status("camhs", c, date(2026, 1, 1)).state == "open"
    due = status("camhs", c, date(2027, 9, 1))
    assert (due.state, due.days_to_deadline) == ("due", 29)
    assert status("camhs", c, date(2027, 9, 30)).consequence.startswith("Serve notice by 2027-09-30 (today)")
    passed = status("camhs", c, date(2027, 10, 1))
    assert passed.state == "passed"
    assert passed.consequence == ("Notice deadline 2027-09-30 has passed: the contract runs on to 2029-03-31.")


def test_notice_longer_than_the_remaining_term_has_already_passed() -> None:
    # Two months left, six months' notice: the deadline was four months ago.
    st = status("camhs", _contract(), date(2028, 2, 1))
    assert st.state == "passed" and st.deadline == date(2027, 9, 30)
    assert st.run_on_to == date(2029, 3, 31)


def test_served_on_time_and_late() -> None:
    assert status("x", _contract(notice_served_on="2027-09-30"), date(2027, 10, 1)).state == "served"
    late = status("x", _contract(notice_served_on="2027-10-01"), date(2027, 10, 2))
    assert late.state == "served-late"
    assert late.consequence.endswith("after the deadline 2027-09-30: the contract runs on to 2029-03-31.")


def test_a_contract_that_simply_ends() -> None:
    st = status("x", _contract(if_no_notice="ends", run_on=None), date(2027, 12, 1))
    assert st.state == "ends" and "without notice" in st.consequence
