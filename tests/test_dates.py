"""Notice deadline arithmetic: month ends, leap years, working days over bank holidays, short terms."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cycle.calendar import dates
from cycle.contracts import parse_money, status
from cycle.db.models import Contract
from cycle.errors import BadInput

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


@pytest.mark.parametrize(("end", "run_on", "last"), [
    (date(2027, 9, 30), "6 months", date(2028, 3, 31)),   # month-end end: month-end run-on (not 30 March)
    (date(2027, 6, 30), "1 month", date(2027, 7, 31)),
    (date(2027, 2, 28), "12 months", date(2028, 2, 29)),  # into a leap February
    (date(2028, 2, 29), "12 months", date(2029, 2, 28)),  # out of one
    (date(2027, 1, 31), "1 month", date(2027, 2, 28)),
    (date(2027, 3, 15), "3 months", date(2027, 6, 15)),   # mid-month: the corresponding date
    (date(2027, 8, 30), "6 months", date(2028, 2, 29)),   # no 30 February: the month's last day
    (date(2027, 1, 31), "90 days", date(2027, 5, 1)),     # 28 + 31 + 30 = 89 days to 30 April
])
def test_run_on_end_keeps_month_ends_as_the_notice_deadline_does(end: date, run_on: str, last: date) -> None:
    assert dates.run_on_end(end, P(run_on)) == last


def test_a_month_end_contract_runs_on_to_a_month_end() -> None:
    c = _contract(start="2024-10-01", end="2027-09-30", run_on="6 months")
    st = status("r", c, date(2027, 4, 1))
    assert (st.state, st.run_on_to, st.effective_end) == ("passed", date(2028, 3, 31), date(2028, 3, 31))
    assert st.consequence == "Notice deadline 2027-03-31 has passed: the contract runs on to 2028-03-31."


def test_after_a_missed_deadline_the_term_runs_on_once_then_ends() -> None:
    # 90 days' notice before 31 January 2027 is 2 November 2026; three months' run-on ends 30 April 2027.
    c = _contract(start="2024-03-01", end="2027-01-31", notice="90 days", run_on="3 months")
    before_end = status("d", c, date(2026, 12, 1))
    assert (before_end.state, before_end.effective_end) == ("passed", date(2027, 4, 30))
    running = status("d", c, date(2027, 2, 15))
    assert (running.state, running.run_on_to, running.effective_end) == ("passed", date(2027, 4, 30),
                                                                          date(2027, 4, 30))
    assert running.consequence == ("Notice deadline 2026-11-02 passed without notice: since 2027-01-31 the contract "
                                   "has been running on, to 2027-04-30, the end of its run-on of 3 months.")
    assert status("d", c, date(2027, 4, 30)).state == "passed"  # its last day
    ended = status("d", c, date(2027, 6, 15))
    assert (ended.state, ended.effective_end) == ("ended", date(2027, 4, 30))
    assert ended.consequence == ("Ended on 2027-04-30, at the end of its run-on: the notice deadline 2026-11-02 "
                                 "passed without notice, so it ran on for 3 months from its end date 2027-01-31.")


def test_late_notice_runs_on_then_ends() -> None:
    c = _contract(notice_served_on="2027-10-01")  # deadline 30 September 2027, run-on to 31 March 2029
    assert status("x", c, date(2029, 3, 31)).state == "served-late"
    ended = status("x", c, date(2029, 4, 1))
    assert (ended.state, ended.effective_end) == ("ended", date(2029, 3, 31))
    assert ended.consequence.startswith("Ended on 2029-03-31, at the end of its run-on: notice was served on "
                                        "2027-10-01, after the deadline 2027-09-30, so it ran on for 12 months")


def test_with_no_run_on_period_a_passed_contract_runs_on_with_no_end_in_sight() -> None:
    st = status("x", _contract(run_on=None), date(2028, 5, 1))
    assert (st.state, st.run_on_to, st.effective_end) == ("passed", None, None)
    assert st.consequence == ("Notice deadline 2027-09-30 passed without notice: since 2028-03-31 the contract has "
                              "been running on (no run-on period stated; set it with: cycle contract set x "
                              "--run-on PERIOD).")


def test_notice_served_after_the_as_of_date_had_not_been_served_then() -> None:
    c = _contract(notice_served_on="2027-09-20", notice_ref="NL-2")
    before = status("x", c, date(2027, 9, 1))
    assert (before.state, before.days_to_deadline) == ("due", 29)
    assert before.key_dates()["notice_served_on"] is None and before.as_dict()["notice_served_by_as_of"] is False
    after = status("x", c, date(2027, 9, 20))
    assert after.state == "served" and after.key_dates()["notice_served_on"] == date(2027, 9, 20)
    assert status("x", c, date(2028, 4, 1)).consequence == "Ended on 2028-03-31: notice served on 2027-09-20, on time."


@pytest.mark.parametrize(("text", "pounds"), [
    ("1250000", "1250000.00"), ("1,250,000", "1250000.00"), ("£1,250,000.50", "1250000.50"), ("£ 999", "999.00"),
    ("1.25m", "1250000.00"), ("350k", "350000.00"), ("1,250k", "1250000.00"), ("0.5", "0.50"),
])
def test_well_formed_amounts(text: str, pounds: str) -> None:
    assert parse_money(text, "--value") == pounds


@pytest.mark.parametrize("text", ["1,25m", "£1,2,3", "12,50", "1,2500", ",100", "1,000,00", "1.255", "£", "1.5.0"])
def test_misgrouped_or_malformed_amounts_are_refused(text: str) -> None:
    with pytest.raises(BadInput, match="is not an amount in pounds; write e.g. 1250000, £1,250,000 or 1.25m"):
        parse_money(text, "--value")


@pytest.mark.parametrize("stamp", [
    "2026-07-01T22:59:59.999999Z", "2026-07-01T23:00:00.000000Z",  # summer: 23:00 UTC is midnight in London
    "2026-12-31T23:30:00Z", "2026-03-29T00:30:00.5Z", "2026-10-25T23:59:59Z", "2027-03-27T23:00:00.000001Z",
    "2026-02-29T10:00:00Z", "2026-13-01T10:00:00Z", "2026-07-01T24:00:00Z", "2026-07-01t10:00:00Z", "",
    "٢٠٢٦-07-01T10:00:00Z", "2026-07-01T10:00:00+00:00", "2026-07-01T10:00Z"])
def test_london_day_of_a_stamp_is_the_long_way_round(stamp: str) -> None:
    """clock.london_day (the due scan's quick way from a stamp to its day in England) gives what london_date of
    parse_utc gives, and fails where it fails (an hour before midnight in summer is already the next day)."""
    from cycle.calendar import clock

    try:
        expected: object = clock.london_date(clock.parse_utc(stamp))
    except ValueError as exc:
        expected = type(exc)
    try:
        found: object = clock.london_day(stamp)
    except ValueError as exc:
        found = type(exc)
    assert found == expected


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(UTC)))
def test_london_day_agrees_at_any_instant(instant: datetime) -> None:
    from cycle.calendar import clock

    stamp = clock.utc_stamp(instant)
    assert clock.london_day(stamp) == clock.london_date(instant) == clock.london_date(clock.parse_utc(stamp))
