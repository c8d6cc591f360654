"""`audit verify` checks every move of a project against the record at its entry (cycle.audit.moves).

Row images make every change to a row visible; these are changes that are on the record, or were
only briefly off it, and still are not moves cycle would make: an advance whose gate the record
does not meet (a decision and evidence put in by hand for the advance, then taken out again; or an
`advance` entry written by hand), a project moved by an entry of another kind, a project created at
a later stage, a baseline that sets a visit back. On PostgreSQL the forger writes the entry under
their own login, as the database requires (tests/test_prevention.py); on SQLite, anyone who can
write the file can. Either way `audit verify` and both reports exit 1 naming the entry.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from cycle.audit import chain

from .conftest import BODY, Cli, Database
from .test_audit import build_history
from .test_records import named


@pytest.fixture
def history(run: Cli) -> Cli:
    build_history(run)  # camhs at plan (cycle 1, visit 2), school-nursing at plan, respite stopped
    return run


def forge(db: Database, *statements: str, user: str = "mallory", params: dict[str, Any] | None = None,
          **entry: Any) -> int:
    """Change rows and append an entry holding their images, in one transaction, as `user` (on PostgreSQL
    their login, which the database requires the entry to name): what anyone who can append entries can do.
    The rows imaged are every project, and every decision and evidence row, as they now are. The entry's seq."""
    with db.login(user).begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params or {})
        images = [{"table": t, "id": r["id"], "row": dict(r)} for t in ("project", "evidence", "decision")
                  for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id")).mappings()]
        return chain.append(conn, actor=user, payload={**entry.pop("payload", {}), "rows": images}, **entry).seq


def sha(db: Database, name: str = "commissioning") -> str:
    return str(db.rows("SELECT sha256 FROM workflow_version WHERE name = :n", {"n": name})[0][0])


def test_a_decision_and_evidence_put_in_for_an_advance_and_taken_out_again_are_named(history: Cli,
                                                                                      db: Database) -> None:
    """The gate read them, so the advance went through; gone again, no row is out of place. The advance is.
    (Its eia evidence is on the record: bob added it.)"""
    for name in ("service-specification", "eia", "consultation", "performance-targets"):
        db.tamper("INSERT INTO evidence (project_id, cycle, name, ref, recorded_by, recorded_at) SELECT id, 1, :n, "
                  "'forged', 'alice', '2026-11-22T10:00:00.000000Z' FROM project WHERE key = 'camhs'",
                  params={"n": name})
    db.tamper("INSERT INTO decision (project_id, cycle, visit, gate, outcome, body, ref, recorded_by, recorded_at) "
              "SELECT id, cycle, visit, 'plan-do', 'go', :body, 'never held', 'clerk', '2026-11-22T10:00:00.000000Z' "
              "FROM project WHERE key = 'camhs'", params={"body": BODY})
    history("project", "advance", "camhs")
    db.tamper("DELETE FROM decision WHERE ref = 'never held'", "DELETE FROM evidence WHERE ref = 'forged'")
    seq = db.audit()[-1]["seq"]
    named(history, f"entry {seq} (advance of camhs, gate plan-do) passed the gate, but the record at that entry does "
                   f"not meet it: service-specification (No 'service-specification' evidence recorded in cycle 1); "
                   f"consultation (No 'consultation' evidence recorded in cycle 1); performance-targets (No "
                   f"'performance-targets' evidence recorded in cycle 1); decision (No decision by {BODY} recorded "
                   f"for gate plan-do since the project entered plan)")


def test_an_advance_entry_written_by_hand_is_named(history: Cli, db: Database) -> None:
    seq = forge(db, "UPDATE project SET stage = 'do', visit = visit + 1, version = version + 1 WHERE key = 'camhs'",
                action="advance", project="camhs", from_stage="plan", to_stage="do",
                payload={"gate": "plan-do", "workflow": "commissioning", "workflow_version": 1,
                         "workflow_sha256": sha(db), "cycle": 1, "criteria": []})
    assert history.json("project", "show", "camhs")["stage"] == "do"
    named(history, f"entry {seq} (advance of camhs, gate plan-do) passed the gate, but the record at that entry does "
                   f"not meet it: service-specification (No 'service-specification' evidence recorded in cycle 1); "
                   f"consultation (No 'consultation' evidence recorded in cycle 1); performance-targets (No "
                   f"'performance-targets' evidence recorded in cycle 1); decision (No decision by {BODY} recorded "
                   f"for gate plan-do since the project entered plan)")


def test_an_advance_through_a_gate_the_workflow_has_not_got_is_named(history: Cli, db: Database) -> None:
    seq = forge(db, "UPDATE project SET stage = 'review', visit = visit + 1, version = version + 1 "
                    "WHERE key = 'camhs'",
                action="advance", project="camhs", from_stage="plan", to_stage="review",
                payload={"gate": "do-review", "workflow_sha256": sha(db), "criteria": []})
    named(history, f"entry {seq} (advance of camhs) passed gate 'do-review', which commissioning version 1 does not "
                   f"have out of plan")


@pytest.mark.parametrize("action, to_stage", [("project.set", None), ("note", "do")])
def test_a_project_moved_by_an_entry_of_another_kind_is_named(history: Cli, db: Database, action: str,
                                                              to_stage: str | None) -> None:
    """With to_stage given, the log's last move agrees with the row: only the kind of entry gives it away."""
    seq = forge(db, "UPDATE project SET stage = 'do', visit = visit + 1, version = version + 1 WHERE key = 'camhs'",
                action=action, project="camhs", to_stage=to_stage)
    problems = [f"entry {seq} ({action}) changed project camhs's stage 'plan' to 'do', visit 2 to 3; only an "
                f"advance through a gate, or a body's recycle or stop decision, moves a project"]
    if to_stage is None:
        problems.insert(0, "project camhs is at do, but its audit log last moved it to plan")
    named(history, *problems)


def test_a_cycle_set_back_by_an_entry_is_named(history: Cli, db: Database) -> None:
    """Setting cycle (and visit) back would let last cycle's evidence and decisions count again."""
    seq = forge(db, "UPDATE project SET cycle = 0, version = version + 1 WHERE key = 'camhs'", action="project.set",
                project="camhs", payload={"changes": {}})
    named(history, f"entry {seq} (project.set) changed project camhs's cycle 1 to 0; only an advance through a gate, "
                   f"or a body's recycle or stop decision, moves a project")


def test_a_project_created_at_a_later_stage_is_named(history: Cli, db: Database) -> None:
    seq = forge(db, "INSERT INTO project (key, title, workflow, workflow_version, stage, cycle, visit, attrs, "
                    "created_at, updated_at, version) VALUES ('forged', 'Forged', 'commissioning', 1, 'do', 1, 1, "
                    "'{}', '2026-11-22T10:00:00.000000Z', '2026-11-22T10:00:00.000000Z', 1)",
                action="project.create", project="forged", to_stage="do",
                payload={"workflow": "commissioning", "workflow_version": 1, "workflow_sha256": sha(db)})
    named(history, f"entry {seq} (project.create) created forged at do, visit 1 of cycle 1; commissioning version 1 "
                   f"starts at analyse, visit 1 of cycle 1")


def test_a_baseline_that_sets_a_visit_back_is_named(history: Cli, db: Database) -> None:
    """A record.baseline entry is an upgrade's: it records rows as they stand, and changes none."""
    seq = forge(db, "UPDATE project SET visit = 1, version = version + 1 WHERE key = 'camhs'",
                action="record.baseline", project="camhs", payload={"revision": "0011"})
    named(history, f"entry {seq} (record.baseline) changed project #1's version, visit; a baseline records rows as "
                   f"they stand and changes none")
