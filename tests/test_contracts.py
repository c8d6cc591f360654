"""Contracts from the command line: run-on dates, the term after a missed deadline, notice on a past date,
the London calendar date, amounts, contradictory terms, and the contract a decommissioning project works with.

Expected dates are worked out by hand in the comments.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from .conftest import BODY, Cli, Database
from .test_decommissioning import D, _decommission


def _new(run: Cli, key: str, *terms: str) -> None:
    run("project", "new", key, "--title", key.upper(), "--owner", "alice")
    run("contract", "set", key, "--provider", "Trust X", *terms)


def _last_line(run: Cli, *args: str) -> str:
    return run(*args).stdout.splitlines()[-1]


# --- 1. the run-on of a month-end contract ends on a month end -----------------------------------

@pytest.mark.parametrize(("end", "run_on", "last"), [
    ("2027-09-30", "6 months", "2028-03-31"),   # not 30 March
    ("2027-06-30", "1 month", "2027-07-31"),    # not 30 July
    ("2027-02-28", "12 months", "2028-02-29"),  # a month-end February into a leap year
])
def test_a_month_end_contract_runs_on_to_a_month_end(run: Cli, end: str, run_on: str, last: str) -> None:
    run("init")
    _new(run, "r", "--start", "2024-10-01", "--end", end, "--notice", "3 months", "--run-on", run_on)
    assert _last_line(run, "contract", "show", "r", "--as-of", "2025-01-01").endswith(
        f"or the contract runs on to {last}.")
    assert run.json("contract", "show", "r", "--as-of", "2025-01-01")["run_on_to"] == last
    assert run.json("contracts", "due", "--as-of", end, "--within", "14 months")[0]["date"] == last


def test_the_deadline_passed_email_names_the_same_run_on_date(run: Cli) -> None:
    from .reminder_setup import Y, live_project

    live_project(run, end=f"{Y + 1}-09-30")  # six months' notice: deadline 31 March Y+1
    run("contract", "set", "camhs", "--run-on", "6 months")  # 30 September + 6 months: 31 March Y+2
    plan = run.json("remind", "--dry-run", "--as-of", f"{Y + 1}-04-01")
    passed = {r["subject"] for r in plan["reminders"] if r["kind"] == "notice-passed"}
    assert passed == {f"Notice deadline passed: the contract now runs on to {Y + 2}-03-31"}


# --- 2. after a missed deadline: the term runs on once, then ends ------------------------------------

@pytest.fixture
def d(run: Cli) -> Cli:
    """d ends 31 January 2027 with 90 days' notice (deadline 2 November 2026) and runs on 3 months
    without it (to 30 April 2027); r's notice deadline is 31 March 2027 (see the first test)."""
    run("init")
    _new(run, "d", "--start", "2024-03-01", "--end", "2027-01-31", "--notice", "90 days", "--run-on", "3 months")
    _new(run, "r", "--start", "2024-10-01", "--end", "2027-09-30", "--notice", "6 months", "--run-on", "6 months")
    return run


def test_a_running_on_contract_stays_in_contracts_due_until_its_run_on_ends(d: Cli) -> None:
    rows = d.json("contracts", "due", "--within", "180d", "--as-of", "2027-02-15")
    assert [(r["project"], r["date"], r["what"], r["status"]) for r in rows] == [
        ("r", "2027-03-31", "notice deadline", "due"), ("d", "2027-04-30", "run-on ends", "passed")]
    assert rows[1]["if_nothing_is_done"] == (
        "Notice deadline 2026-11-02 passed without notice: since 2027-01-31 the contract has been running on, "
        "to 2027-04-30, the end of its run-on of 3 months.")
    text = d("contracts", "due", "--within", "180d", "--as-of", "2027-02-15").stdout.splitlines()
    assert text[1].startswith("2027-04-30  run-on ends     d ")


def test_before_its_end_a_contract_past_its_deadline_is_listed_by_its_run_on_end(d: Cli) -> None:
    # On 1 December 2026 the deadline has passed: d will not end on 31 January 2027.
    rows = d.json("contracts", "due", "--as-of", "2026-12-01")
    assert [(r["project"], r["date"], r["what"]) for r in rows] == [
        ("r", "2027-03-31", "notice deadline"), ("d", "2027-04-30", "run-on ends")]
    assert "end date" not in d("contracts", "due", "--as-of", "2026-12-01").stdout


