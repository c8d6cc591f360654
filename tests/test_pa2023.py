"""The Procurement Act 2023's KPI duties (issue 17 part 8): a contract let under the Act worth more than £5 million
needs at least three KPIs (s.52(1)) unless exempt (s.52(2)), and an assessment against them at least once in every
12 months and on termination (s.71(2)), rated as the Procurement Regulations 2024 reg 39(5) words it.

Reads name their day with --as-of; an assessment is recorded on the real day, so what follows one is worked out
from today.
"""

from __future__ import annotations

import json
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from cycle.calendar import clock, dates

from .conftest import Cli, Database

ON = "2026-01-31"
RTT = ("--title", "Referral to treatment within 4 weeks", "--unit", "%", "--target", "92", "--better", "higher")
S52 = ("Procurement Act 2023 s.52(1): a contract of more than £5 million needs at least 3 KPIs; it has {n}. Add them "
       "with: cycle kpi add p ID ..., or record why KPIs could not appropriately assess it (s.52(2)): cycle contract "
       "set p --kpis-exempt REASON")


def _contract(run: Cli, value: str = "5000000.01", regime: str | None = "pa2023", *more: str) -> Cli:
    run("init")
    run("project", "new", "p", "--title", "P", "--owner", "alice")
    run("contract", "set", "p", "--provider", "Trust X", "--ref", "CR-1", "--start", "2025-04-01", "--end",
        "2030-03-31", "--notice", "6 months", "--value", value, *(("--regime", regime) if regime else ()), *more)
    return run


def _due(run: Cli, on: str = ON) -> list[tuple[str, str]]:
    return [(r["date"], r["what"]) for r in run.json("contracts", "due", "--within", "90d", "--as-of", on)]


# --- s.52: at least three KPIs --------------------------------------------------------------------------------------

def test_more_than_five_million_needs_three_kpis_and_exactly_five_million_does_not(run: Cli) -> None:
    _contract(run)
    assert _due(run) == [(ON, "s.52 KPIs"), ("2026-03-31", "s.71 assessment")]
    listed = run("kpi", "list", "p", "--as-of", ON)
    assert listed.stdout.splitlines()[1] == "p CR-1: " + S52.format(n=0)
    for k in ("a", "b"):
        run("kpi", "add", "p", k, *RTT)
    shown = run("contracts", "due", "--within", "90d", "--as-of", ON).stdout.splitlines()
    assert shown[0] == f"{ON}  s.52 KPIs       p                  Trust X (CR-1): " + S52.format(n=2)
    run("kpi", "add", "p", "c", *RTT)
    assert _due(run) == [("2026-03-31", "s.71 assessment")]  # three: s.52 met; the assessment is still due
    run("contract", "set", "p", "--value", "5000000")  # exactly £5m is not "more than"
    assert _due(run) == []
    assert run("kpi", "list", "p", "--as-of", ON).stderr == ""


def test_kpi_list_json_gives_each_indicator_the_flags_of_its_contract(run: Cli) -> None:
    """With --json the s.52(1) and s.71(2) lines went to stderr only: a program reading the JSON never saw them."""
    _contract(run)
    for k in ("a", "b"):
        run("kpi", "add", "p", k, *RTT)
    s71 = ("Procurement Act 2023 s.71(2): an assessment of performance against its KPIs is due by 2026-03-31; record "
           "it with: cycle kpi assess p --rating RATING --period FROM..TO")
    listed = run("kpi", "list", "p", "--as-of", ON, "--json")
    assert [(k["kpi"], k["flags"]) for k in json.loads(listed.stdout)] == [
        ("a", [S52.format(n=2), s71]), ("b", [S52.format(n=2), s71])]
    assert listed.stderr.splitlines() == ["p CR-1: " + S52.format(n=2), "p CR-1: " + s71]
    run("kpi", "add", "p", "c", *RTT)
    run("contract", "set", "p", "--value", "5000000")  # not under the duty
    assert [k["flags"] for k in run.json("kpi", "list", "p", "--as-of", ON)] == [[], [], []]


@pytest.mark.parametrize("regime", ["pa2023-light-touch", "psr", "none", None])
def test_light_touch_psr_none_or_unrecorded_is_not_flagged(run: Cli, regime: str | None) -> None:
    _contract(run, "9000000", regime)
    assert _due(run) == []
    assert run.json("contract", "show", "p", "--as-of", ON)["assessment_due_on"] is None


