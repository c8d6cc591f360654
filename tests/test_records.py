"""`cycle audit verify` also compares the records gates read with the audit entries that wrote them.

The chain proves the log is intact; a row of evidence, a decision or a waiver changed, deleted or
forged straight in the database leaves the chain intact but changes what a gate sees. The history is
built through the real CLI; the tampering is plain SQL on the database (the `db` fixture).
"""

from __future__ import annotations

import pytest

from .conftest import BODY, Cli, Database
from .test_audit import CHECKED as CHECKED_JSON
from .test_audit import build_history

CHECKED = ("Records match the log: every column of 9 rows in 13 tables (3 projects, 3 evidence, 3 decisions, 0 waivers "
           "and 0 other rows).")


@pytest.fixture
def history(run: Cli) -> Cli:
    build_history(run)
    return run


def evidence_id(db: Database, ref: str) -> int:
    return int(db.rows("SELECT id FROM evidence WHERE ref = :r", {"r": ref})[0][0])


def entry_of(db: Database, action: str, ref: str) -> int:
    return int(db.rows("SELECT seq FROM audit_entry WHERE action = :a AND payload LIKE :r",
                       {"a": action, "r": f'%"ref":"{ref}"%'})[0][0])


def failed(run: Cli, problem: str) -> None:
    """verify exits 1: the chain verified, and the records part names `problem` (and only it)."""
    result = run("audit", "verify", expect=1)
    assert result.stdout.startswith("Audit chain verified: 16 entries")
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Records FAILED: 1 does not match the audit log, which itself verified")
    assert lines[1:] == [f"  {problem}"]
    assert run("audit", "verify", "--chain-only").stdout.startswith("Audit chain verified: 16 entries")


def test_untouched_records_match_the_log(history: Cli) -> None:
    out = history("audit", "verify").stdout.splitlines()
    assert out[0].startswith("Audit chain verified: 16 entries") and out[1] == CHECKED
    data = history.json("audit", "verify")
    assert data["ok"] and data["chain_ok"]
    assert data["records"] == {"ok": True, "checked": CHECKED_JSON, "discrepancies": []}
    assert history("audit", "verify", "--chain-only").stdout.splitlines()[1:] == []


def test_an_edited_evidence_reference_is_named(history: Cli, db: Database) -> None:
    row = evidence_id(db, "EIA v1")
    seq = entry_of(db, "evidence.add", "EIA v1")
    db.tamper("UPDATE evidence SET ref = 'EIA v2 (signed off)' WHERE id = :i", params={"i": row})
    failed(history, f"evidence #{row} differs from its audit entry: ref is 'EIA v2 (signed off)' but entry {seq} "
                    f"recorded 'EIA v1'")


def test_a_decision_given_another_recorder_is_named(history: Cli, db: Database) -> None:
    row, seq = db.rows("SELECT d.id, a.seq FROM decision d JOIN audit_entry a ON a.action = 'decision.record' "
                       "AND a.payload LIKE '%HWB 2026-11-02 item 3%' WHERE d.ref = 'HWB 2026-11-02 item 3'")[0]
    recorder = db.rows("SELECT recorded_by FROM decision WHERE id = :i", {"i": row})[0][0]
    db.tamper("UPDATE decision SET recorded_by = 'chair', decided_on = '2026-09-01' WHERE id = :i",
               params={"i": row})
    failed(history, f"decision #{row} differs from its audit entry: decided_on is '2026-09-01' but entry {seq} "
                    f"recorded none; recorded_by is 'chair' but entry {seq} recorded '{recorder}'")


def test_a_deleted_evidence_row_is_named(history: Cli, db: Database) -> None:
    row = evidence_id(db, "JSNA 2026 school health")
    seq = entry_of(db, "evidence.add", "JSNA 2026 school health")
    db.tamper("DELETE FROM evidence WHERE id = :i", params={"i": row})
    failed(history, f"evidence #{row}, recorded by entry {seq}, is missing from the evidence table")


def test_a_moved_project_is_named(history: Cli, db: Database) -> None:
    seq = db.rows("SELECT MAX(seq) FROM audit_entry WHERE project = 'camhs'")[0][0]
    db.tamper("UPDATE project SET stage = 'do' WHERE key = 'camhs'")
    failed(history, f"project camhs differs from its audit entry: stage is 'do' but entry {seq} recorded 'plan'")


def test_a_forged_decision_opens_a_gate_but_verify_names_it(history: Cli, db: Database) -> None:
    """A go inserted by hand is what the gate sees (the engine reads the tables); verify says it was never recorded."""
    history("evidence", "add", "camhs", "service-specification", "--ref", "Spec v3")
    for name in ("eia", "consultation", "performance-targets"):
        history("evidence", "add", "camhs", name, "--ref", f"{name} v1")
    db.tamper("INSERT INTO decision (project_id, cycle, visit, gate, outcome, body, ref, recorded_by, recorded_at) "
               "SELECT id, cycle, visit, 'plan-do', 'go', :body, 'minutes never held', 'clerk', "
               "'2026-11-22T10:00:00.000000Z' FROM project WHERE key = 'camhs'", params={"body": BODY})
    forged = db.rows("SELECT id FROM decision WHERE ref = 'minutes never held'")[0][0]
    history("project", "advance", "camhs")
    result = history("audit", "verify", expect=1)
    assert f"  decision #{forged} has no decision.record audit entry: it was written outside cycle" in (
        result.stderr.splitlines())
    data = history.json("audit", "verify", expect=1)
    assert data["chain_ok"] and not data["ok"] and not data["records"]["ok"]
    assert [d["id"] for d in data["records"]["discrepancies"]] == [forged]
