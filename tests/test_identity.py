"""Identity the database vouches for, and separation of duties the database enforces.

On PostgreSQL the actor is the login (session_user), whatever CYCLE_USER says, and the database
refuses an audit entry or a decision written under any other name. On both databases a
hand-written INSERT cannot record a decision that cycle/authority.py would refuse.
"""

from __future__ import annotations

import json

import pytest

from cycle.cli import cli as cycle_cli

from .conftest import BODY, Cli, Database, as_user

INSERT_DECISION = ("INSERT INTO decision (project_id, cycle, visit, gate, outcome, body, ref, recorded_by, "
                   "recorded_at) VALUES ((SELECT id FROM project WHERE key = 'camhs'), 1, 1, 'analyse-plan', "
                   "'go', :body, 'by hand', :who, '2026-11-22T10:00:00Z')")


@pytest.fixture
def approvers(ready: Cli) -> Cli:
    """camhs (owned by alice) with two approvers on record for its body: alice herself and chair."""
    for name in ("alice", "chair"):
        ready("people", "add", name, "--email", f"{name}@council.gov.uk", "--role", "approver", "--body", BODY)
    return ready


def test_the_owner_cannot_write_their_own_decision_by_hand(approvers: Cli, db: Database) -> None:
    refused = approvers("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
                        "--ref", "m", expect=6)
    assert refused.stderr.startswith("Error: separation of duties: alice owns camhs and may not decide its gates")

    err = db.refused(INSERT_DECISION, {"body": BODY, "who": "alice"}, user="alice")
    if db.dialect == "sqlite":
        assert err == "separation of duties: the project's owner may not decide its gates"
    else:
        assert err == "separation of duties: alice owns the project and may not decide its gates"
    assert db.rows("SELECT COUNT(*) FROM decision") == [(0,)]


def test_by_hand_only_an_approver_who_did_not_ask_may_decide(approvers: Cli, db: Database) -> None:
    approvers("people", "add", "bob", "--email", "bob@council.gov.uk", "--role", "manager")
    err = db.refused(INSERT_DECISION, {"body": BODY, "who": "bob"}, user="bob")
    assert err.startswith("separation of duties: ") and "approver" in err
    approvers("gate", "request", "camhs", user="chair")
    err = db.refused(INSERT_DECISION, {"body": BODY, "who": "chair"}, user="chair")
    assert err.startswith("separation of duties: ") and "asked for" in err
    approvers("people", "add", "vice", "--email", "vice@council.gov.uk", "--role", "approver", "--body", BODY)
    db.insert_on_record("decision", INSERT_DECISION, params={"body": BODY, "who": "vice"}, user="vice")
    assert db.rows("SELECT recorded_by FROM decision") == [("vice",)]
    assert db.audit()[-1]["actor"] == "vice"  # on PostgreSQL only with an entry of its own, naming vice


def test_a_body_without_approvers_is_not_checked(ready: Cli, db: Database) -> None:
    """As in cycle/authority.py: nothing to check against, so the decision stands (and reports say unverified)."""
    db.insert_on_record("decision", INSERT_DECISION, params={"body": BODY, "who": "alice"}, user="alice")
    assert db.rows("SELECT recorded_by FROM decision") == [("alice",)]


# --- PostgreSQL: the login is the actor ------------------------------------------------------------

@pytest.mark.postgresql_only
def test_the_actor_is_the_database_login_not_cycle_user(ready: Cli, db: Database) -> None:
    env = {**as_user(db, "bob"), "CYCLE_USER": "mallory"}  # logged in as bob, claiming to be mallory
    result = ready.runner.invoke(cycle_cli, ["evidence", "add", "camhs", "eia", "--ref", "EIA v1"],
                                 env=env, prog_name="cycle")
    assert result.exit_code == 0, result.output
    entry = db.audit()[-1]
    assert (entry["action"], entry["actor"]) == ("evidence.add", "bob")
    assert db.rows("SELECT recorded_by FROM evidence") == [("bob",)]
    assert [e["actor"] for e in ready.json("audit", "log")] == ["alice"] * 4 + ["bob"]  # init installs 2 workflows


@pytest.mark.postgresql_only
def test_the_library_records_the_login_whatever_it_is_told(ready: Cli, db: Database) -> None:
    from cycle.db.store import open_store
    from cycle.projects import engine

    store = open_store()  # logged in as alice
    try:
        assert store.actor("someone-else") == "alice"
        item = engine.add_evidence(store, "camhs", "eia", "EIA v1", actor="someone-else")
    finally:
        store.dispose()
    assert item.recorded_by == "alice" and db.audit()[-1]["actor"] == "alice"


@pytest.mark.postgresql_only
def test_a_hand_written_entry_under_another_name_is_refused(ready: Cli, db: Database) -> None:
    head = db.audit()[-1]
    insert = ("INSERT INTO audit_entry (seq, at, actor, project, action, payload, prev_hash, hash) "
              "VALUES (:seq, '2026-11-22T10:00:00Z', :actor, 'camhs', 'advance', '{}', :prev, 'x')")
    params = {"seq": head["seq"] + 1, "prev": head["hash"]}
    assert db.refused(insert, {**params, "actor": "chair"}, user="alice") == (
        "an audit entry's actor must be the database login that writes it (alice), not chair")
    assert db.refused("INSERT INTO decision (project_id, cycle, visit, gate, outcome, body, ref, recorded_by, "
                      "recorded_at) VALUES (1, 1, 1, 'analyse-plan', 'go', 'Board', 'm', 'chair', 'now')",
                      user="alice") == (
        "a decision must be recorded under the database login that records it (alice), not chair")
    assert len(db.audit()) == head["seq"]


@pytest.mark.postgresql_only
def test_init_is_recorded_under_the_login(run: Cli, db: Database) -> None:
    result = run.runner.invoke(cycle_cli, ["init"], env={**as_user(db, "gill"), "CYCLE_USER": "x"},
                               prog_name="cycle")
    assert result.exit_code == 0, result.output
    entry, *installs = db.audit()
    assert (entry["actor"], entry["action"]) == ("gill", "db.init")
    assert json.loads(entry["payload"])["schema"] == run.json("db", "status")["head"]
    assert [(e["actor"], e["action"]) for e in installs] == [("gill", "workflow.install")] * 2
    assert db.rows("SELECT DISTINCT installed_by FROM workflow_version") == [("gill",)]