def test_an_exemption_under_s52_2_lifts_both(run: Cli, db: Database) -> None:
    _contract(run)
    run("contract", "set", "p", "--kpis-exempt", "Outcomes-based grant: KPIs could not assess the supplier")
    assert _due(run) == []
    shown = run("contract", "show", "p", "--as-of", ON).stdout
    assert "  KPIs exempt     s.52(2): Outcomes-based grant: KPIs could not assess the supplier\n" in shown
    assert "FLAG" not in shown


def test_a_bad_regime_is_one_line_and_nothing_written(run: Cli, db: Database) -> None:
    _contract(run)
    before = db.dump()
    assert run("contract", "set", "p", "--regime", "PA 2023", expect=2).stderr == (
        "Error: --regime must be one of pa2023, pa2023-light-touch, psr, none, not 'PA 2023' (pa2023: let under the "
        "Procurement Act 2023; psr: the NHS Provider Selection Regime)\n")
    assert db.dump() == before


# --- s.71: an assessment every 12 months and on termination -------------------------------------------------------

def test_the_first_assessment_is_due_within_twelve_months_of_the_start(run: Cli) -> None:
    _contract(run)
    shown = run("contract", "show", "p", "--as-of", ON).stdout
    assert "  KPI assessment  next due by 2026-03-31 (Procurement Act 2023 s.71(2))\n" in shown
    late = run("contract", "show", "p", "--as-of", "2026-04-02").stdout
    assert ("  FLAG: Procurement Act 2023 s.71(2): an assessment of performance against its KPIs is due by 2026-03-31, "
            "overdue by 2 days; record it with: cycle kpi assess p --rating RATING --period FROM..TO\n") in late
    assert _due(run, "2026-04-02") == [("2026-03-31", "s.71 assessment"), ("2026-04-02", "s.52 KPIs")]


def test_an_assessment_moves_the_next_twelve_months_on(run: Cli, db: Database) -> None:
    _contract(run)
    today = clock.london_today()
    done = run("kpi", "assess", "p", "--rating", "requires-improvement", "--period", "2025-04-01..2025-12-31",
               "--note", "published on the central platform")
    nxt = dates.add_months(today, 12)
    assert done.stdout == (f"Recorded the assessment of p's contract CR-1 for 2025-04-01 to 2025-12-31: "
                           f"requires-improvement. The next is due by {nxt}.\n")
    assert run.json("contract", "show", "p")["assessment_due_on"] == nxt.isoformat()
    payload = db.audit()[-1]
    assert payload["action"] == "kpi.assess"
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_on_termination_the_assessment_is_due_by_the_last_day_then_none(run: Cli) -> None:
    today = clock.london_today()
    end = today - timedelta(days=10)
    run("init")
    run("project", "new", "p", "--title", "P", "--owner", "alice")
    run("contract", "set", "p", "--provider", "Trust X", "--start", str(end - timedelta(days=200)), "--end",
        str(end), "--notice", "1 month", "--if-no-notice", "ends", "--value", "6m", "--regime", "pa2023")
    assert run.json("contract", "show", "p")["assessment_due_on"] == end.isoformat()  # before the anniversary
    assert ("s.71 assessment" in [w for _, w in _due(run, str(today))])  # overdue, though the contract has ended
    run("kpi", "assess", "p", "--rating", "good", "--period", f"{end - timedelta(days=200)}..{end}")
    assert run.json("contract", "show", "p")["assessment_due_on"] is None


