"""Refused and rejected requests change nothing but what they should.

A refused advance (exit 3) leaves projects, evidence and decisions exactly as they were and adds one
`advance.refused` audit entry. Bad input (exit 2) and a stale --expect-version (exit 4) write nothing
at all. "Nothing" is checked on the database itself, table by table, with plain SQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cycle.calendar.clock import london_today
from cycle.workflow.definition import builtin

from .conftest import BODY, Cli, Database, go

TODAY = london_today().isoformat()  # a decision may not predate the stage, entered today

EVIDENCE_NAMES = ", ".join(builtin("commissioning").evidence_names())


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (and the schema itself), in storage order."""
    return db.dump()


def audit_rows(db: Database) -> list[dict[str, Any]]:
    return db.audit()


@pytest.fixture
def at_plan(ready: Cli) -> Cli:
    """camhs at plan (version 4) with evidence and decisions on record; respite at analyse, bare."""
    run = ready
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026 children chapter")
    go(run, "camhs", "analyse-plan")
    run("project", "advance", "camhs")
    run("evidence", "add", "camhs", "eia", "--ref", "EIA v1", "--note", "draft")
    run("decision", "record", "camhs", "--gate", "plan-do", "--outcome", "hold", "--body", BODY,
        "--ref", "CTB 2026-11-09 item 2", "--date", TODAY)
    run("project", "new", "respite", "--title", "Short breaks", "--accountable-body", BODY)
    run("decision", "record", "respite", "--gate", "analyse-plan", "--outcome", "hold", "--body", BODY,
        "--ref", "CTB 2026-10-01 item 4")
    assert run.json("project", "show", "camhs")["version"] == 6
    return run


# --- a refused advance -----------------------------------------------------------------------------

@pytest.mark.parametrize("key, source, unmet", [
    ("camhs", "plan", ["service-specification", "consultation", "performance-targets", "decision"]),
    ("respite", "analyse", ["needs-assessment", "lead-commissioner", "commissioning-model", "decision"]),
])
def test_refused_advance_changes_nothing_but_one_audit_entry(at_plan: Cli, db: Database, key: str, source: str,
                                                             unmet: list[str]) -> None:
    run = at_plan
    check = run.json("gate", "check", key)
    before = dump(db)

    refused = run("project", "advance", key, expect=3)

    lines = refused.stderr.splitlines()
    assert lines[0] == f"Refused: {key} stays at {source}; gate {check['gate']} to {check['to']} needs:"
    assert lines[-1] == "The refused attempt is recorded in the audit log."
    assert [ln[4:].split(":")[0] for ln in lines if ln.startswith("  - ")] == unmet
    assert refused.stdout == ""

    after = dump(db)
    for table in ("project", "evidence", "decision", "schema"):
        assert after[table] == before[table], table
    assert after["audit_entry"][:-1] == before["audit_entry"]
    assert len(after["audit_entry"]) == len(before["audit_entry"]) + 1

    entry = audit_rows(db)[-1]
    assert (entry["action"], entry["project"], entry["from_stage"], entry["to_stage"], entry["actor"]) == (
        "advance.refused", key, source, None, "alice")
    payload = json.loads(entry["payload"])
    assert payload["gate"] == check["gate"] and payload["to"] == check["to"]
    assert payload["unmet"] == unmet
    assert payload["version"] == run.json("project", "show", key)["version"]
    assert [(c["id"], c["must"], c["met"], c["reason"]) for c in payload["criteria"]] == [
        (c["id"], c["must"], c["met"], c["reason"]) for c in check["criteria"]]
    assert {c["id"] for c in payload["criteria"] if c["must"] and not c["met"]} == set(unmet)
    assert run("audit", "verify").stdout.startswith(f"Audit chain verified: {len(after['audit_entry'])} entries")


def test_refused_advance_snapshot_records_what_was_met(at_plan: Cli, db: Database) -> None:
    at_plan("project", "advance", "camhs", expect=3)
    criteria = {c["id"]: c for c in json.loads(audit_rows(db)[-1]["payload"])["criteria"]}
    assert criteria["eia"]["met"] is True and criteria["eia"]["evidence_ids"] == [2]
    assert criteria["eia"]["reason"] == "Recorded in cycle 1: EIA v1"
    assert criteria["decision"]["met"] is False and criteria["decision"]["decision_ids"] == [2]
    assert criteria["decision"]["reason"] == (
        f"Latest decision is hold by Children's Trust Board on {TODAY} (CTB 2026-11-09 item 2); the gate needs a go")


