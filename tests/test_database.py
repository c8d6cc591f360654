"""What the database does to a person: busy is exit 4, refused is exit 6, failed is exit 5, never a traceback.

And on PostgreSQL, the roles `cycle db roles-sql` sets up: as the application role, the audit log
can be read and added to, and nothing else (UPDATE, DELETE, TRUNCATE, DISABLE TRIGGER all refused).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
from pathlib import Path

import psycopg.errors
import pytest
from sqlalchemy import create_engine, exc, text
from sqlalchemy.pool import NullPool

import cycle.db.store
from cycle.db.sql import database_error
from cycle.db.store import WRITE_LOCK
from cycle.errors import DatabaseBusy, DatabaseFailed, DatabaseRefused

from . import pgcluster
from .conftest import BODY, Cli, Database, PgServer

# --- what each database error becomes ----------------------------------------------------------------


@pytest.mark.parametrize("error, kind", [
    (psycopg.errors.SerializationFailure("could not serialize access due to concurrent update"), DatabaseBusy),
    (psycopg.errors.DeadlockDetected("deadlock detected"), DatabaseBusy),
    (psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"), DatabaseBusy),
    (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), DatabaseBusy),
    (psycopg.errors.InsufficientPrivilege("permission denied for table audit_entry"), DatabaseRefused),
    (psycopg.errors.UniqueViolation("duplicate key value violates unique constraint"), DatabaseFailed),
    (psycopg.OperationalError("connection failed: Connection refused\n\tIs the server running?"), DatabaseFailed),
    (sqlite3.OperationalError("database is locked"), DatabaseBusy),
    (sqlite3.OperationalError("disk I/O error"), DatabaseFailed),
])
@pytest.mark.parametrize("wrap", [True, False], ids=["from SQLAlchemy", "from the driver (plain SQL)"])
def test_database_errors_become_cycle_errors(error: Exception, kind: type, wrap: bool) -> None:
    found = database_error(exc.OperationalError("SELECT 1", {}, error) if wrap else error)
    assert type(found) is kind
    assert found.reason == str(error).splitlines()[0]
    assert found.exit_code == {DatabaseBusy: 4, DatabaseRefused: 6, DatabaseFailed: 5}[kind]


# --- a writer that cannot get the lock -----------------------------------------------------------------

@pytest.mark.parametrize("command", [("evidence", "add", "camhs", "eia", "--ref", "EIA v1"),
                                     ("project", "advance", "camhs")], ids=["orm", "plain-sql"])
def test_a_writer_kept_waiting_too_long_gets_exit_4_and_writes_nothing(ready: Cli, db: Database, command: tuple[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cycle.db.store, "BUSY_TIMEOUT_MS", 300)
    before = db.dump()
    if db.dialect == "sqlite":
        holder = sqlite3.connect(db.home / "cycle.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        release = holder.close
        reason = "database is locked"
    else:
        conn = db.engine.connect()
        conn.execute(text(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"))
        release = conn.close
        reason = "canceling statement due to lock timeout"
    try:
        result = ready(*command, expect=4)
    finally:
        release()
    assert result.stderr == f"Error: the database is busy ({reason}); nothing was written. Try again.\n"
    assert db.dump() == before
    ready("evidence", "add", "camhs", "eia", "--ref", "EIA v1")
    assert ready.json("project", "show", "camhs")["version"] == 2


@pytest.mark.postgresql_only
def test_a_server_that_cannot_be_reached_is_exit_5(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYCLE_DATABASE_URL", "postgresql+psycopg://alice@127.0.0.1:1/cycle")
    result = run("project", "list", expect=5)
    assert result.stderr.startswith("Error: database error (connection failed: ")
    assert result.stderr.endswith("; nothing was written.\n") and "Traceback" not in result.stderr


# --- the roles an administrator sets up ------------------------------------------------------------------

_n = itertools.count(1)


def _psql(server: PgServer, script: str, tmp_path: Path) -> None:
    bindir = pgcluster.bindir()
    assert bindir is not None
    path = tmp_path / "roles.sql"
    path.write_text(script)
    url = server.admin_url
    done = subprocess.run([str(bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", url.host or "127.0.0.1",
                           "-p", str(url.port or 5432), "-U", url.username or "postgres", "-d", "postgres",
                           "-f", str(path)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PGPASSWORD": url.password or ""})
    assert done.returncode == 0, done.stderr


@pytest.mark.postgresql_only
def test_as_the_application_role_the_audit_log_is_append_only(run: Cli, pg_server: PgServer, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    n = f"{os.getpid()}_{next(_n)}"
    owner, app, person, approver, database = f"own_{n}", f"app_{n}", f"pat_{n}", f"chair_{n}", f"cycle_roles_{n}"
    script = run("db", "roles-sql", "--database", database, "--owner", owner, "--app", app, "--person", person,
                 "--person", approver).stdout
    assert f"CREATE ROLE {owner} LOGIN;" in script and f"CREATE ROLE {app} NOLOGIN;" in script
    _psql(pg_server, script, tmp_path)

    def as_login(login: str) -> None:
        monkeypatch.setenv("CYCLE_DATABASE_URL", pg_server.url(login, database))
        monkeypatch.setenv("CYCLE_USER", "someone-else")  # ignored on PostgreSQL: the login is the actor

    try:
        as_login(person)  # people cannot create or upgrade the schema
        refused = run("init", expect=6)
        assert refused.stderr.startswith("Error: the database needs its schema created or upgraded to revision ")
        assert "Run `cycle init` as the owner role (see: cycle db roles-sql)" in refused.stderr

        as_login(owner)
        assert run("init").stdout.startswith("Created cycle database at ")

        as_login(person)  # everything a person does day to day works under the application role
        assert run("init").stdout.startswith("Already set up: ")
        run("project", "new", "camhs", "--title", "CAMHS", "--lead-commissioner", "CCGs", "--model", "joint",
            "--accountable-body", BODY, "--owner", person)
        run("people", "add", person, "--email", "pat@council.example", "--role", "governance-lead")
        run("people", "add", approver, "--email", "chair@council.example", "--role", "approver", "--body", BODY)
        run("project", "set", "camhs", "--sro", approver)  # a registered person, now that people are
        run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026")
        run("gate", "request", "camhs")
        run("milestone", "add", "camhs", "Specification agreed", "--due", "2027-01-31")
        run("milestone", "done", "camhs", "1", "--on", "2026-11-01")
        run("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
            "--notice", "6 months")
        run("contract", "notice", "camhs", "--served-on", "2026-11-01", "--ref", "NL-1")
        run("review", "record", "camhs", "--quarter", "2026-Q2", "--held-on", "2026-09-20")
        run("remind", "run")
        run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
            "--ref", "m", expect=6)  # the owner (and the one who asked) may not decide
        as_login(approver)
        run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m")
        run("project", "advance", "camhs")
        log = run.json("audit", "log")
        assert {e["actor"] for e in log} == {owner, person, approver}
        assert run("audit", "verify").stdout.startswith(f"Audit chain verified: {len(log)} entries")

        engine = create_engine(pg_server.url(person, database), poolclass=NullPool)
        try:
            for statement, refusal in [
                ("UPDATE audit_entry SET actor = 'mallory'", "permission denied for table audit_entry"),
                ("DELETE FROM audit_entry", "permission denied for table audit_entry"),
                ("TRUNCATE audit_entry", "permission denied for table audit_entry"),
                ("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_change", "must be owner of table audit_entry"),
                ("ALTER TABLE audit_entry DISABLE TRIGGER ALL", "must be owner of table audit_entry"),
                ("DROP TRIGGER audit_entry_no_truncate ON audit_entry", "must be owner of relation audit_entry"),
                ("UPDATE decision SET outcome = 'stop'", "permission denied for table decision"),
                ("DELETE FROM evidence", "permission denied for table evidence"),
            ]:
                with engine.connect() as conn, pytest.raises(exc.DBAPIError) as caught:
                    conn.execute(text(statement))
                assert str(caught.value.orig).splitlines()[0] == refusal, statement
        finally:
            engine.dispose()
        assert run("audit", "verify").stdout.startswith(f"Audit chain verified: {len(log)} entries")
    finally:
        pg_server.drop_database(database)
        for role in (person, approver, app, owner):
            pg_server.sql(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.parametrize("url, error", [
    ("nonsense", "Error: CYCLE_DATABASE_URL is not a database URL; write e.g. "
                 "postgresql+psycopg://alice@db.example/cycle or sqlite:////path/to/cycle.db\n"),
    ("mysql://x@y/z", "Error: CYCLE_DATABASE_URL names a database cycle cannot talk to (No module named 'MySQLdb'); "
                      "use postgresql+psycopg://... or sqlite:///...\n"),
])
def test_a_url_cycle_cannot_use_is_bad_input(run: Cli, monkeypatch: pytest.MonkeyPatch, url: str, error: str) -> None:
    monkeypatch.setenv("CYCLE_DATABASE_URL", url)
    assert run("project", "list", expect=2).stderr == error


def test_a_sqlite_path_that_is_not_a_file_is_bad_input(run: Cli, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    """A folder (a path typed without its file name) or a device is refused before SQLite opens it."""
    monkeypatch.setenv("CYCLE_DATABASE_URL", "sqlite:////dev/null")
    assert run("init", expect=2).stderr == (
        "Error: CYCLE_DATABASE_URL 'sqlite:////dev/null' names /dev/null, which is not a regular file (a FIFO, a "
        "socket or a device); nothing was done. Name a database file, e.g. "
        "CYCLE_DATABASE_URL=sqlite:////path/to/cycle.db\n")
    folder = tmp_path / "srv"
    folder.mkdir()
    monkeypatch.setenv("CYCLE_DATABASE_URL", f"sqlite:///{folder}")
    assert run("project", "list", expect=2).stderr == (
        f"Error: CYCLE_DATABASE_URL 'sqlite:///{folder}' names {folder}, which is a folder; nothing was done. Name a "
        f"database file, e.g. CYCLE_DATABASE_URL=sqlite:///{folder}/cycle.db\n")
    assert list(folder.iterdir()) == []
    # the default, $CYCLE_HOME/cycle.db, made a folder by mistake
    monkeypatch.delenv("CYCLE_DATABASE_URL")
    home = tmp_path / "home"
    monkeypatch.setenv("CYCLE_HOME", str(home))
    (home / "cycle.db").mkdir(parents=True)
    assert run("init", expect=2).stderr == (
        f"Error: the database {home / 'cycle.db'} is a folder; nothing was done. Move it aside, or name a database "
        f"file with CYCLE_DATABASE_URL, e.g. CYCLE_DATABASE_URL=sqlite:////path/to/cycle.db\n")