@pytest.mark.parametrize(("args", "error"), [
    (("--rating", "great", "--period", "2025-04-01..2025-12-31"),
     "--rating must be one of good, approaching-target, requires-improvement, inadequate, other (Procurement "
     "Regulations 2024 reg 39(5)), not 'great'"),
    (("--rating", "=good", "--period", "2025-04-01..2025-12-31"),
     "--rating must be one of good, approaching-target, requires-improvement, inadequate, other (Procurement "
     "Regulations 2024 reg 39(5)), not '=good'"),
    (("--rating", "good", "--period", "2025-04-01..2099-12-31"),
     "--period 2025-04-01..2099-12-31 ends after today ({today}); assess a period once it has passed"),
    (("--rating", "good", "--period", "2025-12-31..2025-04-01"),
     "--period 2025-12-31..2025-04-01 ends before it begins"),
    (("--rating", "good", "--period", "2025-04-01"),
     "--period '2025-04-01' must be FROM..TO, two dates, e.g. 2026-04-01..2027-03-31"),
    (("--rating", "good", "--period", "2024-01-01..2024-12-31"),
     "--period 2024-01-01..2024-12-31 ends before the contract started (2025-04-01)"),
    (("--ref", "CR-9", "--rating", "good", "--period", "2025-04-01..2025-12-31"),
     "p has no contract with ref 'CR-9'; its contracts: CR-1"),
])
def test_kpi_assess_refuses_bad_input_and_writes_nothing(run: Cli, db: Database, args: tuple[str, ...],
                                                         error: str) -> None:
    _contract(run)
    before = db.dump()
    refused = run("kpi", "assess", "p", *args, expect=2)
    assert refused.stderr == f"Error: {error.format(today=clock.london_today())}\n"
    assert db.dump() == before


def test_other_and_the_regulations_wording_are_accepted(run: Cli, db: Database) -> None:
    _contract(run)
    run("kpi", "assess", "p", "--rating", "Approaching target", "--period", "2025-04-01..2025-06-30")
    run("kpi", "assess", "p", "--rating", "other", "--period", "2025-07-01..2025-09-30")
    ratings = [json.loads(e["payload"])["rating"] for e in db.audit() if e["action"] == "kpi.assess"]
    assert ratings == ["approaching-target", "other"]


@pytest.mark.parametrize(("statement", "table"), [
    ("UPDATE kpi_assessment SET rating = 'good' WHERE id = 1", "kpi_assessment #1"),
    ("UPDATE contract SET regime = 'psr' WHERE id = 1", "contract #1"),
    ("UPDATE contract SET kpis_exempt = 'no KPIs please' WHERE id = 1", "contract #1"),
])
def test_a_hand_edited_assessment_or_regime_is_caught_by_audit_verify(run: Cli, db: Database, statement: str,
                                                                      table: str) -> None:
    _contract(run)
    run("kpi", "assess", "p", "--rating", "inadequate", "--period", "2025-04-01..2025-12-31")
    assert run("audit", "verify").exit_code == 0
    db.tamper(statement)
    assert f"{table} differs from its audit entry" in run("audit", "verify", expect=1).stderr


# --- the reminders ----------------------------------------------------------------------------------------------------