def test_after_its_run_on_the_contract_shows_as_ended_on_the_run_on_end(d: Cli) -> None:
    assert _last_line(d, "contract", "show", "d", "--as-of", "2027-06-15") == (
        "  on 2027-06-15: ENDED. Ended on 2027-04-30, at the end of its run-on: the notice deadline 2026-11-02 "
        "passed without notice, so it ran on for 3 months from its end date 2027-01-31.")
    shown = d.json("contract", "show", "d", "--as-of", "2027-06-15")
    assert (shown["status"], shown["end"], shown["run_on_to"], shown["effective_end"]) == (
        "ended", "2027-01-31", "2027-04-30", "2027-04-30")
    assert d.json("contract", "show", "d", "--as-of", "2027-04-30")["status"] == "passed"  # its last day
    assert [r["project"] for r in d.json("contracts", "due", "--as-of", "2027-05-01", "--within", "12m")] == ["r"]
    # years later, nothing is said to be running on to a date long gone
    assert _last_line(d, "contract", "show", "r", "--as-of", "2031-06-01").startswith(
        "  on 2031-06-01: ENDED. Ended on 2028-03-31, at the end of its run-on")


def test_a_contract_that_ends_without_notice_shows_as_ended_after_its_end(run: Cli) -> None:
    run("init")
    _new(run, "e", "--start", "2024-03-01", "--end", "2027-01-31", "--notice", "90 days", "--if-no-notice", "ends")
    assert [(r["date"], r["what"]) for r in run.json("contracts", "due", "--as-of", "2027-01-15")] == [
        ("2027-01-31", "end date")]
    assert _last_line(run, "contract", "show", "e", "--as-of", "2027-02-01") == (
        "  on 2027-02-01: ENDED. Ended on 2027-01-31.")
    assert run.json("contracts", "due", "--as-of", "2027-02-01") == []


# --- 3. on a date before notice was served, it had not been served -------------------------------------

def test_show_and_due_before_the_notice_was_served(d: Cli) -> None:
    with on("2026-11-25T12:00:00+00:00"):
        _new(d, "b", "--start", "2024-03-01", "--end", "2027-02-28", "--notice", "90 days", "--run-on", "3 months")
        d("contract", "notice", "b", "--served-on", "2026-11-20", "--ref", "NL-2")
    # 90 days before 28 February 2027 is 30 November 2026
    shown = d("contract", "show", "b", "--as-of", "2026-11-01").stdout.splitlines()
    assert shown[-2:] == [
        "  notice served   not yet on 2026-11-01 (served later, on 2026-11-20: NL-2)",
        "  on 2026-11-01: DUE. Serve notice by 2026-11-30 (in 29 days) or the contract runs on to 2027-05-31."]
    data = d.json("contract", "show", "b", "--as-of", "2026-11-01")
    assert (data["status"], data["notice_served_on"], data["notice_served_by_as_of"]) == ("due", "2026-11-20", False)
    due = d.json("contracts", "due", "--as-of", "2026-11-01", "--within", "30d")
    assert [(r["project"], r["date"], r["what"]) for r in due] == [("d", "2026-11-02", "notice deadline"),
                                                                   ("b", "2026-11-30", "notice deadline")]
    served = d("contract", "show", "b", "--as-of", "2026-11-20").stdout.splitlines()
    assert served[-2:] == ["  notice served   2026-11-20 (NL-2)",
                           "  on 2026-11-20: SERVED. Notice served on 2026-11-20, on time: ends on 2027-02-28."]


def test_the_reminder_ladder_on_a_date_before_the_notice_was_served(run: Cli) -> None:
    from .reminder_setup import live_project

    with on("2026-07-10T12:00:00+00:00"):
        # ends 30 September 2026, six months' notice: deadline 31 March 2026; served (on time) 20 March
        live_project(run, start="2025-10-01", end="2026-09-30")
        run("contract", "notice", "camhs", "--served-on", "2026-03-20", "--ref", "NL-1")
        plan = run.json("remind", "--dry-run", "--as-of", "2026-03-01")
        assert [(r["kind"], r["period"]) for r in plan["reminders"] if r["kind"] == "notice"] == [
            ("notice", "2026-03-31/30d"), ("notice", "2026-03-31/30d")]
        plan = run.json("remind", "--dry-run", "--as-of", "2026-03-25")
        assert [r for r in plan["reminders"] if r["kind"].startswith("notice")] == []


# --- 4. "today" is the date in England --------------------------------------------------------------

@contextmanager
def on(instant: str) -> Iterator[None]:
    """Run as if at this instant, on a server whose clock is set to UTC."""
    when = datetime.fromisoformat(instant).astimezone(ZoneInfo("UTC"))
    with time_machine.travel(when, tick=False):
        yield


