"""The body that decides a gate is a governance lead's to change, and whoever waived may not decide.

The testers' route round the approvers: the owner renames the project's accountable body to one
with no approvers on record ("Board (virtual)"), records a go for it herself (accepted, as
unverified), advances, and renames the body back. And a governance lead who is also an approver
waived a gate's evidence and then decided the gate.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from .conftest import BODY, Cli, Database, PgServer

VIRTUAL = "Board (virtual)"


@pytest.fixture
def governed(ready: Cli) -> Cli:
    """camhs (owned by alice) in a database with governance set up: an admin, chair approving for its
    body, and gill its governance lead."""
    run = ready
    run("people", "add", "root", "--email", "root@council.gov.uk", "--role", "admin", user="root")
    run("people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "manager", user="root")
    run("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body", BODY,
        user="root")
    run("people", "add", "gill", "--email", "gill@council.gov.uk", "--role", "governance-lead", user="root")
    return run


def _without_audit(db: Database) -> dict[str, list[tuple[object, ...]]]:
    return {t: rows for t, rows in db.dump().items() if t != "audit_entry"}


def test_the_owner_cannot_send_the_gate_to_a_body_of_her_choosing(governed: Cli, db: Database) -> None:
    run = governed
    before, log = _without_audit(db), run.json("audit", "log")
    err = run("project", "set", "camhs", "--accountable-body", VIRTUAL, expect=6).stderr
    assert err == ("Error: only a governance lead may change the accountable body of camhs, which decides who may "
                   "pass its gates, and alice is not one; ask a governance lead (gill) to run: cycle project set "
                   "camhs --accountable-body \"Board (virtual)\". The refused attempt is recorded in the audit log.\n")
    assert _without_audit(db) == before
    after = run.json("audit", "log")
    assert after[:-1] == log
    assert (after[-1]["action"], after[-1]["actor"], after[-1]["project"], after[-1]["payload"]["changes"]) == (
        "project.refused", "alice", "camhs", {"accountable_body": [BODY, VIRTUAL]})
    assert f"REFUSED accountable_body={VIRTUAL}: only a governance lead" in run("audit", "log").stdout
    # the rest of the route is closed with it
    err = run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", VIRTUAL,
              "--ref", "m", expect=2).stderr
    assert err == f"Error: gate analyse-plan is decided by {BODY}, not {VIRTUAL}\n"
    run("project", "advance", "camhs", expect=3)
    assert run.json("project", "show", "camhs")["stage"] == "analyse"


def test_a_governance_lead_may_change_the_body_unless_they_own_the_project(governed: Cli) -> None:
    run = governed
    run("people", "add", "hal", "--email", "hal@council.gov.uk", "--role", "governance-lead", user="root")
    run("project", "set", "camhs", "--owner", "gill")
    err = run("project", "set", "camhs", "--accountable-body", VIRTUAL, user="gill", expect=6).stderr
    assert err == ("Error: separation of duties: gill owns camhs and may not change its accountable body; another "
                   "governance lead must run: cycle project set camhs --accountable-body \"Board (virtual)\". The "
                   "refused attempt is recorded in the audit log.\n")
    run("project", "set", "camhs", "--owner", "alice")
    err = run("project", "set", "camhs", "--accountable-body", VIRTUAL, user="gill", expect=6).stderr
    assert err.startswith("Error: separation of duties: gill owned camhs during this stage (until ")
    run("project", "set", "camhs", "--accountable-body", VIRTUAL, user="hal")
    entry = run.json("audit", "log", "camhs")[-1]
    assert (entry["action"], entry["actor"], entry["payload"]["changes"]) == (
        "project.set", "hal", {"accountable_body": [BODY, VIRTUAL]})
    assert run.json("project", "show", "camhs")["accountable_body"] == VIRTUAL


def test_with_nobody_a_governance_lead_an_admin_is_asked_to_appoint_one(ready: Cli) -> None:
    ready("people", "add", "root", "--email", "root@council.gov.uk", "--role", "admin", user="root")
    err = ready("project", "set", "camhs", "--accountable-body", VIRTUAL, user="root", expect=6).stderr
    assert err == ("Error: only a governance lead may change the accountable body of camhs, which decides who may "
                   "pass its gates, and nobody is one yet; ask an admin (root) to run: cycle people add <NAME> "
                   "--role governance-lead. The refused attempt is recorded in the audit log.\n")


def test_before_anyone_holds_a_role_anyone_may_change_the_body(ready: Cli) -> None:
    ready("people", "add", "alice", "--email", "alice@council.gov.uk")  # registered, with no role
    ready("project", "set", "camhs", "--accountable-body", VIRTUAL)
    assert ready.json("project", "show", "camhs")["accountable_body"] == VIRTUAL


def test_whoever_waived_a_criterion_may_not_decide_the_gate(governed: Cli, db: Database) -> None:
    run = governed
    run("people", "add", "gill", "--role", "approver", "--body", BODY, user="root")
    run("gate", "waive", "camhs", "needs-assessment", "--reason", "the 2025 JSNA still stands", user="gill")
    err = run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
              "--ref", "m", user="gill", expect=6).stderr
    assert err == ("Error: separation of duties: gill waived needs-assessment of gate analyse-plan and may not "
                   "decide it; another approver for Children's Trust Board must record it. The refused attempt is "
                   "recorded in the audit log.\n")
    last = run.json("audit", "log", "camhs")[-1]
    assert (last["action"], last["actor"]) == ("decision.refused", "gill")
    assert db.refused(HAND_WRITTEN, {"who": "gill"}, user="gill") == (
        "separation of duties: whoever waived a criterion of the gate may not decide it" if db.dialect == "sqlite"
        else "separation of duties: gill waived needs-assessment of gate analyse-plan and may not decide it")
    assert run.json("project", "show", "camhs")["decisions"] == []
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m",
        user="chair")
    run("project", "advance", "camhs")


HAND_WRITTEN = ("INSERT INTO decision (project_id, cycle, visit, gate, outcome, body, ref, recorded_by, recorded_at) "
                "VALUES ((SELECT id FROM project WHERE key = 'camhs'), 1, 1, 'analyse-plan', 'go', "
                "'Children''s Trust Board', 'by hand', :who, '2026-11-22T10:00:00Z')")


def test_by_hand_an_earlier_owner_this_stage_may_not_decide(governed: Cli, db: Database) -> None:
    """PostgreSQL reads the audit log as cycle does (the owners since the project entered its stage) and
    refuses; on SQLite `audit verify` names the decision nobody recorded."""
    run = governed
    run("people", "add", "alice", "--role", "approver", "--body", BODY, user="root")
    run("people", "add", "bob", "--email", "bob@council.gov.uk", user="root")
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026")
    run("project", "set", "camhs", "--owner", "bob")
    if db.dialect == "sqlite":
        db.execute(HAND_WRITTEN, params={"who": "alice"})
        assert "decision #1 has no decision.record audit entry: it was written outside cycle" in run(
            "audit", "verify", expect=1).stderr
        return
    assert db.refused(HAND_WRITTEN, {"who": "alice"}, user="alice") == (
        "separation of duties: alice owned the project during this stage and may not decide its gates")
    assert db.rows("SELECT COUNT(*) FROM decision") == [(0,)]
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m",
        user="chair")
    run("project", "advance", "camhs")  # a new stage: alice owned camhs at analyse, not at plan
    db.insert_on_record("decision", HAND_WRITTEN.replace("1, 1, 'analyse-plan'", "1, 2, 'plan-do'").replace(
        "'go'", "'hold'"), params={"who": "alice"}, user="alice")  # (with the entry every change needs there)


def test_a_field_that_decides_whether_a_decision_is_needed_is_guarded_too(governed: Cli, home: Path) -> None:
    """A team workflow whose gate needs the board's decision only when the route is "committee": whoever
    could set the route could decide that no decision is needed."""
    from .test_workflows import GOOD

    declared = '[[field]]\nid = "route"\nchoices = ["committee", "delegated"]\n\n[[stage]]'
    (home / "workflows").mkdir(parents=True, exist_ok=True)
    (home / "workflows" / "mini.toml").write_text(GOOD.replace("[[stage]]", declared, 1).replace(
        'kind = "decision"', 'kind = "decision"\n  when = { field = "route", in = ["committee"] }'))
    run = governed
    run("workflow", "install", str(home / "workflows" / "mini.toml"), user="gill")
    run("project", "new", "pilot", "--title", "Pilot", "--workflow", "mini", "--accountable-body", BODY,
        "--owner", "alice", "--attr", "route=committee")
    err = run("project", "set", "pilot", "--attr", "route=delegated", expect=6).stderr
    assert err == ("Error: only a governance lead may change the route of pilot, which decides who may pass its "
                   "gates, and alice is not one; ask a governance lead (gill) to run: cycle project set pilot "
                   "--attr route=delegated. The refused attempt is recorded in the audit log.\n")
    run("project", "set", "pilot", "--attr", "route=delegated", user="gill")
    run("project", "set", "pilot", "--title", "Pilot service")  # other fields are the owner's as before


# --- the report ----------------------------------------------------------------------------------

def test_the_gate_audit_report_shows_each_change_of_body_and_counts_unverified_decisions(ready: Cli) -> None:
    """With no governance set up the route is open, as before; the report is where it shows."""
    run = ready
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026")
    run("project", "set", "camhs", "--accountable-body", VIRTUAL)
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", VIRTUAL,
        "--ref", "m")
    run("project", "advance", "camhs")
    run("project", "set", "camhs", "--accountable-body", BODY)
    log = {e["seq"]: e for e in run.json("audit", "log", "camhs")}
    renamed, back = [seq for seq, e in log.items() if e["action"] == "project.set"]

    report = run.json("report", "gate-audit")
    assert (report["unverified_decisions"], report["body_changes"]) == (1, 2)
    (camhs,) = report["projects"]
    assert camhs["body_changes"] == [
        {"seq": renamed, "at": log[renamed]["at"], "by": "alice", "stage": "analyse", "from": BODY, "to": VIRTUAL},
        {"seq": back, "at": log[back]["at"], "by": "alice", "stage": "plan", "from": VIRTUAL, "to": BODY}]

    md = run("report", "gate-audit").stdout.splitlines()
    first = md[:10]
    assert ("**UNVERIFIED**: 1 decision recorded for a body with no approvers on record, so who decided cannot be "
            "checked. **Accountable body changed**: 2 times (each listed under its project).") in first, first
    assert (f"| {renamed} | {log[renamed]['at'][:19]}Z | alice | analyse | Children's Trust Board | "
            f"Board (virtual) |") in md
    assert f"| {back} | {log[back]['at'][:19]}Z | alice | plan | Board (virtual) | Children's Trust Board |" in md
    html = run("report", "gate-audit", "--format", "html").stdout
    assert '<span class="tag bad">UNVERIFIED</span> 1\ndecision recorded for a body with no approvers' in html
    assert (f"<tr><td>{renamed}</td><td>{log[renamed]['at'][:19]}Z</td><td>alice</td><td>analyse</td>"
            f"<td>Children&#39;s Trust Board</td><td>Board (virtual)</td></tr>") in html


def test_a_clean_record_says_so_on_its_first_lines(ready: Cli) -> None:
    md = ready("report", "gate-audit").stdout.splitlines()
    assert ("Unverified: 0 decisions recorded for a body with no approvers on record, so who decided cannot be "
            "checked. Accountable body changed: 0 times.") in md[:10]


# --- PostgreSQL, as a login `cycle db roles-sql` created ------------------------------------------

@pytest.mark.postgresql_only
def test_as_the_application_role_hand_written_statements_are_refused(run: Cli, pg_server: PgServer, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import create_engine, exc, text
    from sqlalchemy.pool import NullPool

    from .test_database import _psql

    n = f"{os.getpid()}_{secrets.token_hex(3)}"
    owner, app, database = f"own_{n}", f"app_{n}", f"cycle_gov_{n}"
    pat, chair, gill = f"pat_{n}", f"chair_{n}", f"gill_{n}"
    script = run("db", "roles-sql", "--database", database, "--owner", owner, "--app", app, "--person", pat,
                 "--person", chair, "--person", gill).stdout
    _psql(pg_server, script, tmp_path)

    def as_login(login: str) -> None:
        monkeypatch.setenv("CYCLE_DATABASE_URL", pg_server.url(login, database))

    def refused(login: str, statement: str) -> str:
        engine = create_engine(pg_server.url(login, database), poolclass=NullPool)
        try:
            with engine.connect() as conn, pytest.raises(exc.DBAPIError) as caught:
                conn.execute(text(statement))
            return str(caught.value.orig).splitlines()[0]
        finally:
            engine.dispose()

    try:
        assert pg_server.sql(f"SELECT rolsuper FROM pg_roles WHERE rolname = '{pat}'") == [(False,)]
        as_login(owner)
        run("init")
        as_login(pat)  # pat owns camhs and is also an approver; gill is its governance lead and an approver
        run("project", "new", "camhs", "--title", "CAMHS", "--accountable-body", BODY, "--owner", pat)
        run("people", "add", pat, "--email", "pat@council.example", "--role", "approver", "--body", BODY)
        run("people", "add", chair, "--email", "chair@council.example", "--role", "approver", "--body", BODY)
        run("people", "add", gill, "--email", "gill@council.example", "--role", "governance-lead")
        run("people", "add", gill, "--role", "approver", "--body", BODY)
        rename = f"UPDATE project SET accountable_body = '{VIRTUAL}' WHERE key = 'camhs'"
        decide = HAND_WRITTEN.replace(":who", "'{}'")

        as_login(gill)
        run("gate", "waive", "camhs", "needs-assessment", "--reason", "the 2025 JSNA still stands")
        assert refused(gill, decide.format(gill)) == (
            f"separation of duties: {gill} waived needs-assessment of gate analyse-plan and may not decide it")
        as_login(pat)
        assert refused(pat, rename) == (
            f"only a governance lead may change the accountable body of camhs, and {pat} is not one")
        assert refused(pat, decide.format(pat)) == (
            f"separation of duties: {pat} owns the project and may not decide its gates")
        run("project", "set", "camhs", "--owner", chair)
        run("project", "set", "camhs", "--owner", gill)
        run("project", "set", "camhs", "--owner", pat)
        assert refused(chair, decide.format(chair)) == (
            f"separation of duties: {chair} owned the project during this stage and may not decide its gates")
        assert refused(gill, rename) == (
            f"separation of duties: {gill} has owned camhs during this stage and may not change its accountable body")

        assert pg_server.sql("SELECT COUNT(*) FROM decision", database) == [(0,)]
        assert pg_server.sql("SELECT accountable_body FROM project", database) == [(BODY,)]
        assert run("audit", "verify").stdout.startswith("Audit chain verified: ")
    finally:
        pg_server.drop_database(database)
        for role in (pat, chair, gill, app, owner):
            pg_server.sql(f"DROP ROLE IF EXISTS {role}")
