"""Corrections, audibly (issue 15 item 12): a governance lead corrects a notice's served date, a decision's date
and a milestone's dates, with a reason, each as an audit entry of its own holding the old and the new value;
anyone else is refused with nothing changed; `audit verify` stays green after a correction and still catches
a raw edit."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import BODY, ON_POSTGRES, Cli, Database, go


@pytest.fixture
def team(ready: Cli) -> Cli:
    run = ready
    run("people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "manager")
    run("people", "add", "clerk", "--email", "clerk@council.gov.uk", "--role", "approver", "--body", BODY)
    run("people", "add", "gill", "--email", "gill@council.gov.uk", "--role", "governance-lead")
    run("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
        "--notice", "6 months")
    return run


def _last(db: Database) -> dict[str, object]:
    entry = db.audit()[-1]
    return {"actor": entry["actor"], "action": entry["action"], **json.loads(entry["payload"])}


def _verified(run: Cli) -> None:
    out = run("audit", "verify").stdout
    assert out.startswith("Audit chain verified: ") and "\nRecords match the log: " in out, out


def test_a_notice_served_date_typo_is_corrected_by_a_governance_lead(team: Cli, db: Database) -> None:
    run = team
    # 0206-09-15 is the typo; it is before the contract started, so the typo must get in another way
    run("contract", "notice", "camhs", "--served-on", "2026-09-05", "--ref", "NL-114")
    refused = run("contract", "notice", "camhs", "--served-on", "2026-09-15", "--ref", "NL-114", expect=2)
    assert refused.stderr == "Error: notice was already recorded as served on 2026-09-05 (NL-114)\n"

    out = run("contract", "correct", "camhs", "--notice-served-on", "2026-09-15", "--reason", "typo: the 15th",
              user="gill").stdout
    assert out == "Corrected camhs: notice served on 2026-09-15 (was 2026-09-05). See: cycle contract show camhs\n"
    last = _last(db)
    assert (last["actor"], last["action"], last["changes"], last["reason"]) == (
        "gill", "contract.correct", {"notice_served_on": ["2026-09-05", "2026-09-15"]}, "typo: the 15th")
    assert run.json("contract", "show", "camhs")["notice_served_on"] == "2026-09-15"
    assert run("audit", "log", "--limit", "1").stdout.rstrip().endswith(
        "contract.correct  CORRECTED contract of camhs: notice_served_on 2026-09-05 -> 2026-09-15 (typo: the 15th)")
    _verified(run)


def test_anyone_but_a_governance_lead_is_refused_and_the_refusal_is_on_the_record(team: Cli, db: Database) -> None:
    run = team
    run("contract", "notice", "camhs", "--served-on", "2026-09-05", "--ref", "NL-114")
    go(run, "camhs", "analyse-plan")
    decision_id = run.json("project", "show", "camhs")["decisions"][0]["id"]
    run("milestone", "add", "camhs", "Specification agreed", "--due", "2027-01-31")
    for args in (["contract", "correct", "camhs", "--notice-served-on", "2026-09-15"],
                 ["decision", "correct", str(decision_id), "--date", "2026-10-14"],
                 ["milestone", "correct", "camhs", "1", "--due", "2027-02-28"]):
        before = db.dump(("contract", "decision", "milestone", "project"))
        n = len(db.audit())
        result = run(*args, "--reason", "mine to fix", user="alice", expect=6)
        assert result.stderr.startswith("Error: only a governance lead may correct the record (gill), and alice is "
                                        "not one; ask one to run: cycle ")
        assert result.stderr.endswith(". The refused attempt is recorded in the audit log.\n")
        assert db.dump(("contract", "decision", "milestone", "project")) == before
        assert len(db.audit()) == n + 1 and _last(db)["action"] == "correction.refused"
    _verified(run)


def test_with_nobody_a_governance_lead_nobody_may_correct(ready: Cli, db: Database) -> None:
    ready("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
          "--notice", "6 months")
    ready("contract", "notice", "camhs", "--served-on", "2026-09-05", "--ref", "NL-114")
    result = ready("contract", "correct", "camhs", "--notice-served-on", "2026-09-15", "--reason", "x", expect=6)
    assert result.stderr.startswith("Error: only a governance lead may correct the record, and nobody is one yet; ")
    assert ready.json("contract", "show", "camhs")["notice_served_on"] == "2026-09-05"


@pytest.mark.parametrize("args, said", [
    (["--notice-served-on", "1989-12-31"], "--notice-served-on 1989-12-31 is out of range; cycle takes dates from "
                                          "1990-01-01 to 2100-12-31"),
    (["--notice-served-on", "2099-01-01"], "--notice-served-on 2099-01-01 is in the future; it is the day it "
                                          "happened, so on or before {today}"),
    (["--notice-served-on", "2025-01-01"], "--notice-served-on 2025-01-01 is before the contract starts (2025-04-01)"),
    (["--notice-served-on", "2026-09-05"], "notice was served on 2026-09-05 already, so nothing changed; see the "
                                          "record with: cycle project show camhs"),
    (["--notice-served-on", "15/09/2026"], "--notice-served-on '15/09/2026' is not a date; use YYYY-MM-DD, e.g. "
                                          "2027-03-31"),
])
def test_a_correction_that_makes_no_sense_is_refused(team: Cli, db: Database, args: list[str], said: str) -> None:
    from cycle.calendar.clock import london_today

    team("contract", "notice", "camhs", "--served-on", "2026-09-05", "--ref", "NL-114")
    before = db.dump()
    result = team("contract", "correct", "camhs", *args, "--reason", "typo", user="gill", expect=2)
    assert result.stderr == f"Error: {said.format(today=london_today())}\n"
    assert db.dump() == before


def test_a_correction_needs_a_reason_and_something_to_correct(team: Cli, db: Database) -> None:
    before = db.dump()
    result = team("contract", "correct", "camhs", "--notice-served-on", "2026-09-15", "--reason", "  ",
                  user="gill", expect=2)
    assert result.stderr == 'Error: --reason must not be empty; e.g. --reason "covered by the 2026 JSNA engagement"\n'
    result = team("contract", "correct", "camhs", "--notice-served-on", "2026-09-15", "--reason", "typo",
                  user="gill", expect=2)
    assert result.stderr.startswith("Error: no notice is recorded as served on camhs's contract, so there is nothing "
                                    "to correct; record it with: cycle contract notice camhs --served-on DATE")
    assert db.dump() == before


def test_a_decisions_date_is_corrected_and_verify_stays_green(team: Cli, db: Database) -> None:
    run = team
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m5",
        "--date", "2026-10-04", user="clerk")
    decision_id = run.json("project", "show", "camhs")["decisions"][0]["id"]
    run("project", "advance", "camhs")
    out = run("decision", "correct", str(decision_id), "--date", "2026-10-14", "--reason", "minutes say the 14th",
              user="gill").stdout
    assert out == (f"Corrected decision #{decision_id} (go on gate analyse-plan): decided on 2026-10-14 "
                   f"(was 2026-10-04).\n")
    last = _last(db)
    assert (last["actor"], last["action"], last["decision_id"], last["changes"]) == (
        "gill", "decision.correct", decision_id, {"decided_on": ["2026-10-04", "2026-10-14"]})
    assert run.json("project", "show", "camhs")["decisions"][0]["decided_on"] == "2026-10-14"
    assert run.json("project", "show", "camhs")["stage"] == "plan"  # nothing else moved
    _verified(run)
    shown = run.json("report", "gate-audit", "camhs")["projects"][0]["decisions"][0]
    assert shown["decided_on"] == "2026-10-14"
    assert [(c["by"], c["was"], c["now"], c["reason"]) for c in shown["corrections"]] == [
        ("gill", "2026-10-04", "2026-10-14", "minutes say the 14th")]
    # and a raw edit after the correction is still caught
    db.tamper("UPDATE decision SET decided_on = '2026-10-24' WHERE id = :id", params={"id": decision_id})
    verified = run.json("audit", "verify", expect=1)
    assert [d["problem"] for d in verified["records"]["discrepancies"]] == [
        f"decision #{decision_id} differs from its audit entry: decided_on is '2026-10-24' but entry "
        f"{last_seq(db) - 0} recorded '2026-10-14'"]


def last_seq(db: Database) -> int:
    return int(db.audit()[-1]["seq"])


def test_a_correction_never_changes_the_outcome_or_the_order_of_decisions(team: Cli, db: Database) -> None:
    """A hold recorded after a go stays the latest decision whatever dates are corrected: the gate stays shut."""
    run = team
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m5",
        "--date", "2026-10-04", user="clerk")
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "hold", "--body", BODY, "--ref", "m6",
        "--date", "2026-10-05", user="clerk")
    go_id, hold_id = [d["id"] for d in run.json("project", "show", "camhs")["decisions"]]
    run("decision", "correct", str(go_id), "--date", "2026-10-20", "--reason", "the go was later", user="gill")
    run("decision", "correct", str(hold_id), "--date", "2026-10-01", "--reason", "the hold was earlier", user="gill")
    result = run("project", "advance", "camhs", expect=3)
    assert "Latest decision is hold by" in result.stderr
    assert run.json("project", "show", "camhs")["stage"] == "analyse"
    _verified(run)


def test_an_unknown_decision_is_named(team: Cli) -> None:
    result = team("decision", "correct", "999", "--date", "2026-10-14", "--reason", "x", user="gill", expect=2)
    assert result.stderr == ("Error: there is no decision #999; see the decisions and their numbers with: cycle "
                             "report gate-audit KEY\n")
    result = team("decision", "correct", "9" * 25, "--date", "2026-10-14", "--reason", "x", user="gill", expect=2)
    assert result.stderr.startswith("Error: ")


def test_a_milestones_dates_are_corrected(team: Cli, db: Database) -> None:
    run = team
    run("milestone", "add", "camhs", "Specification agreed", "--due", "2027-01-31")
    result = run("milestone", "correct", "camhs", "1", "--done-on", "2026-10-01", "--reason", "x", user="gill",
                 expect=2)
    assert result.stderr == ("Error: milestone #1 is not done, so it has no done date to correct; mark it done with: "
                             "cycle milestone done camhs 1 --on DATE\n")
    run("milestone", "done", "camhs", "1", "--on", "2026-11-02")
    out = run("milestone", "correct", "camhs", "1", "--due", "2027-02-28", "--done-on", "2026-11-01", "--reason",
              "the card said February", user="gill").stdout
    assert out == ("Corrected milestone #1 of camhs: due 2027-02-28 (was 2027-01-31); done on 2026-11-01 "
                   "(was 2026-11-02).\n")
    last = _last(db)
    assert (last["action"], last["changes"]) == ("milestone.correct", {"due": ["2027-01-31", "2027-02-28"],
                                                                      "done_on": ["2026-11-02", "2026-11-01"]})
    assert run.json("milestone", "list", "camhs")[0] | {"slipped": None} == {
        "id": 1, "title": "Specification agreed", "due": "2027-02-28", "due_on": "2027-02-28", "done_on": "2026-11-01",
        "slipped": None}
    result = run("milestone", "correct", "camhs", "7", "--due", "2027-02-28", "--reason", "x", user="gill", expect=2)
    assert result.stderr == "Error: camhs has no milestone #7; see them with: cycle milestone list camhs\n"
    result = run("milestone", "correct", "camhs", "1", "--reason", "x", user="gill", expect=2)
    assert result.stderr.startswith("Error: nothing to correct; give --due DATE and/or --done-on DATE")
    _verified(run)


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite has no logins; the trigger below is about who changes a row")
def test_on_postgresql_a_raw_date_change_is_refused(team: Cli, db: Database) -> None:
    go(team, "camhs", "analyse-plan")
    decision_id = team.json("project", "show", "camhs")["decisions"][0]["id"]
    said = db.refused(f"UPDATE decision SET outcome = 'stop' WHERE id = {decision_id}", user="gill")
    assert "a decision does not change once recorded" in said
    # (the date alone without its audit entry is refused at commit: tests/test_prevention.py, as a real app login)


@pytest.mark.skipif(ON_POSTGRES, reason="on SQLite the file's trigger refuses it")
def test_on_sqlite_a_decision_changes_only_its_date(team: Cli, db: Database) -> None:
    go(team, "camhs", "analyse-plan")
    said = db.refused("UPDATE decision SET outcome = 'stop'")
    assert said == ("a decision does not change once recorded; a governance lead may correct its date only, with: "
                    "cycle decision correct")


def test_the_quarterly_report_files_a_corrected_decision_under_its_corrected_date(team: Cli) -> None:
    """The board reads decisions by quarter: a date corrected across a quarter's end moves it to the other quarter."""
    run = team
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m5",
        "--date", "2026-09-28", user="clerk")
    decision_id = run.json("project", "show", "camhs")["decisions"][0]["id"]
    run("decision", "correct", str(decision_id), "--date", "2026-10-02", "--reason", "minutes say 2 October",
        user="gill")
    q2 = run.json("report", "quarterly", "--quarter", "2026-Q2")
    q3 = run.json("report", "quarterly", "--quarter", "2026-Q3")
    assert [d["date"] for d in q2["decisions"]] == []
    assert [(d["project"], d["date"], d["ref"]) for d in q3["decisions"]] == [("camhs", "2026-10-02", "m5")]


