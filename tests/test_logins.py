"""One person, one login: names are compared as canonical logins, however they are typed.

The testers' route round separation of duties: `project set camhs --owner Chair`, then chair (who
is the Board's approver) decides camhs's gate, because "Chair" is not "chair". And CYCLE_USER
took anything as an actor: a name with a space, markup, a right-to-left override.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from .conftest import BODY, ON_POSTGRES, Cli, Database

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "alice\u202egpj.exe" shows as "aliceexe.jpg"


@pytest.fixture
def board(ready: Cli) -> Cli:
    """camhs (owned by alice) and its body's approvers, chair and vice, on record."""
    ready("people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "manager")
    for name in ("chair", "vice"):
        ready("people", "add", name, "--email", f"{name}@council.gov.uk", "--role", "approver", "--body", BODY)
    return ready


def _decide(run: Cli, user: str, expect: int = 0) -> str:
    result = run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
                 "--ref", "minutes 5", user=user, expect=expect)
    return result.stdout + result.stderr


@pytest.mark.parametrize("spelling", ["Chair", "CHAIR", "ｃｈａｉｒ"])  # the last in full-width letters
def test_an_owner_spelt_another_way_is_still_the_owner(board: Cli, spelling: str) -> None:
    run = board
    run("project", "set", "camhs", "--owner", spelling)
    assert run.json("project", "show", "camhs")["owner"] == "chair"
    err = _decide(run, "chair", expect=6)
    assert err == ("Error: separation of duties: chair owns camhs and may not decide its gates; another approver "
                   "for Children's Trust Board must record it. The refused attempt is recorded in the audit log.\n")
    assert run.json("project", "show", "camhs")["decisions"] == []
    _decide(run, "vice")
    assert [d["recorded_by"] for d in run.json("project", "show", "camhs")["decisions"]] == ["vice"]


def test_whoever_acts_under_another_spelling_is_the_same_person(board: Cli, db: Database) -> None:
    """On SQLite CYCLE_USER=Chair, on PostgreSQL a login "Chair" (made before cycle made logins canonical)."""
    run = board
    run("gate", "request", "camhs", user="Chair")
    err = _decide(run, "chair", expect=6)
    assert err.startswith("Error: separation of duties: chair asked for gate analyse-plan and may not decide it")
    run("project", "set", "camhs", "--owner", "vice")
    err = _decide(run, "VICE", expect=6)
    who = "VICE" if ON_POSTGRES else "vice"  # the login as the server knows it; CYCLE_USER as its login
    assert err.startswith(f"Error: separation of duties: {who} owns camhs and may not decide its gates")
    assert [e["actor"] for e in run.json("audit", "log", "camhs")][-4:] == [
        "Chair" if ON_POSTGRES else "chair", "chair", "alice", who]
    assert run.json("project", "show", "camhs")["decisions"] == []


def test_people_are_registered_under_their_login_in_any_spelling(run: Cli) -> None:
    run("init")
    run("people", "add", "Chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body", BODY)
    assert run("people", "add", "CHAIR", "--role", "governance-lead").stdout.startswith(
        f"chair <chair@council.gov.uk>: approver for {BODY}, governance-lead\n")
    assert run("people", "add", "ｃｈａｉｒ", "--role", "governance-lead", expect=2).stderr == (
        "Error: chair already has that; see: cycle people list\n")
    assert [p["name"] for p in run.json("people", "list")] == ["chair"]


def test_once_anyone_is_registered_a_project_names_only_registered_people(ready: Cli, db: Database) -> None:
    run = ready
    run("project", "set", "camhs", "--sro", "dr-jones")  # nobody registered yet: as before
    run("people", "add", "alice", "--email", "alice@council.gov.uk")
    before = db.dump()
    for flag in ("--owner", "--sro", "--lead", "--governance-lead"):
        err = run("project", "set", "camhs", flag, "bob", expect=2).stderr
        assert err == (f"Error: {flag} bob is not a registered person (see: cycle people list); register them "
                       f"first with: cycle people add bob --email ADDRESS\n")
    err = run("project", "new", "other", "--title", "Other", "--owner", "аlice", expect=2).stderr  # a Cyrillic а
    assert err == ("Error: --owner 'аlice' mixes the Cyrillic and Latin alphabets, as a look-alike of another name "
                   "would; a login is in one (letters of one alphabet, digits, . _ @ -)\n")
    err = run("people", "add", "аlice", "--email", "alice@evil.example", expect=2).stderr
    assert err == ("Error: name 'аlice' mixes the Cyrillic and Latin alphabets, as a look-alike of another name "
                   "would; a login is in one (letters of one alphabet, digits, . _ @ -)\n")
    err = run("project", "set", "camhs", "--owner", "Alice Smith", expect=2).stderr
    assert err == ("Error: --owner 'Alice Smith' is not a login name (letters of one alphabet, digits, . _ @ -), "
                   "e.g. alice or j.smith\n")
    assert db.dump() == before
    run("people", "add", "bob", "--email", "bob@council.gov.uk")
    run("project", "set", "camhs", "--owner", "Bob", "--governance-lead", "ALICE")
    shown = run.json("project", "show", "camhs")
    assert (shown["owner"], shown["governance_lead"]) == ("bob", "alice")