def test_repeated_refusals_each_add_one_entry_and_move_nothing(at_plan: Cli, db: Database) -> None:
    before = dump(db)
    for _ in range(3):
        at_plan("project", "advance", "respite", expect=3)
    after = dump(db)
    assert after["project"] == before["project"]
    new = [e["action"] for e in audit_rows(db)[len(before["audit_entry"]):]]
    assert new == ["advance.refused"] * 3


# --- bad input: exit 2, one line saying what to do, nothing written ---------------------------------

BAD_INPUT = {
    "unknown project (advance)": (
        ["project", "advance", "cahms"],
        "No project with key 'cahms'. See the keys with: cycle project list"),
    "unknown project (evidence)": (
        ["evidence", "add", "cahms", "eia", "--ref", "EIA v2"],
        "No project with key 'cahms'. See the keys with: cycle project list"),
    "unknown project (decision)": (
        ["decision", "record", "cahms", "--gate", "plan-do", "--outcome", "go", "--body", BODY, "--ref", "m"],
        "No project with key 'cahms'. See the keys with: cycle project list"),
    "unknown project (set)": (
        ["project", "set", "cahms", "--owner", "bob"],
        "No project with key 'cahms'. See the keys with: cycle project list"),
    "malformed evidence name": (
        ["evidence", "add", "camhs", "Needs Assessment", "--ref", "JSNA"],
        "evidence name 'Needs Assessment' is not well formed: use lower-case letters, digits and hyphens, at most 64, "
        "e.g. risk-register"),
    "evidence for no criterion": (
        ["evidence", "add", "camhs", "jsna", "--for", "needs", "--ref", "JSNA"],
        f"workflow commissioning has no evidence criterion called 'needs' for --for; its evidence criteria: "
        f"{EVIDENCE_NAMES}"),
    "unknown gate": (
        ["decision", "record", "camhs", "--gate", "plan-deliver", "--outcome", "go", "--body", BODY, "--ref", "m"],
        "camhs is at plan; the gates a decision can be recorded for are: plan-do"),
    "gate not out of the current stage": (
        ["decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m"],
        "camhs is at plan; the gates a decision can be recorded for are: plan-do"),
    "advance to an unreachable stage": (
        ["project", "advance", "camhs", "--to", "review"],
        "camhs cannot go from plan to 'review'; from plan it can go to: do"),
    "bad model (set)": (
        ["project", "set", "camhs", "--model", "integrated-ish"],
        "model 'integrated-ish' is not one of: integrated, co-ordinated, joint, national"),
    "bad model (new)": (
        ["project", "new", "hv", "--title", "Health visiting", "--model", "Joint"],
        "model 'Joint' is not one of: integrated, co-ordinated, joint, national"),
    "bad date": (
        ["decision", "record", "camhs", "--gate", "plan-do", "--outcome", "go", "--body", BODY, "--ref", "m",
         "--date", "14/11/2026"],
        "--date '14/11/2026' is not a date; use YYYY-MM-DD, e.g. 2027-03-31"),
    "impossible date": (
        ["decision", "record", "camhs", "--gate", "plan-do", "--outcome", "go", "--body", BODY, "--ref", "m",
         "--date", "2026-02-30"],
        "--date '2026-02-30' is not a date; use YYYY-MM-DD, e.g. 2027-03-31"),
    "recycle to a later stage": (
        ["decision", "record", "camhs", "--gate", "plan-do", "--outcome", "recycle", "--to", "do", "--body", BODY,
         "--ref", "m"],
        "recycle goes back to an earlier stage; from plan that is: analyse"),
    "recycle to the current stage": (
        ["decision", "record", "camhs", "--gate", "plan-do", "--outcome", "recycle", "--to", "plan", "--body", BODY,
         "--ref", "m"],
        "recycle goes back to an earlier stage; from plan that is: analyse"),
    "recycle without a stage": (
        ["decision", "record", "camhs", "--gate", "plan-do", "--outcome", "recycle", "--body", BODY, "--ref", "m"],
        "--to STAGE goes with --outcome recycle, and recycle needs it "
        "(the earlier stage the body sends the project back to)"),
    "stop by the wrong body": (
        ["decision", "record", "camhs", "--gate", "plan-do", "--outcome", "stop", "--body", "Schools Forum",
         "--ref", "m"],
        "gate plan-do is decided by Children's Trust Board, not Schools Forum"),
    "empty evidence ref": (
        ["evidence", "add", "camhs", "consultation", "--ref", ""],
        "--ref must not be empty; e.g. --ref \"minutes 2026-10-14 item 5\""),
    "blank decision ref": (
        ["decision", "record", "camhs", "--gate", "plan-do", "--outcome", "go", "--body", BODY, "--ref", "   "],
        "--ref must not be empty; e.g. --ref \"minutes 2026-10-14 item 5\""),
    "unknown attribute": (
        ["project", "set", "camhs", "--attr", "colour=blue"],
        "workflow commissioning has no project attribute 'colour'; it knows: procurement_route"),
    "nothing to set": (
        ["project", "set", "camhs"],
        "nothing to change; e.g.: cycle project set camhs --owner alice"),
    "set to what it already is": (
        ["project", "set", "camhs", "--owner", "alice", "--title", "CAMHS Tiers 2 and 3"],
        "camhs already has owner alice, title CAMHS Tiers 2 and 3, so nothing changed; "
        "see it with: cycle project show camhs"),
    "duplicate key": (
        ["project", "new", "camhs", "--title", "CAMHS again"],
        "a project with key 'camhs' already exists; see it with: cycle project show camhs"),
}


