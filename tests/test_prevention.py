"""PostgreSQL: a team member's own login cannot change what gates, reminders and reports read off the record.

The team is set up as an administrator would, with `cycle db roles-sql`: an owner role that runs
`cycle init`, and one login per person, each a member of the application role. Mallory is one of
them, with a text editor and psql. Every raw INSERT, UPDATE and DELETE she can write on every
covered table is refused by the database, or (were one to get through) named by `audit verify`;
a change she does put on the record with an entry of her own commits, and the entry names her.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, exc, text
from sqlalchemy.pool import NullPool

from cycle.audit.images import COVERED
from cycle.calendar.clock import london_today

from .conftest import BODY, Cli, PgServer
from .test_database import _psql

pytestmark = pytest.mark.postgresql_only

_n = itertools.count(1)


@dataclass
class Team:
    run: Cli
    server: PgServer
    database: str
    names: dict[str, str]  # who -> their login
    monkeypatch: pytest.MonkeyPatch

    def login(self, who: str) -> str:
        return self.names[who]

    def acts(self, who: str) -> None:
        self.monkeypatch.setenv("CYCLE_DATABASE_URL", self.server.url(self.names[who], self.database))
        self.monkeypatch.setenv("CYCLE_USER", "someone-else")  # ignored on PostgreSQL: the login is the actor

    def engine(self, who: str) -> Any:
        return create_engine(self.server.url(self.names[who], self.database), poolclass=NullPool)

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every covered table, and the log, as the server's superuser sees them."""
        found = {}
        for table in [*COVERED, "audit_entry"]:
            found[table] = self.server.sql(f"SELECT * FROM {table} ORDER BY 1", database=self.database)
        return found


@pytest.fixture
def team(run: Cli, pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Team]:
    """A database set up with `cycle db roles-sql`, and a row in every covered table, each written by cycle."""
    n = f"{os.getpid()}_{next(_n)}"
    names = {who: f"{who}_{n}" for who in ("owner", "app", "root", "pat", "gina", "chair", "mallory")}
    database = f"cycle_prevent_{n}"
    people = [f"--person={names[p]}" for p in ("root", "pat", "gina", "chair", "mallory")]
    _psql(pg_server, run("db", "roles-sql", "--database", database, "--owner", names["owner"], "--app",
                         names["app"], *people).stdout, tmp_path)
    t = Team(run, pg_server, database, names, monkeypatch)
    try:
        t.acts("owner")
        run("init")
        pat, gina, chair = names["pat"], names["gina"], names["chair"]
        t.acts("root")
        run("people", "add", names["root"], "--email", "root@council.example", "--role", "admin")
        run("people", "add", pat, "--email", "pat@council.example", "--role", "manager")
        run("people", "add", gina, "--email", "gina@council.example", "--role", "governance-lead")
        run("people", "add", chair, "--email", "chair@council.example", "--role", "approver", "--body", BODY)
        run("people", "add", names["mallory"], "--email", "mallory@council.example")
        soon = london_today() + timedelta(days=30)  # root stands in for chair next month
        run("people", "deputy", "add", chair, "--deputy", names["root"], "--body", BODY, "--from", str(soon), "--to",
            str(soon + timedelta(days=5)))
        t.acts("pat")
        run("programme", "add", "emotional-health", "--title", "Emotional health and wellbeing")
        run("project", "new", "camhs", "--title", "CAMHS", "--lead-commissioner", "CCGs", "--model", "joint",
            "--accountable-body", BODY, "--owner", pat, "--programme", "emotional-health", "--hub-role", "lead")
        run("project", "new", "camhs-next", "--title", "CAMHS from 2028", "--accountable-body", BODY, "--owner", pat,
            "--replaces", "camhs")
        t.acts("gina")
        run("gate", "waive", "camhs", "needs-assessment", "--reason", "the 2026 JSNA chapter is late")
        t.acts("pat")
        run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026")
        run("gate", "request", "camhs")
        run("milestone", "add", "camhs", "Specification agreed", "--due", "2027-01-31")
        run("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
            "--notice", "6 months")
        run("contract", "fund", "camhs", "--funder", "Council", "--share", "60%", "--funder", "ICB", "--share", "40%")
        run("kpi", "add", "camhs", "rtt-4wk", "--title", "Referral to treatment", "--target", "92", "--better",
            "higher")
        run("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2026-Q1", "--value", "90")
        run("action", "add", "camhs", "Recovery plan", "--owner", pat, "--due", "2027-01-31", "--kpi", "rtt-4wk")
        run("kpi", "assess", "camhs", "--rating", "good", "--period", "2025-04-01..2026-03-31")
        run("procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-a")
        run("procurement", "step", "camhs", "award", "--on", "2026-11-01")
        run("review", "record", "camhs", "--quarter", "2026-Q2", "--held-on", "2026-09-20")
        run("remind", "run")
        t.acts("chair")
        run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m")
        t.acts("pat")
        run("project", "advance", "camhs")
        assert {table: len(r) > 0 for table, r in t.rows().items()} == {table: True for table in [*COVERED,
                                                                                                  "audit_entry"]}
        assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")
        yield t
    finally:
        pg_server.drop_database(database)
        for role in ("root", "pat", "gina", "chair", "mallory", "app", "owner"):
            pg_server.sql(f"DROP ROLE IF EXISTS {names[role]}")