@pytest.mark.sqlite_only  # on PostgreSQL the login is the actor and CYCLE_USER is not read
@pytest.mark.parametrize("name", ["Alice Smith", "<script>", f"alice{RLO}gpj.exe", "alice\u200b", "_x", "аlice"])
def test_cycle_user_must_be_a_login_name(ready: Cli, db: Database, monkeypatch: pytest.MonkeyPatch,
                                         name: str) -> None:
    before = db.dump()
    monkeypatch.setenv("CYCLE_USER", name)
    for args in (["evidence", "add", "camhs", "eia", "--ref", "EIA v1"],
                 ["people", "add", "mallory", "--email", "m@council.gov.uk", "--role", "admin"]):
        err = ready(*args, expect=2).stderr
        assert err.count("\n") == 1 and err.endswith(
            " is not a login name (letters of one alphabet, digits, . _ @ -); nothing was done. "
            "Set it to yours, e.g.: export CYCLE_USER=alice\n"), err
        assert err.startswith(f"Error: CYCLE_USER {name!r} is not a login name")
        assert RLO not in err
    assert db.dump() == before


@pytest.mark.sqlite_only
def test_a_bad_cycle_user_creates_no_database(run: Cli, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYCLE_USER", "<script>")
    assert run("init", expect=2).stderr.startswith("Error: CYCLE_USER '<script>' is not a login name")
    assert not (home / "cycle.db").exists()


@pytest.mark.sqlite_only
def test_cycle_user_is_recorded_as_its_login(ready: Cli) -> None:
    decomposed = unicodedata.normalize("NFD", "Siân")
    ready("evidence", "add", "camhs", "eia", "--ref", "EIA v1", user=decomposed)
    ready("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA", user="ｓｉâｎ")
    assert [e["actor"] for e in ready.json("audit", "log")][-2:] == ["siân", "siân"]


def test_roles_sql_creates_canonical_logins(run: Cli) -> None:
    out = run("db", "roles-sql", "--person", "Alice", "--person", "alice", "--person", "SIÂN").stdout
    assert 'CREATE ROLE "alice" LOGIN IN ROLE cycle_app;\nCREATE ROLE "siân" LOGIN IN ROLE cycle_app;\n' in out
    assert "Alice" not in out
    for bad in ("Alice Smith", "<script>", f"alice{RLO}gpj.exe"):
        err = run("db", "roles-sql", "--person", bad, expect=2).stderr
        assert err == (f"Error: login {bad!r} must be a person's name as cycle knows it "
                       f"(letters of one alphabet, digits, . _ @ -)\n")


# --- a database an older cycle wrote, with names in other spellings --------------------------------

SPELLINGS = Path(__file__).with_name("data") / "spellings-0008.sql"


def _restore_old_database(db: Database) -> None:
    """tests/data/spellings-0008.sql at revision 0008, restored as pg_restore --disable-triggers would."""
    from cycle.db import schema
    from cycle.db.store import open_store

    store = open_store()
    schema.upgrade(store, target="0008")
    store.dispose()
    with db.engine.begin() as conn:
        raw = conn.execution_options(no_parameters=True)
        if db.dialect == "postgresql":  # its entries are under other logins than the admin's
            raw.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for line in SPELLINGS.read_text().splitlines():
            if line.startswith("INSERT "):
                raw.exec_driver_sql(line)
        if db.dialect == "postgresql":
            for table in ("person", "person_role", "project", "evidence", "gate_request"):
                raw.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"(SELECT MAX(id) + 1 FROM {table}), false)")


def test_names_an_older_cycle_stored_in_other_spellings_keep_working(run: Cli, db: Database) -> None:
    _restore_old_database(db)
    history = db.rows("SELECT seq, actor, payload FROM audit_entry ORDER BY seq")
    run("init", user="root")
    people = [(p["name"], [r["role"] for r in p["roles"]]) for p in run.json("people", "list")]
    assert people == [("Alice", ["manager", "approver"]), ("Chair", ["approver"]), ("Gill", ["governance-lead"]),
                      ("Vice", ["approver"]), ("root", ["admin"])]  # as written: history is not rewritten

    assert _decide(run, "alice", expect=6).startswith("Error: separation of duties: alice owns camhs")
    assert _decide(run, "vice", expect=6).startswith(
        "Error: separation of duties: vice asked for gate analyse-plan and may not decide it")
    insert = ("INSERT INTO decision (project_id, cycle, visit, gate, outcome, body, ref, recorded_by, recorded_at) "
              "VALUES (1, 1, 1, 'analyse-plan', 'go', :body, 'by hand', 'alice', '2026-11-22T10:00:00Z')")
    assert db.refused(insert, {"body": BODY}, user="alice") == (
        "separation of duties: alice owns the project and may not decide its gates" if ON_POSTGRES
        else "separation of duties: the project's owner may not decide its gates")
    _decide(run, "chair")
    run("project", "advance", "camhs")
    assert run.json("gate", "check", "camhs")["from"] == "plan"
    decision = run.json("audit", "log", "camhs")[-2]["payload"]
    assert decision["authority"] == f"approver for {BODY}"

    run("people", "add", "gill", "--role", "approver", "--body", BODY, user="root")
    assert [p["name"] for p in run.json("people", "list")] == ["Alice", "Chair", "Gill", "Vice", "root"]
    granted = run.json("audit", "log")[-1]
    assert (granted["action"], granted["payload"]["name"]) == ("person.add", "Gill")
    assert run("project", "set", "camhs", "--owner", "gill").stdout.startswith("Updated camhs")
    assert db.rows("SELECT seq, actor, payload FROM audit_entry WHERE seq <= 10 ORDER BY seq") == history
    assert run("audit", "verify").stdout.startswith("Audit chain verified: ")
