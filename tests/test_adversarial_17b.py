"""Adversarial review of issue 17 parts 4, 6, 7 and 8 (provider contact, return and action reminders, kpi and review
gate criteria, the Procurement Act 2023 duties, the board view): what a team member with a text editor or a careless
operator did, each through the real CLI.

Quarters are financial (2025-Q2 is July to September 2025) and in the past; reads name their day with --as-of.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Cli, Database

ON = "2026-01-31"


@pytest.fixture
def camhs(run: Cli) -> Cli:
    """camhs, with a contract from 1 April 2024 and an indicator rtt with a value for 2025-Q2."""
    run("init")
    run("project", "new", "camhs", "--title", "CAMHS", "--owner", "alice")
    run("contract", "set", "camhs", "--provider", "Trust X", "--ref", "C-1", "--start", "2024-04-01", "--end",
        "2028-03-31", "--notice", "6 months")
    run("kpi", "add", "camhs", "rtt", "--title", "Referral to treatment", "--target", "92", "--better", "higher")
    run("kpi", "record", "camhs", "rtt", "--quarter", "2025-Q2", "--value", "90")
    return run


# --- numbers at the edge of what Python's decimal arithmetic holds ---------------------------------------------------

@pytest.mark.parametrize(("value", "target"), [("-9e999999", "9e999999"), ("9e-999999", "1e999999")])
def test_a_value_and_target_edited_to_decimals_limits_give_no_traceback(camhs: Cli, db: Database, value: str,
                                                                         target: str) -> None:
    """A value of -9e999999 against a target of 9e999999 (each a number Decimal reads): judging it subtracted them,
    beyond Decimal's largest exponent, and `performance`, `kpi show` and the quarterly report stopped with
    decimal.Overflow. Such a number is read as no number at all (`audit verify` names the edit), like text."""
    db.tamper(f"UPDATE kpi_value SET value = '{value}'", f"UPDATE kpi_target SET target = '{target}'")
    for args in (("performance", "--quarter", "2025-Q2"), ("kpi", "show", "camhs", "--as-of", ON),
                 ("report", "quarterly", "--quarter", "2025-Q2", "--format", "html")):
        result = camhs(*args, expect=None)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert "decimal" not in camhs("gate", "check", "camhs", expect=None).output


# --- Procurement Act 2023 assessments: the same period twice, a period after the contract ended ----------------------

def _pa2023(run: Cli, end: str = "2030-03-31") -> None:
    """A contract under the Act from the day it came into force (one that began before it cannot be: test_pa2023)."""
    run("init")
    run("project", "new", "p", "--title", "P", "--owner", "alice")
    run("contract", "set", "p", "--provider", "Trust X", "--ref", "CR-1", "--start", "2025-02-24", "--end", end,
        "--notice", "1 month", "--if-no-notice", "ends", "--value", "5000000.01", "--regime", "pa2023")


def test_an_assessment_of_a_period_already_assessed_is_refused(run: Cli, db: Database) -> None:
    """The same assessment typed twice (or a period already assessed, assessed again) was recorded again, and,
    the next being due 12 months after the last recorded, it silenced the s.71(2) duty for a year with no new
    assessment. A period overlapping one recorded is refused, naming it."""
    _pa2023(run)
    run("kpi", "assess", "p", "--rating", "good", "--period", "2025-04-01..2026-03-31")
    before = db.dump()
    for period in ("2025-04-01..2026-03-31", "2025-10-01..2026-09-30", "2025-02-24..2025-04-01"):
        assert run("kpi", "assess", "p", "--rating", "inadequate", "--period", period, expect=2).stderr == (
            f"Error: --period {period} overlaps the assessment of p's contract CR-1 already recorded for 2025-04-01 "
            f"to 2026-03-31 (good); assess a period not yet assessed\n")
    assert db.dump() == before
    run("kpi", "assess", "p", "--rating", "good", "--period", "2026-04-01..2026-09-30")  # the next period: taken


def test_an_assessment_of_a_period_after_the_contract_ended_is_refused(run: Cli, db: Database) -> None:
    """A contract that ended on 31 March 2025 took an assessment of 2025-06-01..2025-06-30, a period it did not run
    in, which counted as the assessment on termination (none due after it)."""
    _pa2023(run, end="2025-03-31")
    before = db.dump()
    assert run("kpi", "assess", "p", "--rating", "good", "--period", "2025-06-01..2025-06-30", expect=2).stderr == (
        "Error: --period 2025-06-01..2025-06-30 begins after the contract's last day (2025-03-31)\n")
    assert db.dump() == before
    run("kpi", "assess", "p", "--rating", "good", "--period", "2025-02-24..2025-03-31")
    assert run.json("contract", "show", "p")["assessment_due_on"] is None


# --- a kpi criterion on a project whose contract was re-let ---------------------------------------------------------

PERF = """name = "perf"
initial = "do"