def attempt(engine: Any, *statements: str, params: dict[str, Any] | None = None) -> tuple[str, str] | None:
    """Run statements in one transaction and commit: (SQLSTATE, first line of the error) if refused, else None."""
    with engine.connect() as conn:
        try:
            for statement in statements:
                conn.execute(text(statement), params or {})
            conn.commit()
        except exc.DBAPIError as caught:
            conn.rollback()
            return getattr(caught.orig, "sqlstate", ""), str(caught.orig).splitlines()[0]
    return None


# What Mallory, a member of the application role with no role in cycle, tries on each covered table.
ATTEMPTS: dict[str, tuple[str, str, str]] = {
    "project": ("INSERT INTO project (key, title, workflow, stage, cycle, visit, attrs, created_at, updated_at, "
                "version) VALUES ('forged', 'Forged', 'commissioning', 'do', 1, 1, '{}', 'now', 'now', 1)",
                "UPDATE project SET cycle = 0, visit = 1 WHERE key = 'camhs'",
                "DELETE FROM project WHERE key = 'camhs-next'"),
    "programme": ("INSERT INTO programme (key, title, created_by, created_at) VALUES ('forged', 'Forged', "
                  "session_user, 'now')",
                  "UPDATE programme SET title = 'Renamed'", "DELETE FROM programme"),
    "evidence": ("INSERT INTO evidence (project_id, cycle, name, ref, recorded_by, recorded_at) "
                 "SELECT id, 1, 'eia', 'forged', session_user, 'now' FROM project WHERE key = 'camhs'",
                 "UPDATE evidence SET ref = 'forged'", "DELETE FROM evidence"),
    "decision": ("INSERT INTO decision (project_id, cycle, visit, gate, outcome, body, ref, recorded_by, recorded_at) "
                 f"SELECT id, cycle, visit, 'plan-do', 'go', '{BODY.replace(chr(39), chr(39) * 2)}', 'forged', "
                 "session_user, 'now' FROM project WHERE key = 'camhs'",
                 "UPDATE decision SET outcome = 'stop'", "DELETE FROM decision"),
    "waiver": ("INSERT INTO waiver (project_id, cycle, visit, gate, criterion, reason, waived_by, waived_at) "
               "SELECT id, cycle, visit, 'plan-do', 'eia', 'forged', session_user, 'now' FROM project "
               "WHERE key = 'camhs'",
               "UPDATE waiver SET visit = 2", "DELETE FROM waiver"),
    "gate_request": ("INSERT INTO gate_request (project_id, gate, visit, requested_by, requested_at) "
                     "SELECT id, 'plan-do', visit, 'chair', 'now' FROM project WHERE key = 'camhs'",
                     "UPDATE gate_request SET requested_by = 'nobody'", "DELETE FROM gate_request"),
    "milestone": ("INSERT INTO milestone (project_id, title, due, created_by, created_at) "
                  "SELECT id, 'forged', '2030-01-01', session_user, 'now' FROM project WHERE key = 'camhs'",
                  "UPDATE milestone SET done_on = '2026-10-01'", "DELETE FROM milestone"),
    "contract": ("INSERT INTO contract (project_id, if_no_notice, updated_at) "
                 "SELECT id, 'ends', 'now' FROM project WHERE key = 'camhs-next'",
                 "UPDATE contract SET notice_served_on = '2026-06-01', notice_ref = 'forged'", "DELETE FROM contract"),
    "contract_funder": ("INSERT INTO contract_funder (contract_id, position, funder, share, recorded_by, "
                        "recorded_at) SELECT id, 3, 'Forged', '10', session_user, 'now' FROM contract",
                        "UPDATE contract_funder SET share = '90' WHERE position = 1",
                        "DELETE FROM contract_funder WHERE position = 2"),
    "procurement": ("INSERT INTO procurement (project_id, regime, route, light_touch, started_by, started_at) "
                    "SELECT id, 'psr', 'competitive', 'no', session_user, 'now' FROM project WHERE key = 'camhs-next'",
                    "UPDATE procurement SET route = 'direct-award-b'", "DELETE FROM procurement"),
    "procurement_step": ("INSERT INTO procurement_step (procurement_id, step, done_on, recorded_by, recorded_at) "
                         "SELECT id, 'award-notice', '2026-11-02', session_user, 'now' FROM procurement",
                         "UPDATE procurement_step SET done_on = '2026-01-01'", "DELETE FROM procurement_step"),
    "link": ("INSERT INTO link (project_id, kind, other_id, created_at) "
             "SELECT a.id, 'decommissions', b.id, 'now' FROM project a, project b "
             "WHERE a.key = 'camhs-next' AND b.key = 'camhs'",
             "UPDATE link SET kind = 'decommissions'", "DELETE FROM link"),
    "person": ("INSERT INTO person (name, email, created_at) VALUES ('ghost', 'ghost@evil.example', 'now')",
               "UPDATE person SET email = 'mallory@evil.example' WHERE email = 'chair@council.example'",
               "DELETE FROM person WHERE email = 'chair@council.example'"),
    "person_role": ("INSERT INTO person_role (person_id, role, body) SELECT id, 'governance-lead', '' FROM person "
                    "WHERE name = session_user",
                    "UPDATE person_role SET role = 'admin'", "DELETE FROM person_role WHERE role = 'approver'"),
    "deputy": ("INSERT INTO deputy (approver, deputy, body, starts_on, ends_on, added_by, added_at) SELECT approver, "
               "session_user, body, '2100-01-01', '2100-01-02', session_user, 'now' FROM deputy",
               "UPDATE deputy SET ends_on = '2100-12-31'", "DELETE FROM deputy"),
    "review_meeting": ("INSERT INTO review_meeting (project_id, quarter, held_on, recorded_by, recorded_at) "
                       "SELECT id, '2026-Q3', '2026-12-01', session_user, 'now' FROM project WHERE key = 'camhs'",
                       "UPDATE review_meeting SET held_on = '2026-07-01'", "DELETE FROM review_meeting"),
    "kpi": ("INSERT INTO kpi (contract_id, key, title, better, created_by, created_at) "
            "SELECT id, 'forged', 'Forged', 'higher', session_user, 'now' FROM contract",
            "UPDATE kpi SET better = 'lower'", "DELETE FROM kpi"),
    "kpi_target": ("INSERT INTO kpi_target (kpi_id, from_quarter, target, tolerance, set_by, set_at) "
                   "SELECT id, '2026-Q3', '50', '0', session_user, 'now' FROM kpi",
                   "UPDATE kpi_target SET target = '50'", "DELETE FROM kpi_target"),
    "kpi_value": ("INSERT INTO kpi_value (kpi_id, quarter, value, recorded_by, recorded_at) "
                  "SELECT id, '2026-Q2', '99', session_user, 'now' FROM kpi",
                  "UPDATE kpi_value SET value = '99'", "DELETE FROM kpi_value"),
    "kpi_assessment": ("INSERT INTO kpi_assessment (contract_id, rating, period_from, period_to, recorded_by, "
                       "recorded_at) SELECT id, 'good', '2026-04-01', '2026-09-30', session_user, 'now' FROM contract",
                       "UPDATE kpi_assessment SET rating = 'inadequate'", "DELETE FROM kpi_assessment"),
    "action": ("INSERT INTO action (project_id, text, owner, due, created_by, created_at) "
               "SELECT id, 'forged', 'nobody', '2030-01-01', session_user, 'now' FROM project WHERE key = 'camhs'",
               "UPDATE action SET done_on = '2026-10-01'", "DELETE FROM action"),
    "outbox": ("INSERT INTO outbox (project, kind, period, recipient, email, due_on, context, status, attempts, "
               "next_attempt_at, created_at) VALUES ('camhs', 'notice', 'forged', 'chair', 'mallory@evil.example', "
               "'2027-06-10', '{}', 'pending', 0, 'now', 'now')",
               "UPDATE outbox SET status = 'sent', email = 'mallory@evil.example'", "DELETE FROM outbox"),
    "delivery_attempt": ("INSERT INTO delivery_attempt (outbox_id, attempt, at, outcome, detail, transport) "
                         "SELECT id, 9, 'now', 'sent', 'forged', 'smtp' FROM outbox",
                         "UPDATE delivery_attempt SET outcome = 'sent'", "DELETE FROM delivery_attempt"),
    "workflow_version": ("INSERT INTO workflow_version (name, version, sha256, source, origin, installed_by, "
                         "installed_at) SELECT 'commissioning', MAX(version) + 1, "
                         "encode(sha256(convert_to('name = \"commissioning\"', 'UTF8')), 'hex'), "
                         "'name = \"commissioning\"', 'forged', session_user, 'now' FROM workflow_version "
                         "WHERE name = 'commissioning'",
                         "UPDATE workflow_version SET source = ''", "DELETE FROM workflow_version"),
}