def test_a_decisions_date_cannot_be_corrected_to_before_its_project_entered_the_stage(team: Cli, db: Database) -> None:
    """`decision record --date` refuses a day before the project entered the stage (a decision counts only from
    then); a correction must not reach what recording may not."""
    run = team
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    go(run, "camhs", "analyse-plan")
    run("project", "advance", "camhs")
    refused = run("decision", "record", "camhs", "--gate", "plan-do", "--outcome", "go", "--body", BODY, "--ref",
                  "m9", "--date", "2026-01-05", user="clerk", expect=2)
    found = re.search(r"is before camhs entered plan on (\d{4}-\d\d-\d\d), and a decision counts", refused.stderr)
    assert found is not None, refused.stderr
    entered = found.group(1)
    said = f"is before camhs entered plan on {entered}, and a decision counts only from then"
    run("decision", "record", "camhs", "--gate", "plan-do", "--outcome", "go", "--body", BODY, "--ref", "m9",
        "--date", entered, user="clerk")
    decision_id = run.json("project", "show", "camhs")["decisions"][-1]["id"]
    before = db.audit()
    result = run("decision", "correct", str(decision_id), "--date", "2026-01-05", "--reason", "x", user="gill",
                 expect=2)
    assert result.stderr == (f"Error: --date 2026-01-05 {said}; give the day the body decided, e.g. --date "
                             f"{entered}\n")
    assert db.audit() == before
    assert run.json("project", "show", "camhs")["decisions"][-1]["decided_on"] == entered