[[stage]]
id = "do"

[[stage]]
id = "closed"
final = true

[[gate]]
id = "do-closed"
from = "do"
to = "closed"

  [[gate.criterion]]
  id = "returns"
  kind = "kpi"
  rule = "returns"
  quarters = 4
  title = "Returns for the last four quarters"
"""


def test_a_contract_ended_inside_the_span_still_owes_its_last_returns(run: Cli, home: Path) -> None:
    """C-1 ran to 30 September 2025 with no return for its last quarter, 2025-Q2; C-2 took over on 1 October with
    every return in. `returns` over the last four quarters was met ('Each of 1 indicator has a value for every
    quarter'): C-1's missing return was not looked at, as C-1 is no longer live."""
    run("init")
    (home / "perf.toml").write_text(PERF)
    run("workflow", "install", str(home / "perf.toml"))
    run("project", "new", "p", "--title", "P", "--workflow", "perf", "--owner", "alice")
    run("contract", "add", "p", "--provider", "Trust X", "--ref", "C-1", "--start", "2024-04-01", "--end",
        "2025-09-30", "--notice", "1 month", "--if-no-notice", "ends")
    run("contract", "add", "p", "--provider", "Trust Y", "--ref", "C-2", "--start", "2025-10-01", "--end",
        "2029-09-30", "--notice", "6 months")
    for ref in ("C-1", "C-2"):
        run("kpi", "add", "p", "rtt", "--contract", ref, "--title", "RTT", "--target", "92", "--better", "higher")
    for q in ("2024-Q4", "2025-Q1"):
        run("kpi", "record", "p", "rtt", "--contract", "C-1", "--quarter", q, "--value", "93")
    for q in ("2025-Q3", "2025-Q4"):
        run("kpi", "record", "p", "rtt", "--contract", "C-2", "--quarter", q, "--value", "93")
    found = run.json("gate", "check", "p", "--as-of", "2026-04-15")
    returns = next(c for c in found["criteria"] if c["id"] == "returns")
    assert not returns["met"] and "C-1: rtt 2025-Q2" in returns["reason"], returns


# --- the provider role taken from a contract's provider contact ------------------------------------------------------

def test_the_provider_role_of_a_contracts_provider_contact_is_not_removed_under_it(camhs: Cli, db: Database) -> None:
    """`people remove-role jsmith --role provider` went through while jsmith stayed the provider contact of C-1:
    the contract went on naming someone who, for `contract set --provider-contact`, may not be one, and the return
    reminders kept going to them. It is refused, naming the contract and the command that names another."""
    camhs("people", "add", "jsmith", "--email", "j.smith@trustx.example", "--role", "provider")
    camhs("contract", "set", "camhs", "--provider-contact", "jsmith")
    before = db.dump()
    assert camhs("people", "remove-role", "jsmith", "--role", "provider", expect=2).stderr == (
        "Error: jsmith is the provider contact of camhs's contract C-1 and gets its return reminders; name another "
        "(or none, with '') first: cycle contract set camhs --contract C-1 --provider-contact NAME\n")
    assert db.dump() == before
    camhs("contract", "set", "camhs", "--provider-contact", "")
    camhs("people", "remove-role", "jsmith", "--role", "provider")


# --- hand edits that silence a duty --------------------------------------------------------------------------------

@pytest.mark.parametrize("statement", [
    "INSERT INTO kpi_assessment (contract_id, rating, period_from, period_to, recorded_by, recorded_at) "
    "VALUES (1, 'good', '2024-04-01', '2025-03-31', 'alice', '2026-11-30T10:00:00Z')",
    "UPDATE contract SET provider_contact = 'jsmith' WHERE id = 1",
    "UPDATE contract SET kpis_exempt = NULL WHERE id = 1",
    "DELETE FROM kpi WHERE key = 'c'",
])
def test_a_hand_edit_that_silences_a_pa2023_duty_is_named_by_audit_verify(run: Cli, db: Database,
                                                                          statement: str) -> None:
    """An assessment written by hand puts the next one off a year; an indicator deleted by hand from three puts a
    £5,000,000.01 contract under s.52(1)'s minimum, with no entry saying so."""
    _pa2023(run)
    run("people", "add", "jsmith", "--email", "j.smith@trustx.example", "--role", "provider")
    for k in ("a", "b", "c"):
        run("kpi", "add", "p", k, "--title", k.upper(), "--target", "1", "--better", "higher")
    run("contract", "set", "p", "--kpis-exempt", "not assessable by KPIs")
    assert run("audit", "verify").exit_code == 0
    db.tamper(statement)
    err = run("audit", "verify", expect=1).stderr
    assert "kpi_assessment #1" in err or "contract #1" in err or "kpi #3" in err, err


# --- an s.52(2) exemption recorded on the wrong contract ----------------------------------------------------------

def test_an_exemption_recorded_by_mistake_can_be_withdrawn(run: Cli, db: Database) -> None:
    """`contract set --kpis-exempt REASON` on the wrong contract silenced the s.52(1) and s.71(2) flags for good:
    `--kpis-exempt ''` was refused ('must not be empty') and nothing else takes it away but a hand edit.
    '' withdraws it, as `--provider-contact ''` does, audited."""
    _pa2023(run)
    run("contract", "set", "p", "--kpis-exempt", "meant for another contract")
    assert run.json("contract", "show", "p")["assessment_due_on"] is None
    run("contract", "set", "p", "--kpis-exempt", "")
    shown = run.json("contract", "show", "p")
    assert shown["kpis_exempt"] is None and shown["assessment_due_on"] == "2026-02-23"
    assert run("audit", "verify").exit_code == 0


def test_an_indicator_added_today_does_not_hold_a_gate_on_returns_nobody_was_asked_for(run: Cli,
                                                                                        home: Path) -> None:
    """An indicator added today to a contract running since 2024: `returns` over the last four quarters was unmet
    until someone back-filled four quarters of values that no reminder asked the provider for."""
    _indicator_added_today(run, home)
    assert _returns_today(run)[0]


def _indicator_added_today(run: Cli, home: Path) -> None:
    run("init")
    (home / "perf.toml").write_text(PERF)
    run("workflow", "install", str(home / "perf.toml"))
    run("project", "new", "p", "--title", "P", "--workflow", "perf", "--owner", "alice")
    run("contract", "set", "p", "--provider", "Trust X", "--ref", "C-1", "--start", "2024-04-01", "--end",
        "2035-03-31", "--notice", "6 months")
    run("kpi", "add", "p", "rtt", "--title", "RTT", "--target", "92", "--better", "higher")


def _returns_today(run: Cli) -> tuple[bool, str]:
    found = run.json("gate", "check", "p")
    returns = next(c for c in found["criteria"] if c["id"] == "returns")
    return returns["met"], returns["reason"]


def test_a_back_filled_return_makes_the_quarters_after_it_owed(run: Cli, home: Path) -> None:
    """Values recorded for quarters before the indicator was added say it was being returned then: a gap after the
    first of them, inside the window, is a missed return, named with its quarter."""
    from cycle.calendar import clock, quarters

    _indicator_added_today(run, home)
    last = quarters.quarter_of(clock.london_today()) - 1  # the last complete quarter, its return due already or soon
    run("kpi", "record", "p", "rtt", "--quarter", str(last - 3), "--value", "93")
    met, reason = _returns_today(run)
    assert not met and reason.startswith(f"No value recorded for: rtt {last - 2}, {last - 1}")
    for q in (last - 2, last - 1, last):
        run("kpi", "record", "p", "rtt", "--quarter", str(q), "--value", "93")
    assert _returns_today(run)[0]


def test_an_indicator_whose_creation_was_edited_into_nonsense_is_asked_for_every_quarter(run: Cli, home: Path,
                                                                                        db: Database) -> None:
    """A stamp that cannot be read is not a way out of the returns: every quarter is asked for, as before the fix,
    and `audit verify` names the edit."""
    _indicator_added_today(run, home)
    db.tamper("UPDATE kpi SET created_at = 'yesterday'")
    met, reason = _returns_today(run)
    assert not met and reason.startswith("No value recorded for: rtt ")
    assert "kpi #1 differs from its audit entry" in run("audit", "verify", expect=1).stderr


# --- one rule for the quarters owed: the gate asks for what the reminders chase ------------------------------------

def _asked_on(run: Cli, on: str) -> tuple[bool, str]:
    found = run.json("gate", "check", "p", "--as-of", on)
    returns = next(c for c in found["criteria"] if c["id"] == "returns")
    return returns["met"], returns["reason"]


def _chased_on(run: Cli, on: str) -> list[str]:
    """The quarters whose returns the reminders chase on `on` (to the provider contact, the owner, or listed as a
    problem for want of an address)."""
    plan = run.json("remind", "--dry-run", "--as-of", on)
    return sorted({r["period"].split("/")[0] for r in plan["reminders"] + plan["problems"]
                   if r["kind"].startswith("return-")})


def test_an_unreadable_creation_stamp_is_owed_every_quarter_at_the_gate_and_by_the_reminders(run: Cli, home: Path,
                                                                                              db: Database) -> None:
    """A creation stamp edited into nonsense: the gate asked for every quarter, the reminders chased only those due
    from the day of the run (on 2026-01-31, none). Both now owe every quarter the contract ran in."""
    _indicator_added_today(run, home)
    db.tamper("UPDATE kpi SET created_at = 'yesterday'")
    every = ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2", "2025-Q3"]
    assert _chased_on(run, ON) == every
    assert _asked_on(run, ON) == (False, "No value recorded for: rtt 2024-Q4, 2025-Q1, 2025-Q2, 2025-Q3; looking at "
                                         "the last 4 complete quarters, 2024-Q4 to 2025-Q3")
    for q in every[3:]:
        run("kpi", "record", "p", "rtt", "--quarter", q, "--value", "93")
    assert _asked_on(run, ON)[0] is True
    assert _chased_on(run, ON) == every[:3]


def test_a_back_filled_return_makes_the_quarters_after_it_chased_as_the_gate_asks_for_them(run: Cli,
                                                                                          home: Path) -> None:
    """A value recorded for 2025-Q1 of an indicator added later: the gate asked for 2025-Q2 and 2025-Q3, and no
    reminder chased them."""
    _indicator_added_today(run, home)
    run("kpi", "record", "p", "rtt", "--quarter", "2025-Q1", "--value", "93")
    assert _asked_on(run, ON) == (False, "No value recorded for: rtt 2025-Q2, 2025-Q3; looking at the last 4 complete "
                                         "quarters, 2024-Q4 to 2025-Q3")
    assert _chased_on(run, ON) == ["2025-Q2", "2025-Q3"]