def test_every_raw_write_on_every_covered_table_is_refused_or_named(team: Team) -> None:
    assert set(ATTEMPTS) == set(COVERED)  # a table added to the coverage gets its attempts here too
    mallory = team.engine("mallory")
    verdicts = {}
    try:
        for table in COVERED:
            for statement in ATTEMPTS[table]:
                before = team.rows()
                refused = attempt(mallory, statement)
                if refused is not None:
                    state, line = refused
                    assert state == "42501", (statement, line)  # cycle says "not permitted" (exit 6)
                    assert team.rows() == before, statement  # and nothing changed
                    verdicts[statement] = re.sub(r"^(\w+) #\d+ was inserted", r"\1 #N was inserted", line)
                    continue
                team.acts("root")  # it committed: then verify must name that table's row, and exit 1
                result = team.run("audit", "verify", expect=1)
                assert any(d["table"] == table for d in team.run.json("audit", "verify", expect=1)["records"][
                    "discrepancies"]), (statement, result.stderr)
                verdicts[statement] = "named by audit verify"
    finally:
        mallory.dispose()
    login = team.login("mallory")
    # In fact the database refuses every one of them; each refusal says why.
    assert verdicts == {
        ATTEMPTS["project"][0]: f"project #N was inserted without an audit entry of the same transaction, by {login}, "
                                f"holding the row as it now is: only cycle's commands change it, each with its entry",
        ATTEMPTS["project"][1]: f"project #1 was changed without an audit entry of the same transaction, by {login}, "
                                f"holding the row as it now is: only cycle's commands change it, each with its entry",
        ATTEMPTS["project"][2]: "permission denied for table project",
        **{ATTEMPTS[t][0]: f"{t} #N was inserted without an audit entry of the same transaction, by {login}, "
                           f"holding the row as it now is: only cycle's commands change it, each with its entry"
           for t in ("evidence", "gate_request", "milestone", "contract", "link", "person", "review_meeting",
                     "outbox", "delivery_attempt", "programme", "kpi", "kpi_target", "kpi_value", "action",
                     "contract_funder", "procurement", "procurement_step", "kpi_assessment")},
        # a split is replaced by deleting its rows (so DELETE is granted): the deleted row's entry is wanted
        ATTEMPTS["contract_funder"][2]: f"contract_funder #2 was deleted without an audit entry of the same "
                                        f"transaction, by {login}, holding the row as it now is: only cycle's "
                                        f"commands change it, each with its entry",
        # an assessment is only ever added, but DELETE is granted as for a split (revision 0023): its entry is wanted
        ATTEMPTS["kpi_assessment"][2]: f"kpi_assessment #1 was deleted without an audit entry of the same "
                                       f"transaction, by {login}, holding the row as it now is: only cycle's "
                                       f"commands change it, each with its entry",
        **{ATTEMPTS[t][1]: f"{t} #1 was changed without an audit entry of the same transaction, by {login}, "
                           f"holding the row as it now is: only cycle's commands change it, each with its entry"
           for t in ("kpi", "kpi_value", "action")},
        ATTEMPTS["waiver"][0]: f"only a governance lead may waive a criterion, and {login} is not one",
        ATTEMPTS["workflow_version"][0]: f"only a governance lead or an admin may install a workflow "
                                         f"({team.login('gina')}, {team.login('root')}), and {login} is not one",
        ATTEMPTS["decision"][0]: f"separation of duties: {login} is not an approver for {BODY}",
        ATTEMPTS["milestone"][1]: f"milestone #1 was changed without an audit entry of the same transaction, by "
                                  f"{login}, holding the row as it now is: only cycle's commands change it, each with "
                                  f"its entry",
        ATTEMPTS["contract"][1]: f"contract #1 was changed without an audit entry of the same transaction, by {login}, "
                                 f"holding the row as it now is: only cycle's commands change it, each with its entry",
        ATTEMPTS["person"][1]: f"only {team.login('chair')} or an admin ({team.login('root')}) may change "
                               f"{team.login('chair')}'s email, which decides where their reminders go",
        ATTEMPTS["person_role"][0]: f"only an admin may grant or remove a role (admins: {team.login('root')}), and "
                                    f"{login} is not one",
        ATTEMPTS["person_role"][2]: f"only an admin may grant or remove a role (admins: {team.login('root')}), and "
                                    f"{login} is not one",
        ATTEMPTS["deputy"][0]: f"only {team.login('chair')} or an admin may add or end a deputy for them, and "
                               f"{login} is neither",
        ATTEMPTS["deputy"][1]: "a deputy's window only ends early, from today on, with: cycle people deputy end",
        ATTEMPTS["outbox"][1]: f"outbox #1 was changed without an audit entry of the same transaction, by {login}, "
                               f"holding the row as it now is: only cycle's commands change it, each with its entry",
        **{s: f"permission denied for table {t}" for t, (_, u, d) in ATTEMPTS.items() for s in (u, d)
           if t in ("evidence", "decision", "waiver", "gate_request", "link", "review_meeting", "delivery_attempt",
                     "workflow_version", "programme", "kpi_target", "procurement", "procurement_step")
           or (s == u and t in ("contract_funder", "kpi_assessment"))
           or (s == d and t in ("milestone", "contract", "person", "outbox", "kpi", "kpi_value", "action", "deputy"))
           or (s == u and t == "person_role")},
    }
    team.acts("root")
    assert team.run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_nobody_grants_themselves_approver_or_admin(team: Team) -> None:
    mallory = team.engine("mallory")
    try:
        for role, body in (("approver", BODY), ("admin", "")):
            refused = attempt(mallory, "INSERT INTO person_role (person_id, role, body) SELECT id, "
                                       f"'{role}', '{body.replace(chr(39), chr(39) * 2)}' FROM person "
                                       "WHERE name = session_user")
            assert refused == ("42501", f"only an admin may grant or remove a role (admins: {team.login('root')}), "
                                        f"and {team.login('mallory')} is not one")
    finally:
        mallory.dispose()
    root = team.engine("root")  # nor may the only admin lose the role, as cycle itself refuses
    try:
        assert attempt(root, "DELETE FROM person_role WHERE role = 'admin'") == (
            "42501", "the only admin may not lose the role: without one anyone may grant roles; make someone else "
                     "admin first")
    finally:
        root.dispose()
    team.acts("mallory")
    assert {p["name"]: p["roles"] for p in team.run.json("people", "list")}[team.login("mallory")] == []