@pytest.mark.parametrize("args, message", list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_bad_input_writes_nothing(at_plan: Cli, db: Database, args: list[str], message: str) -> None:
    before = dump(db)
    result = at_plan(*args, expect=2)
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"
    assert dump(db) == before


def test_bad_input_on_a_closed_project_says_so(at_plan: Cli, db: Database) -> None:
    at_plan("decision", "record", "respite", "--gate", "analyse-plan", "--outcome", "stop", "--body", BODY,
            "--ref", "CTB item 9")
    before = dump(db)
    advance = at_plan("project", "advance", "respite", expect=2)
    assert advance.stderr == "Error: respite is closed: there is no gate out of a final stage\n"
    decide = at_plan("decision", "record", "respite", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
                     "--ref", "m", expect=2)
    assert decide.stderr == ("Error: respite is at closed; the gates a decision can be recorded for are: "
                             "none (the project is closed)\n")
    assert dump(db) == before


@pytest.mark.parametrize("outcome", ["go", "hold", "stop"])
def test_decision_without_an_accountable_body_says_to_set_one(at_plan: Cli, db: Database, outcome: str) -> None:
    at_plan("project", "new", "hv", "--title", "Health visiting")
    before = dump(db)
    result = at_plan("decision", "record", "hv", "--gate", "analyse-plan", "--outcome", outcome, "--body", BODY,
                     "--ref", "m", expect=2)
    assert result.stderr == ("Error: hv has no accountable body to decide gate analyse-plan; set one with: "
                             "cycle project set hv --accountable-body <BODY>\n")
    assert dump(db) == before


# --- a stale --expect-version: exit 4, nothing written ----------------------------------------------

STALE = "Error: camhs changed since you read it (version 5, now 6); nothing was written. " \
        "Look again with: cycle project show camhs\n"


@pytest.mark.parametrize("args", [
    ["project", "advance", "camhs"],
    ["evidence", "add", "camhs", "consultation", "--ref", "Consultation report"],
    ["decision", "record", "camhs", "--gate", "plan-do", "--outcome", "go", "--body", BODY, "--ref", "m"],
    ["decision", "record", "camhs", "--gate", "plan-do", "--outcome", "recycle", "--to", "analyse",
     "--body", BODY, "--ref", "m"],
    ["project", "set", "camhs", "--owner", "bob"],
], ids=["advance", "evidence", "decision-go", "decision-recycle", "set"])
def test_wrong_expect_version_writes_nothing(at_plan: Cli, db: Database, args: list[str]) -> None:
    before = dump(db)
    result = at_plan(*args, "--expect-version", "5", expect=4)
    assert (result.stdout, result.stderr) == ("", STALE)
    assert dump(db) == before
    # The same request at the version actually shown is carried out (advance is refused, exit 3).
    at_plan(*args, "--expect-version", "6", expect=3 if args[1] == "advance" else 0)
    assert dump(db) != before