def test_the_assessment_reminders_go_once_before_and_once_overdue(run: Cli, home: Path) -> None:
    """A contract from 1 October Y: its first assessment is due by 30 September Y+1. The owner hears 30 days before,
    once however often the reminders run; when it is past, the owner and the governance lead hear it, once."""
    from .reminder_setup import Y, live_project, maildir_messages, remind_run

    live_project(run)
    run("contract", "set", "camhs", "--value", "6m", "--regime", "pa2023")

    def sent() -> list[tuple[str, str]]:
        found = []
        for path in maildir_messages(home):
            msg = message_from_bytes(path.read_bytes(), policy=policy.default)
            if "assessment" in str(msg["X-Cycle-Reminder"]):
                found += [(str(msg["X-Cycle-Reminder"]), a.addr_spec) for a in msg["To"].addresses]
        return sorted(found)

    remind_run(run, f"{Y + 1}-08-30")  # 31 days before: nothing yet
    assert sent() == []
    remind_run(run, f"{Y + 1}-08-31")  # 30 days before
    remind_run(run, f"{Y + 1}-09-15")
    due = f"camhs assessment-due {Y + 1}-09-30/c1"
    assert sent() == [(due, "alice@council.example")]
    (path,) = [p for p in maildir_messages(home) if due in p.read_text(errors="replace")]
    text = message_from_bytes(path.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    assert "cycle kpi assess camhs --rating RATING --period FROM..TO" in text
    assert f"30 September {Y + 1}" in text
    remind_run(run, f"{Y + 1}-09-30")
    remind_run(run, f"{Y + 1}-10-01")
    remind_run(run, f"{Y + 1}-10-05")
    overdue = f"camhs assessment-overdue {Y + 1}-09-30/c1"
    assert sent() == [(due, "alice@council.example"), (overdue, "alice@council.example"),
                      (overdue, "gina@council.example")]


# --- a careless or hostile hand --------------------------------------------------------------------------------------

@pytest.mark.parametrize("statement", [
    "UPDATE kpi_assessment SET recorded_at = 'yesterday-ish' WHERE id = 1",
    "UPDATE kpi_assessment SET recorded_at = '99999-01-01T00:00:00Z' WHERE id = 1",
    "UPDATE contract SET value_total = 'NaN' WHERE id = 1",
    "UPDATE contract SET value_total = '1e999999999' WHERE id = 1",
    "UPDATE contract SET regime = 'PA2023' WHERE id = 1",
])
def test_text_edited_into_nonsense_gives_no_traceback_and_verify_names_it(run: Cli, db: Database,
                                                                         statement: str) -> None:
    from .reminder_setup import on_day

    _contract(run)
    run("kpi", "assess", "p", "--rating", "inadequate", "--period", "2025-04-01..2025-12-31")
    db.tamper(statement)
    for args in (("contract", "show", "p"), ("contracts", "due", "--within", "3y"), ("kpi", "list"),
                 ("contract", "show", "p", "--json"), ("remind", "--dry-run")):
        assert run(*args, expect=None).exit_code == 0, args
    if "1e999999999" in statement:  # shown as written, not expanded into a billion digits (minutes and gigabytes)
        assert "value           total 1e999999999" in run("contract", "show", "p").stdout
    with on_day(clock.london_today()):
        ran = run("remind", "run", expect=None)  # (exit 1: a reminder with nobody to send it to, said so)
        assert ran.exit_code in (0, 1) and isinstance(ran.exception, SystemExit | None), ran.exception
    assert "differs from its audit entry" in run("audit", "verify", expect=1).stderr


def test_a_formula_or_an_odd_period_is_refused(run: Cli, db: Database) -> None:
    _contract(run)
    before = db.dump()
    for period in ("=A1..B2", "2025-04-01...2025-06-30", "2025-04-01..", "..2025-06-30", "2025-04-01 to 2025-06-30",
                   "２０２５-04-01..2025-06-30"):
        refused = run("kpi", "assess", "p", "--rating", "good", "--period", period, expect=2)
        assert refused.stderr.startswith("Error: --period ") and refused.stderr.count("\n") == 1, refused.stderr
    assert db.dump() == before


@pytest.mark.parametrize("regime", ["pa2023", "pa2023-light-touch"])
def test_a_contract_begun_before_the_act_came_into_force_cannot_be_under_it(run: Cli, db: Database,
                                                                           regime: str) -> None:
    """The Act applies to procurements begun on or after 24 February 2025; a contract awarded before that day stays
    under the Public Contracts Regulations 2015 (SI 2024/716 reg 5(3)(a)). `contract set` and `contract add` refuse
    the regime on a contract that started before it, and a start before it on a contract under it, as `procurement
    step` refuses a step dated before it; nothing is written."""
    _contract(run, "1m", None)
    before = db.dump()
    said = (f"Error: --regime {regime}: the contract starts on 2025-02-23, before the Procurement Act 2023 came into "
            f"force on 2025-02-24; a contract awarded before that day stays under the Public Contracts Regulations "
            f"2015 (SI 2024/716 reg 5(3)(a)): check --start, or give --regime none\n")
    assert run("contract", "set", "p", "--start", "2025-02-23", "--regime", regime, expect=2).stderr == said
    assert run("contract", "add", "p", "--ref", "CR-2", "--provider", "Trust Y", "--start", "2025-02-23", "--end",
               "2027-03-31", "--regime", regime, expect=2).stderr == said
    assert db.dump() == before
    run("contract", "set", "p", "--regime", regime)  # it starts on 2025-04-01
    before = db.dump()
    assert run("contract", "set", "p", "--start", "2025-02-23", expect=2).stderr == said
    assert db.dump() == before
    run("contract", "set", "p", "--start", "2025-02-24")  # the day the Act came into force: under it
    run("contract", "set", "p", "--start", "2024-04-01", "--regime", "none")  # let under the 2015 Regulations