@pytest.mark.parametrize("who, column, value", [("mallory", "owner", "mallory"),
                                                 ("gina", "accountable_body", "Board (virtual)")])
def test_a_project_edited_without_an_entry_is_refused_at_commit(team: Team, who: str, column: str,
                                                                value: str) -> None:
    """The UPDATE itself goes through (the check is deferred); the COMMIT is refused, and nothing changes.
    (The accountable body is a governance lead's to change, revision 0009: so gina tries, and still needs
    an entry. Mallory is refused it at once.)"""
    before = team.rows()
    mallory = team.engine("mallory")
    try:
        assert attempt(mallory, "UPDATE project SET accountable_body = 'Board (virtual)' WHERE key = 'camhs'") == (
            "42501", f"only a governance lead may change the accountable body of camhs, and {team.login('mallory')} "
                     f"is not one")
    finally:
        mallory.dispose()
    editor = team.engine(who)
    try:
        with editor.connect() as conn:
            changed = conn.execute(text(f"UPDATE project SET {column} = :v WHERE key = 'camhs'"), {"v": value})
            assert changed.rowcount == 1
            with pytest.raises(exc.DBAPIError) as caught:
                conn.commit()
    finally:
        editor.dispose()
    assert str(caught.value.orig).splitlines()[0] == (
        f"project #1 was changed without an audit entry of the same transaction, by {team.login(who)}, "
        f"holding the row as it now is: only cycle's commands change it, each with its entry")
    assert team.rows() == before