def test_the_board_sees_every_correction_made_in_the_quarter(team: Cli) -> None:
    """A lead who 'corrects' a slipped milestone's due date must not make it vanish from the board pack unseen."""
    from cycle.calendar import clock, quarters

    run = team
    now = quarters.quarter_of(clock.london_today())
    run("milestone", "add", "camhs", "Specification agreed", "--due", "2026-11-30")
    run("contract", "notice", "camhs", "--served-on", "2026-09-05", "--ref", "NL-114")
    run("milestone", "correct", "camhs", "1", "--due", "2027-02-28", "--reason", "the card said February",
        user="gill")
    run("contract", "correct", "camhs", "--notice-served-on", "2026-09-15", "--reason", "typo: the 15th", user="gill")
    report = run.json("report", "quarterly", "--quarter", str(now))
    assert report["summary"]["corrections"] == 2
    assert [(c["project"], c["what"], c["changes"], c["by"], c["reason"]) for c in report["corrections"]] == [
        ("camhs", "milestone", {"due": ["2026-11-30", "2027-02-28"]}, "gill", "the card said February"),
        ("camhs", "contract", {"notice_served_on": ["2026-09-05", "2026-09-15"]}, "gill", "typo: the 15th")]
    assert [c["what"] for c in report["by_project"][0]["corrections"]] == ["milestone", "contract"]
    md = run("report", "quarterly", "--quarter", str(now), "--format", "md").stdout
    assert "- Corrections of the record: 2\n" in md
    assert ("**CORRECTED** CAMHS Tiers 2 and 3 (camhs), milestone: due 2027-02-28 (was 2026-11-30); corrected by "
            "gill on ") in md
    assert run.json("report", "quarterly", "--quarter", str(now - 1))["corrections"] == []