def test_at_half_past_eleven_utc_in_summer_it_is_already_tomorrow_in_england(ready: Cli) -> None:
    run = ready
    with on("2026-07-15T23:30:00+00:00"):  # 00:30 on 16 July in London (BST)
        run("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2027-03-31",
            "--notice", "6 months", "--run-on", "12 months")
        assert _last_line(run, "contract", "show", "camhs").startswith(
            "  on 2026-07-16: DUE. Serve notice by 2026-09-30 (in 76 days)")
        assert run.json("contracts", "due", "--within", "77d")[0]["as_of"] == "2026-07-16"
        run("contract", "notice", "camhs", "--served-on", "2026-07-16", "--ref", "NL-1")
        run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
            "--ref", "minutes 1", "--date", "2026-07-16", user="clerk")
        run("milestone", "add", "camhs", "Notice letter sent", "--due", "2026-07-31")
        run("milestone", "done", "camhs", "1", "--on", "2026-07-16")
        assert run.json("milestone", "list", "camhs")[0]["done_on"] == "2026-07-16"
        err = run("contract", "notice", "camhs", "--served-on", "2026-07-17", "--ref", "x", expect=2).stderr
        assert err == "Error: --served-on 2026-07-17 is in the future; record notice once it has been served\n"


# --- 5 and 6. amounts and contradictory terms -----------------------------------------------------

def _dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    return db.dump(("project", "contract", "audit_entry"))


@pytest.mark.parametrize(("args", "error"), [
    (["--value", "1,25m"], "--value '1,25m' is not an amount in pounds; write e.g. 1250000, £1,250,000 or 1.25m "
                           "(commas only between groups of three digits)"),
    (["--annual-value", "£1,2,3"], "--annual-value '£1,2,3' is not an amount in pounds; write e.g. 1250000, "
                                   "£1,250,000 or 1.25m (commas only between groups of three digits)"),
    (["--if-no-notice", "ends", "--run-on", "6 months"],
     "--if-no-notice ends and --run-on '6 months' contradict each other: a contract that ends without notice "
     "does not run on; drop --run-on, or use --if-no-notice run-on"),
])
def test_misread_amounts_and_contradictory_terms_are_refused(ready: Cli, db: Database, args: list[str],
                                                             error: str) -> None:
    before = _dump(db)
    assert ready("contract", "set", "camhs", *args, expect=2).stderr == f"Error: {error}\n"
    assert _dump(db) == before


def test_well_formed_amounts_are_stored_exactly(ready: Cli) -> None:
    ready("contract", "set", "camhs", "--value", "£1,250,000.50", "--annual-value", "1.25m")
    shown = ready.json("contract", "show", "camhs")
    assert (shown["value_total"], shown["value_annual"]) == ("1250000.50", "1250000.00")


def test_switching_to_ends_clears_the_run_on_and_a_run_on_switches_back(ready: Cli) -> None:
    run = ready
    run("contract", "set", "camhs", "--end", "2027-03-31", "--notice", "6 months", "--run-on", "12 months")
    out = run("contract", "set", "camhs", "--if-no-notice", "ends").stdout
    assert "  notice          6 months; without notice it ends\n" in out
    shown = run.json("contract", "show", "camhs")
    assert (shown["if_no_notice"], shown["run_on"]) == ("ends", None)
    assert run.json("audit", "log", "camhs")[-1]["payload"]["changes"] == {
        "if_no_notice": ["run-on", "ends"], "run_on": ["12 months", None]}
    run("contract", "set", "camhs", "--run-on", "6 months")
    shown = run.json("contract", "show", "camhs", "--as-of", "2026-10-01")
    assert (shown["if_no_notice"], shown["run_on"], shown["run_on_to"]) == ("run-on", "6 months", "2027-09-30")


# --- 7. a decommissioning project works with its service's contract ------------------------------------

def test_a_contract_set_on_the_decommissioning_project_is_the_services(ready: Cli, db: Database) -> None:
    run = ready
    _decommission(run, contract=False)
    err = run("contract", "show", D, expect=2).stderr
    assert err == (f"Error: {D} works with the contract of camhs, the service it decommissions, which has none; "
                   f"record one with: cycle contract set camhs --provider NAME --start YYYY-MM-DD --end YYYY-MM-DD "
                   f"--notice '6 months'\n")
    out = run("contract", "set", D, "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
              "--notice", "6 months", "--run-on", "12 months").stdout
    assert out.splitlines()[:2] == [
        f"{D} decommissions camhs and works with its contract, so the terms were recorded on camhs.",
        "Contract of camhs: Trust X (no reference)"]
    assert run.json("contract", "show", "camhs")["provider"] == "Trust X"
    assert run.json("contract", "show", D)["project"] == "camhs"
    assert db.rows("SELECT p.key FROM contract c JOIN project p ON p.id = c.project_id") == [("camhs",)]
    entry = run.json("audit", "log", D)[-1]
    assert (entry["action"], entry["payload"]["contract_of"]) == ("contract.set", "camhs")