def _image(conn: Any, table: str, key: str) -> dict[str, Any]:
    return dict(conn.execute(text(f"SELECT * FROM {table} WHERE key = :k"), {"k": key}).one()._mapping)


def test_an_entry_that_does_not_hold_the_row_as_committed_does_not_pass(team: Team) -> None:
    """An old entry's image (another transaction), or an image that is not the final row, leaves it refused."""
    from cycle.audit import chain

    first = next(e for e in team.run.json("audit", "log", "camhs") if e["action"] == "project.create")
    old = first["payload"]["rows"][0]["row"]  # camhs as created: at analyse, visit 1
    mallory = team.engine("mallory")
    try:
        assignments = ", ".join(f"{c} = :{c}" for c in old if c != "id")
        assert attempt(mallory, f"UPDATE project SET {assignments} WHERE id = :id", params=old) == (
            "42501", f"project #1 was changed without an audit entry of the same transaction, by "
                     f"{team.login('mallory')}, holding the row as it now is: only cycle's commands change it, each "
                     f"with its entry")
        with mallory.connect() as conn:  # an entry under her own name, but holding another owner than she sets
            conn.execute(text("UPDATE project SET owner = 'mallory' WHERE key = 'camhs'"))
            row = {**_image(conn, "project", "camhs"), "owner": "someone-else"}
            chain.append(conn, actor="x", action="project.set", project="camhs",
                         payload={"rows": [{"table": "project", "id": row["id"], "row": row}]})
            with pytest.raises(exc.DBAPIError) as caught:
                conn.commit()
    finally:
        mallory.dispose()
    assert str(caught.value.orig).startswith("project #1 was changed without an audit entry of the same transaction")


