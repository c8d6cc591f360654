"""`cycle audit verify` also compares the records gates read with the audit entries that wrote them.

The chain proves the log is intact; a row of evidence, a decision or a waiver changed, deleted or
forged straight in the database leaves the chain intact but changes what a gate sees. The history is
built through the real CLI; the tampering is plain SQL on the database (the `db` fixture).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import BODY, Cli, Database
from .test_audit import CHECKED as CHECKED_JSON
from .test_audit import build_history
from .test_verification import REPORTS

CHECKED = ("Records match the log: every column of 11 rows in 24 tables (3 projects, 3 evidence, 3 decisions, "
           "0 waivers, 2 workflow versions and 0 other rows), and the workflows of 6 gate entries.")


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
    assert data["records"] == {"ok": True, "checked": CHECKED_JSON, "gate_entries": 6, "gates_rechecked": 2,
                               "discrepancies": []}
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
    advance = db.audit()[-1]["seq"]  # and the advance it let through: the record it vouches for has no such go
    assert [(d["table"], d["id"]) for d in data["records"]["discrepancies"]] == [("decision", forged),
                                                                                ("audit_entry", advance)]
    assert data["records"]["discrepancies"][1]["problem"] == (
        f"entry {advance} (advance of camhs, gate plan-do) passed the gate, but the record at that entry does not "
        f"meet it: decision (No decision by {BODY} recorded for gate plan-do since the project entered plan)")


# --- every row of every covered table, every column (row images) ----------------------------------------

def image_seq(db: Database, table: str, row_id: int) -> int:
    """The newest entry holding an image of the row: what verify compares it with."""
    return max(e["seq"] for e in db.audit() for i in json.loads(e["payload"]).get("rows", [])
               if (i["table"], i["id"]) == (table, row_id))


@pytest.fixture
def fuller(history: Cli) -> Cli:
    """The history, and camhs with a contract whose notice is served, a milestone, a gate request, and people."""
    history("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
            "--notice", "6 months")
    history("contract", "notice", "camhs", "--served-on", "2026-09-01", "--ref", "NL-1")
    history("milestone", "add", "camhs", "Specification agreed", "--due", "2027-01-31")
    history("gate", "request", "camhs")
    history("people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "admin")
    history("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body", BODY)
    return history


def named(run: Cli, *problems: str, reports: bool = True) -> None:
    """verify exits 1 once the chain verifies, naming exactly `problems`; --json and both reports say the same."""
    result = run("audit", "verify", expect=1)
    assert result.stdout.startswith("Audit chain verified: ")
    head, *lines = result.stderr.splitlines()
    assert head.startswith(f"Records FAILED: {len(problems)} ")
    assert lines == [f"  {p}" for p in problems]
    data = run.json("audit", "verify", expect=1)
    assert data["chain_ok"] and not data["ok"] and [d["problem"] for d in data["records"]["discrepancies"]] == list(
        problems)
    for report in REPORTS if reports else ():
        said = run.json(*report, expect=1)["chain"]
        assert said["chain_ok"] and not said["ok"] and said["records"] == data["records"]


EDITS = [  # (what an attacker sets, the row it touches, what verify must say of it: column, now, then)
    ("UPDATE project SET cycle = 0 WHERE key = 'camhs'", ("project", 1), "cycle is 0 but entry {seq} recorded 1"),
    ("UPDATE project SET visit = 1 WHERE key = 'camhs'", ("project", 1), "visit is 1 but entry {seq} recorded 2"),
    ("UPDATE project SET owner = 'mallory' WHERE key = 'camhs'", ("project", 1),
     "owner is 'mallory' but entry {seq} recorded 'alice'"),
    ("UPDATE project SET accountable_body = 'Board (virtual)' WHERE key = 'camhs'", ("project", 1),
     "accountable_body is 'Board (virtual)' but entry {seq} recorded \"Children's Trust Board\""),
    ("UPDATE project SET workflow = 'decommissioning' WHERE key = 'camhs'", ("project", 1),
     "workflow is 'decommissioning' but entry {seq} recorded 'commissioning'"),
    ("UPDATE contract SET notice_served_on = '2026-06-01'", ("contract", 1),
     "notice_served_on is '2026-06-01' but entry {seq} recorded '2026-09-01'"),
    ("UPDATE milestone SET due = '2030-01-31', done_on = '2026-10-01'", ("milestone", 1),
     "due is '2030-01-31' but entry {seq} recorded '2027-01-31'; done_on is '2026-10-01' but entry {seq} "
     "recorded none"),
    ("UPDATE person SET email = 'mallory@evil.example' WHERE name = 'chair'", ("person", 2),
     "email is 'mallory@evil.example' but entry {seq} recorded 'chair@council.gov.uk'"),
    ("UPDATE person_role SET body = 'Board (virtual)' WHERE role = 'approver'", ("person_role", 2),
     "body is 'Board (virtual)' but entry {seq} recorded \"Children's Trust Board\""),
]


@pytest.mark.parametrize("statement, row, said", EDITS, ids=[e[0].split(" WHERE")[0] for e in EDITS])
def test_a_raw_edit_of_any_column_is_named(fuller: Cli, db: Database, statement: str, row: tuple[str, int],
                                           said: str) -> None:
    seq = image_seq(db, *row)
    db.tamper(statement)
    table, row_id = row
    label = "project camhs" if table == "project" else f"{table} #{row_id}"
    named(fuller, f"{label} differs from its audit entry: {said.format(seq=seq)}")


def test_a_deleted_gate_request_is_named(fuller: Cli, db: Database) -> None:
    """Deleting the request would lift the bar on its asker deciding the gate."""
    seq = image_seq(db, "gate_request", 1)
    db.tamper("DELETE FROM gate_request")
    named(fuller, f"gate_request #1, recorded by entry {seq}, is missing from the gate_request table")


def test_a_deleted_project_and_its_rows_are_each_named(fuller: Cli, db: Database) -> None:
    kept = {t: [r[0] for r in db.rows(f"SELECT id FROM {t} WHERE project_id = 1 ORDER BY id")]
            for t in ("evidence", "decision", "gate_request", "milestone", "contract")}
    seqs = {(t, i): image_seq(db, t, i) for t, ids in kept.items() for i in ids}
    project_seq = image_seq(db, "project", 1)
    db.tamper(*(f"DELETE FROM {t} WHERE project_id = 1" for t in kept), "DELETE FROM project WHERE key = 'camhs'")
    assert kept == {"evidence": [1, 3], "decision": [1], "gate_request": [1], "milestone": [1], "contract": [1]}
    named(fuller, f"project camhs (#1), recorded by entry {project_seq}, is missing from the project table",
          *(f"{t} #{i}, recorded by entry {seqs[t, i]}, is missing from the {t} table" for t, ids in kept.items()
            for i in ids))
    discrepancies = fuller.json("audit", "verify", expect=1)["records"]["discrepancies"]
    assert {d["project"] for d in discrepancies} == {"camhs"}  # named by key, though the project row is gone


def test_a_row_written_outside_cycle_is_named_in_any_table(fuller: Cli, db: Database) -> None:
    db.tamper("INSERT INTO person_role (person_id, role, body) SELECT id, 'admin', '' FROM person WHERE name = 'chair'",
              "INSERT INTO link (project_id, kind, other_id, created_at) VALUES (1, 'replaces', 2, 'now')")
    named(fuller, "link #1 has no audit entry: it was written outside cycle",
          "person_role #3 has no audit entry: it was written outside cycle")


def test_a_role_removed_then_put_back_by_hand_is_named(fuller: Cli, db: Database) -> None:
    fuller("people", "add", "bob", "--email", "bob@council.gov.uk", "--role", "approver", "--body", BODY)
    fuller("people", "remove-role", "bob", "--role", "approver", "--body", BODY)
    removed = db.audit()[-1]
    assert [(i["table"], i["id"], i["row"]) for i in json.loads(removed["payload"])["rows"]] == [
        ("person_role", 3, None)]
    db.tamper("INSERT INTO person_role (id, person_id, role, body) VALUES (3, 3, 'approver', :b)", params={"b": BODY})
    named(fuller, f"person_role #3 was deleted by entry {removed['seq']} but is in the person_role table: it was "
                  f"written outside cycle")


def test_a_value_of_another_type_is_named_not_a_crash(fuller: Cli, db: Database) -> None:
    """A blob where text was, as a hand-edited SQLite file can hold: named, with no traceback."""
    seq = image_seq(db, "milestone", 1)
    value = b"\x00\xff" if db.dialect == "sqlite" else "2027-01-31 "
    db.tamper("UPDATE milestone SET due = :v", params={"v": value})
    shown = "bytes 00ff" if db.dialect == "sqlite" else "'2027-01-31 '"
    named(fuller, f"milestone #1 differs from its audit entry: due is {shown} but entry {seq} recorded '2027-01-31'")


@pytest.mark.sqlite_only
def test_text_that_is_not_utf8_is_named_not_a_database_error(fuller: Cli, db: Database) -> None:
    """SQLite keeps whatever bytes it is given as text; Python cannot read them back as such. Verify reads them
    with each bad byte as a lone surrogate, and names the row. (The reports, which read the title to show it,
    stop with exit 5 "database error (Could not decode to UTF-8 ...)".)"""
    seq = image_seq(db, "project", 1)
    db.tamper("UPDATE project SET title = CAST(X'ff41' AS TEXT) WHERE key = 'camhs'")
    named(fuller, f"project camhs differs from its audit entry: title is '\\udcffA' but entry {seq} recorded "
                  f"'CAMHS Tiers 2 and 3'", reports=False)


def test_what_cycle_writes_matches_the_log(fuller: Cli) -> None:
    out = fuller("audit", "verify").stdout.splitlines()
    assert out[1] == ("Records match the log: every column of 18 rows in 24 tables (3 projects, 3 evidence, "
                      "3 decisions, 0 waivers, 2 workflow versions and 7 other rows), and the workflows of 6 gate "
                      "entries.")


# --- what is compared, and what is not --------------------------------------------------------------------

def test_every_table_and_column_is_covered_or_said_not_to_be(run: Cli, db: Database) -> None:
    """Add a table or a column, and this fails until it is in images.COVERED or images.NOT_COVERED (and the docs)."""
    from sqlalchemy import inspect
    from sqlmodel import SQLModel

    import cycle.db.models  # noqa: F401 - the tables the models describe
    from cycle.audit.images import COVERED, NOT_COVERED

    assert not set(COVERED) & set(NOT_COVERED)
    run("init")
    with db.engine.connect() as conn:
        found = inspect(conn)
        live = {t: {c["name"] for c in found.get_columns(t)} for t in found.get_table_names()}
    models = {t.name: {c.name for c in t.columns} for t in SQLModel.metadata.sorted_tables}
    for tables in (models, live):
        assert set(tables) - {"alembic_version"} <= set(COVERED) | set(NOT_COVERED), "a table in neither list"
        assert {t: tables.get(t) for t in COVERED} == {t: set(c) for t, c in COVERED.items()}
    docs = (Path(__file__).parent.parent / "docs" / "records.md").read_text().splitlines()
    for table, columns in COVERED.items():  # the docs list every column of every covered table
        (line,) = [line for line in docs if line.startswith(f"| `{table}` |")]
        assert line.split("|")[2].strip() == ", ".join(columns), f"docs/records.md lists other columns of {table}"
    for table in NOT_COVERED:
        assert any(line.startswith(f"- `{table}`: ") for line in docs), f"docs/records.md does not say why {table}"
    if db.dialect == "postgresql":  # and the database keeps every covered table on the record itself
        triggers = {r[0] for r in db.rows("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal OR tgconstraint <> 0")}
        assert {f"{t}_on_record" for t in COVERED} | {f"{t}_no_truncate" for t in COVERED} <= triggers


def test_a_write_that_forgets_its_entry_is_a_bug_caught_before_commit(ready: Cli, db: Database) -> None:
    from sqlalchemy import update

    from cycle.audit.images import Unrecorded
    from cycle.db.models import Project
    from cycle.db.store import open_store
    from cycle.projects.engine import load_for_write

    before = db.dump()
    store = open_store()
    try:
        with pytest.raises(Unrecorded, match=r"this transaction changed project #1 but appended no audit entry"):
            with store.write() as s:
                load_for_write(s, "camhs").title = "Renamed without a trace"
        with pytest.raises(Unrecorded, match=r"a bulk UPDATE or DELETE on project would change rows"):
            with store.write() as s:
                s.execute(update(Project).values(title="Renamed in bulk"))
    finally:
        store.dispose()
    assert db.dump() == before


# --- a change made by hand, then carried on by cycle's next write, is named where cycle found it ---------------

def test_an_edit_carried_on_by_the_next_command_is_named_at_that_entry(fuller: Cli, db: Database) -> None:
    """The next change cycle makes to the row images it whole, edit included; its entry also says what the row
    was when cycle found it, so verify sees that it was not what the log last left."""
    left = image_seq(db, "project", 1)
    db.tamper("UPDATE project SET owner = 'mallory', cycle = 0 WHERE key = 'camhs'")
    fuller("evidence", "add", "camhs", "eia", "--ref", "EIA v2")  # a write through the ORM
    found = image_seq(db, "project", 1)
    named(fuller, f"project camhs was changed outside cycle before entry {found}, which found it so: cycle was 0 "
                  f"where entry {left} left 1; owner was 'mallory' where entry {left} left 'alice'")


def test_an_edit_carried_on_by_an_advance_is_named_at_that_entry(fuller: Cli, db: Database) -> None:
    """advance writes the project row in plain SQL, from what it read: the same holds."""
    fuller("project", "new", "p2", "--title", "P2", "--lead-commissioner", "CCGs", "--model", "joint",
           "--accountable-body", BODY, "--owner", "alice")
    fuller("evidence", "add", "p2", "needs-assessment", "--ref", "JSNA")
    fuller("decision", "record", "p2", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m",
           user="chair")
    left = image_seq(db, "project", 4)
    db.tamper("UPDATE project SET sro = 'mallory', title = 'P2 (renamed)' WHERE key = 'p2'")
    fuller("project", "advance", "p2")
    moved = image_seq(db, "project", 4)
    assert db.audit()[-1]["seq"] == moved and db.audit()[-1]["action"] == "advance"
    named(fuller, f"project p2 was changed outside cycle before entry {moved}, which found it so: title was "
                  f"'P2 (renamed)' where entry {left} left 'P2'; sro was 'mallory' where entry {left} left none")


def test_a_row_written_by_hand_then_changed_by_cycle_is_named(fuller: Cli, db: Database) -> None:
    db.tamper("INSERT INTO milestone (id, project_id, title, due, created_by, created_at) "
              "VALUES (7, 1, 'Forged', '2027-01-31', 'alice', 'now')")
    fuller("milestone", "done", "camhs", "7", "--on", "2026-11-01")
    done = image_seq(db, "milestone", 7)
    named(fuller, f"milestone #7 was on no record when entry {done} changed it: it was written outside cycle "
                  f"before that")


def test_a_notice_period_edited_into_nonsense_is_named_and_the_reports_still_run(fuller: Cli, db: Database) -> None:
    """The quarterly report reads every contract's terms: one edited by hand is the check's to name, not bad input."""
    db.tamper("UPDATE contract SET notice = 'until the cows come home'")
    named(fuller, f"contract #1 differs from its audit entry: notice is 'until the cows come home' but entry "
                  f"{image_seq(db, 'contract', 1)} recorded '6 months'")