def test_a_hand_written_change_with_its_own_entry_commits_and_names_its_login(team: Team) -> None:
    """The one way past: an entry in the same transaction, under her own login, holding the row. It names her."""
    from cycle.audit import chain

    login = team.login("mallory")
    mallory = team.engine("mallory")
    try:
        with mallory.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))  # in turn with cycle's own writers
            conn.execute(text("UPDATE project SET owner = :me WHERE key = 'camhs'"), {"me": login})
            row = _image(conn, "project", "camhs")
            chain.append(conn, actor="anyone", action="project.set", project="camhs",
                         payload={"rows": [{"table": "project", "id": row["id"], "row": row}]})
    finally:
        mallory.dispose()
    team.acts("root")
    entry = team.run.json("audit", "log", "camhs")[-1]
    assert (entry["actor"], entry["action"], entry["payload"]["rows"][0]["row"]["owner"]) == (
        login, "project.set", login)
    assert team.run.json("project", "show", "camhs")["owner"] == login
    assert team.run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")
    assert json.loads(team.server.sql("SELECT payload FROM audit_entry ORDER BY seq DESC LIMIT 1",
                                      database=team.database)[0][0])["rows"][0]["row"] == row


# --- what an entry of her own still does not let her do (revision 0012, and audit verify) -------------

def test_her_own_entry_does_not_let_her_install_a_workflow_move_a_project_or_waive(team: Team) -> None:
    """An entry names her, but is no permission: what cycle keeps for a governance lead, the database does too."""
    from cycle.audit import chain as audit

    login = team.login("mallory")
    src = (Path(__file__).parents[1] / "workflows" / "commissioning.toml").read_text() + "# criteria taken out\n"
    tries = {
        "INSERT INTO workflow_version (name, version, sha256, source, origin, installed_by, installed_at) "
        "VALUES ('commissioning', 2, encode(sha256(convert_to(:src, 'UTF8')), 'hex'), :src, 'mine', session_user, "
        "'now') RETURNING id": ("workflow_version", f"only a governance lead or an admin may install a workflow "
                                                    f"({team.login('gina')}, {team.login('root')}), and {login} is "
                                                    f"not one"),
        "UPDATE project SET workflow_version = 2, version = version + 1 WHERE key = 'camhs' RETURNING id": (
            "project", f"only a governance lead may move camhs to another version of its workflow "
                       f"({team.login('gina')}), and {login} is not one"),
        "UPDATE project SET workflow = 'decommissioning', version = version + 1 WHERE key = 'camhs' RETURNING id": (
            "project", "a project's workflow does not change (camhs runs on commissioning); a governance lead moves it "
                       "to another version of it"),
        "INSERT INTO waiver (project_id, cycle, visit, gate, criterion, reason, waived_by, waived_at) SELECT id, "
        "cycle, visit, 'plan-do', 'eia', 'mine', session_user, 'now' FROM project WHERE key = 'camhs' RETURNING id": (
            "waiver", f"only a governance lead may waive a criterion, and {login} is not one"),
    }
    before = team.rows()
    mallory = team.engine("mallory")
    try:
        for statement, (table, refusal) in tries.items():
            with mallory.connect() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
                with pytest.raises(exc.DBAPIError) as caught:
                    ids = [r[0] for r in conn.execute(text(statement), {"src": src})]
                    rows = [{"table": table, "id": i, "row": dict(conn.execute(
                        text(f"SELECT * FROM {table} WHERE id = :i"), {"i": i}).one()._mapping)} for i in ids]
                    audit.append(conn, actor=login, action="by-hand", payload={"rows": rows})
                    conn.commit()
                conn.rollback()
            assert (caught.value.orig.sqlstate, str(caught.value.orig).splitlines()[0]) == ("42501", refusal)
    finally:
        mallory.dispose()
    assert team.rows() == before


def test_an_owner_who_hides_her_ownership_may_still_not_decide(team: Team) -> None:
    """Mallory, an approver, owned camhs-next in this stage; she hands it back and writes an entry that gives a
    stage, so that the log's latest move comes after her ownership. The row images still show her as its owner."""
    from cycle.audit import chain as audit

    login, pat = team.login("mallory"), team.login("pat")
    team.acts("root")
    team.run("people", "add", login, "--role", "approver", "--body", BODY)
    team.acts("pat")
    team.run("project", "set", "camhs-next", "--owner", login)
    team.acts("mallory")
    team.run("project", "set", "camhs-next", "--owner", pat)
    mallory = team.engine("mallory")
    try:
        with mallory.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
            audit.append(conn, actor=login, action="note", project="camhs-next", to_stage="analyse")
    finally:
        mallory.dispose()
    before = team.rows()
    result = team.run("decision", "record", "camhs-next", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
                      "--ref", "mine", expect=6)
    assert result.stderr == (f"Error: the database refused this (separation of duties: {login} owned the project "
                             f"during this stage and may not decide its gates); nothing was written.\n")
    assert team.rows() == before


def test_an_advance_she_writes_herself_is_named_by_verify_and_the_reports(team: Team) -> None:
    """The database takes it (the entry names her and holds the row); audit verify re-checks the gate."""
    from cycle.audit import chain as audit

    login = team.login("mallory")
    mallory = team.engine("mallory")
    try:
        with mallory.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
            conn.execute(text("UPDATE project SET stage = 'plan', visit = visit + 1, version = version + 1 "
                              "WHERE key = 'camhs-next'"))
            row = _image(conn, "project", "camhs-next")
            seq = audit.append(conn, actor=login, action="advance", project="camhs-next", from_stage="analyse",
                               to_stage="plan", payload={"gate": "analyse-plan", "criteria": [],
                                                         "rows": [{"table": "project", "id": row["id"], "row": row}]}
                               ).seq
    finally:
        mallory.dispose()
    team.acts("root")
    problem = (f"entry {seq} (advance of camhs-next, gate analyse-plan) passed the gate, but the record at that entry "
               f"does not meet it: needs-assessment (No 'needs-assessment' evidence recorded in cycle 1); "
               f"lead-commissioner (lead_commissioner is not set); commissioning-model (model is not set); decision "
               f"(No decision by {BODY} recorded for gate analyse-plan since the project entered analyse)")
    assert team.run("audit", "verify", expect=1).stderr.splitlines()[1:] == [f"  {problem}"]
    for report in (("report", "gate-audit"), ("report", "quarterly", "--quarter", "2026-Q3")):
        assert [d["problem"] for d in team.run.json(*report, expect=1)["chain"]["records"]["discrepancies"]] == [
            problem]


def test_a_governance_lead_corrects_a_decisions_date_and_nobody_else_can(team: Team) -> None:
    """Revision 0013: the application role may change a decision's date column only, only a governance lead's
    login may, and only with the audit entry that holds the row (`cycle decision correct`)."""
    run = team.run
    decision_id = team.server.sql("SELECT id FROM decision", database=team.database)[0][0]
    team.acts("mallory")
    refused = run("decision", "correct", str(decision_id), "--date", "2026-10-14", "--reason", "mine", expect=6)
    assert refused.stderr.startswith(f"Error: only a governance lead may correct the record ({team.login('gina')}), "
                                     f"and {team.login('mallory')} is not one")
    mallory = team.engine("mallory")
    assert attempt(mallory, f"UPDATE decision SET decided_on = '2026-10-14' WHERE id = {decision_id}") == (
        "42501", f"only a governance lead may correct a decision's date, and {team.login('mallory')} is not one")
    gina = team.engine("gina")
    assert attempt(gina, f"UPDATE decision SET outcome = 'stop' WHERE id = {decision_id}")[1].startswith(
        "permission denied for table decision")
    said = attempt(gina, f"UPDATE decision SET decided_on = '2026-10-14' WHERE id = {decision_id}")
    assert said is not None and "without an audit entry of the same transaction" in said[1]
    mallory.dispose()
    gina.dispose()
    team.acts("gina")
    run("decision", "correct", str(decision_id), "--date", "2026-10-14", "--reason", "the minutes' date")
    assert team.server.sql(f"SELECT decided_on FROM decision WHERE id = {decision_id}",
                           database=team.database) == [("2026-10-14",)]
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_a_governance_leads_own_login_corrects_a_notice_and_a_milestone(team: Team) -> None:
    """`contract correct` and `milestone correct` as a plain application-role login (not the owner): the
    correction commits with its entry and verifies; Mallory's raw correction of the same column is named."""
    run = team.run
    team.acts("pat")
    run("contract", "notice", "camhs", "--served-on", "2026-09-05", "--ref", "NL-114")
    run("milestone", "done", "camhs", "1", "--on", "2026-11-02")
    team.acts("gina")
    run("contract", "correct", "camhs", "--notice-served-on", "2026-09-15", "--reason", "typo: the 15th")
    run("milestone", "correct", "camhs", "1", "--done-on", "2026-11-01", "--reason", "the card says the 1st")
    assert team.server.sql("SELECT notice_served_on FROM contract", database=team.database) == [("2026-09-15",)]
    assert team.server.sql("SELECT done_on FROM milestone", database=team.database) == [("2026-11-01",)]
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")
    team.acts("mallory")
    refused = run("contract", "correct", "camhs", "--notice-served-on", "2026-09-25", "--reason", "mine", expect=6)
    assert refused.stderr.startswith("Error: only a governance lead may correct the record")
    mallory = team.engine("mallory")
    said = attempt(mallory, "UPDATE contract SET notice_served_on = '2026-09-25'")
    mallory.dispose()
    assert said is not None, "a raw edit of a served date committed"
    assert team.server.sql("SELECT notice_served_on FROM contract", database=team.database) == [("2026-09-15",)]


# --- deputies (revision 0025) -------------------------------------------------------------------------

def _day(offset: int) -> str:
    return (london_today() + timedelta(days=offset)).isoformat()


def test_on_postgresql_a_deputys_hand_written_decision_is_accepted_only_within_the_window(team: Team) -> None:
    """Mallory, a team member with her own login, is chair's deputy: the database takes her INSERT of a decision
    (with its entry) on a day within her window, and refuses it on any other."""
    from cycle.audit import chain

    chair, mallory = team.login("chair"), team.login("mallory")
    team.acts("chair")
    team.run("people", "deputy", "add", chair, "--deputy", mallory, "--body", BODY, "--from", _day(1), "--to", _day(5))
    forged = ("INSERT INTO decision (project_id, cycle, visit, gate, outcome, body, ref, recorded_by, recorded_at) "
              "SELECT id, cycle, visit, 'plan-do', 'go', :body, 'by hand', session_user, 'now' FROM project "
              "WHERE key = 'camhs' RETURNING id")
    engine = team.engine("mallory")
    try:
        before = team.rows()
        assert attempt(engine, forged, params={"body": BODY}) == (
            "42501", f"separation of duties: {mallory} may decide for {BODY} only as a deputy ({_day(1)} to {_day(5)} "
                     f"for {chair}), not on {london_today()}")
        assert team.rows() == before
        team.run("people", "deputy", "end", chair, "--deputy", mallory, "--body", BODY)  # cancelled before it starts
        team.run("people", "deputy", "add", chair, "--deputy", mallory, "--body", BODY, "--from", _day(0), "--to",
                 _day(0))
        with engine.begin() as conn:  # today, with her own entry holding the row: the database takes it
            conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
            (found,) = [r[0] for r in conn.execute(text(forged), {"body": BODY})]
            row = dict(conn.execute(text("SELECT * FROM decision WHERE id = :i"), {"i": found}).one()._mapping)
            chain.append(conn, actor=mallory, action="by-hand", project="camhs",
                         payload={"rows": [{"table": "decision", "id": found, "row": row}]})
    finally:
        engine.dispose()
    team.acts("root")
    assert team.run.json("project", "show", "camhs")["decisions"][-1]["recorded_by"] == mallory


def test_on_postgresql_a_deputy_window_past_the_longest_or_with_a_day_written_oddly_is_refused(team: Team) -> None:
    """Revision 0026: the chair's own INSERT of a window is refused past the CLI's longest window, or with a day
    written in a form the CLI never writes (compared as dates, not text); a good one, with its entry, goes in."""
    from cycle.audit import chain
    from cycle.governance.deputies import LONGEST

    chair, mallory = team.login("chair"), team.login("mallory")
    insert = ("INSERT INTO deputy (approver, deputy, body, starts_on, ends_on, added_by, added_at) VALUES "
              "(session_user, :deputy, :body, :first, :last, session_user, 'now') RETURNING id")
    engine = team.engine("chair")
    try:
        before = team.rows()
        first = _day(100)  # clear of root's window for chair, from day 30 to 35
        no_day = f"{int(first[:4]) + 1}-02-30"  # after the first day, as text too
        for last, said in [
                (_day(100 + LONGEST), f"a deputy's window is at most {LONGEST} days ({first} to {_day(100 + LONGEST)} "
                                      f"is {LONGEST + 1}); for longer, an admin grants the approver role"),
                (f"{_day(103)}T00:00", f"a deputy's window runs from one day to another, each written YYYY-MM-DD, "
                                       f"not '{first}' to '{_day(103)}T00:00'"),
                (no_day, f"a deputy's window runs from one day to another, each written YYYY-MM-DD, not "
                         f"'{first}' to '{no_day}'")]:
            assert attempt(engine, insert, params={"deputy": mallory, "body": BODY, "first": first,
                                                   "last": last}) == ("42501", said), last
        assert team.rows() == before
        with engine.begin() as conn:  # the longest window, with the chair's own entry holding the row: it goes in
            conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
            (found,) = [r[0] for r in conn.execute(text(insert), {"deputy": mallory, "body": BODY, "first": first,
                                                                  "last": _day(100 + LONGEST - 1)})]
            row = dict(conn.execute(text("SELECT * FROM deputy WHERE id = :i"), {"i": found}).one()._mapping)
            chain.append(conn, actor=chair, action="by-hand", payload={"rows": [{"table": "deputy", "id": found,
                                                                                  "row": row}]})
    finally:
        engine.dispose()
    team.acts("root")
    assert [(w["deputy"], w["from"], w["to"]) for w in team.run.json("people", "deputy", "list")][-1] == (
        mallory, first, _day(100 + LONGEST - 1))
    assert team.run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")
