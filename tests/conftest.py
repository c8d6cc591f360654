"""Every test gets its own CYCLE_HOME and its own empty database, and a known actor.

The suite runs on SQLite (a real file under tmp_path) by default. With CYCLE_TEST_DB=postgresql it
runs again on a real PostgreSQL server: a throwaway cluster this session starts and stops itself
(tests/pgcluster.py), or the server whose admin URL is in CYCLE_TEST_PG_URL. Each test then gets a
fresh database, and each person a test acts as (CYCLE_USER) is a login role of that name, because
on PostgreSQL the actor is the database's session_user. Tests that look at the database directly
use the `db` fixture, which speaks whichever dialect the test runs on.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

from cycle.cli import cli

# No property test fails on time: a shared, loaded machine (or CI's) makes Hypothesis's 200 ms deadline a flake,
# and timings belong in bench/, not in pass/fail tests.
settings.register_profile("cycle", deadline=None)
settings.load_profile("cycle")

CAMHS = ["project", "new", "camhs", "--title", "CAMHS Tiers 2 and 3", "--workflow", "commissioning",
         "--lead-commissioner", "CCGs", "--model", "integrated", "--accountable-body", "Children's Trust Board",
         "--owner", "alice"]
BODY = "Children's Trust Board"
DIALECT = os.environ.get("CYCLE_TEST_DB", "sqlite")
ON_POSTGRES = DIALECT == "postgresql"
if DIALECT not in ("sqlite", "postgresql"):
    raise RuntimeError(f"CYCLE_TEST_DB={DIALECT!r}: use sqlite (the default) or postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: about the SQLite file itself; skipped on PostgreSQL")
    config.addinivalue_line("markers", "postgresql_only: needs a PostgreSQL server; runs in the PostgreSQL run")
    config.addinivalue_line("markers", "load: a load test (prints figures)")


def pytest_report_header(config: pytest.Config) -> str:
    return f"cycle test database: {DIALECT}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if ON_POSTGRES and item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason="about SQLite itself (this run is on PostgreSQL)"))
        if not ON_POSTGRES and item.get_closest_marker("postgresql_only"):
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: runs with CYCLE_TEST_DB=postgresql "
                                                    "(make test does both)"))


# --- PostgreSQL: one server per session, one database per test ----------------------------------

class PgServer:
    """A PostgreSQL server the tests may do anything to: creates databases and login roles."""

    def __init__(self, admin_url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.admin_url = make_url(admin_url)
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        self.roles: set[str] = set()
        self._n = itertools.count(1)

    def sql(self, statement: str, database: str | None = None) -> list[tuple[Any, ...]]:
        from sqlalchemy import create_engine, text

        engine = self.admin if database is None else create_engine(
            self.admin_url.set(database=database), isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        try:
            with engine.connect() as conn:
                result = conn.execute(text(statement))
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            if database is not None:
                engine.dispose()

    def role(self, name: str, *, superuser: bool = True) -> str:
        """A login role (a superuser unless asked otherwise), created once per server."""
        if name not in self.roles:
            quoted = '"' + name.replace('"', '""') + '"'
            if not self.sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{name}'"):
                self.sql(f"CREATE ROLE {quoted} LOGIN {'SUPERUSER' if superuser else ''}")
            self.roles.add(name)
        return name

    def create_database(self) -> str:
        name = f"cycle_t{os.getpid()}_{next(self._n)}"
        self.sql(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def url(self, user: str, database: str) -> str:
        return self.admin_url.set(username=user, password=None, database=database).render_as_string(
            hide_password=False)


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The PostgreSQL server: CYCLE_TEST_PG_URL's, else a throwaway cluster for this session."""
    given = os.environ.get("CYCLE_TEST_PG_URL")
    if given:
        server = PgServer(given)
        yield server
        server.admin.dispose()
        return
    from . import pgcluster

    try:
        cluster = pgcluster.start()
    except RuntimeError as exc:
        pytest.exit(f"cannot start a PostgreSQL cluster for the tests: {exc}", returncode=3)
    server = PgServer(cluster.url())
    try:
        yield server
    finally:
        server.admin.dispose()
        cluster.stop()


class Database:
    """The test's database, whichever dialect: URLs per person, and raw SQL for looking and tampering."""

    def __init__(self, dialect: str, home: Path, server: PgServer | None = None):
        self.dialect = dialect
        self.home = home
        self.server = server
        self.name = server.create_database() if server else None
        self._engine: Any = None
        self._logins: dict[str, Any] = {}

    def url(self, user: str | None = None) -> str:
        """The URL the product uses; on PostgreSQL it logs in as `user` (default alice)."""
        if self.server is None:
            return f"sqlite:///{self.home / 'cycle.db'}"
        assert self.name is not None
        return self.server.url(self.server.role(user or "alice"), self.name)

    @property
    def engine(self) -> Any:
        """A plain engine outside the product: as the server's admin on PostgreSQL, on the file on SQLite."""
        if self._engine is None:
            from sqlalchemy import create_engine

            if self.server is None:
                self.home.mkdir(parents=True, exist_ok=True)
                self._engine = create_engine(self.url(), poolclass=_null_pool())
            else:
                self._engine = create_engine(self.server.admin_url.set(database=self.name), poolclass=_null_pool())
        return self._engine

    def login(self, user: str) -> Any:
        """An engine logged in as `user` (PostgreSQL); on SQLite, the plain engine (the file has no logins)."""
        if self.server is None:
            return self.engine
        from sqlalchemy import create_engine

        if user not in self._logins:
            self._logins[user] = create_engine(self.url(user), poolclass=_null_pool())
        return self._logins[user]

    def rows(self, statement: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(statement), params or {})]

    def dicts(self, statement: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(statement), params or {})]

    def execute(self, *statements: str, params: dict[str, Any] | None = None, user: str | None = None) -> None:
        """Run statements in one transaction and commit (as `user`'s login on PostgreSQL, else as the admin)."""
        from sqlalchemy import text

        with (self.login(user) if user else self.engine).begin() as conn:
            for statement in statements:
                conn.execute(text(statement), params or {})

    def tamper(self, *statements: str, params: dict[str, Any] | None = None) -> None:
        """Change rows as the database's owner could, in one transaction: on PostgreSQL with the database's
        own checks (triggers) switched off for it first, as a superuser may, so that only `audit verify`
        can tell. The application role can do none of this (tests/test_records.py)."""
        from sqlalchemy import text

        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            kept = []  # on SQLite, the file's own rule on decisions (revision 0013), put back as it was
            if self.dialect == "sqlite":
                kept = [r[0] for r in conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                                                        "AND name = 'decision_only_its_date_changes'"))]
                if kept:
                    conn.execute(text("DROP TRIGGER decision_only_its_date_changes"))
            for statement in statements:
                conn.execute(text(statement), params or {})
            for statement in kept:
                conn.execute(text(statement))

    def insert_on_record(self, table: str, statement: str, params: dict[str, Any] | None = None,
                         user: str = "alice") -> list[int]:
        """A hand-written INSERT (as `user`'s login on PostgreSQL) that puts itself on the record, the only way
        such a statement can commit there: in the same transaction, an audit entry under that login holding
        the images of the rows it wrote (cycle.images). The ids of the new rows."""
        from sqlalchemy import text

        from cycle.audit import chain

        with (self.login(user) if self.server else self.engine).begin() as conn:
            ids = [int(r[0]) for r in conn.execute(text(statement + " RETURNING id"), params or {})]
            images = [{"table": table, "id": i, "row": dict(conn.execute(
                text(f"SELECT * FROM {table} WHERE id = :i"), {"i": i}).one()._mapping)} for i in ids]
            chain.append(conn, actor=user, action="by-hand", payload={"statement": statement, "rows": images})
        return ids

    def load(self, script: str) -> None:
        """Run a file's INSERT lines as they are (no bind parameters), then move PostgreSQL's id sequences past them."""
        from sqlalchemy import inspect

        with self.engine.begin() as conn:
            raw = conn.execution_options(no_parameters=True)
            for line in script.splitlines():
                if line.startswith("INSERT "):
                    raw.exec_driver_sql(line)
            if self.dialect == "postgresql":
                for table in inspect(conn).get_table_names():
                    if "id" in {c["name"] for c in inspect(conn).get_columns(table)}:
                        conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                             f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)")

    def refused(self, statement: str, params: dict[str, Any] | None = None, user: str | None = None) -> str:
        """Run a statement the database must refuse (as `user`'s login on PostgreSQL); return its error's first line."""
        from sqlalchemy import exc, text

        with (self.login(user) if user else self.engine).connect() as conn:
            try:
                conn.execute(text(statement), params or {})
            except exc.DBAPIError as caught:
                conn.rollback()
                return str(caught.orig).splitlines()[0]
            conn.rollback()
        raise AssertionError(f"the database accepted: {statement}")

    def audit(self) -> list[dict[str, Any]]:
        return self.dicts("SELECT * FROM audit_entry ORDER BY seq")

    def tables(self) -> list[str]:
        from sqlalchemy import inspect

        with self.engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())

    def schema(self) -> list[tuple[Any, ...]]:
        """The schema itself: tables, columns, indexes and triggers."""
        if self.dialect == "sqlite":
            return self.rows("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
        return self.rows(
            "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ) + self.rows("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname"
                      ) + self.rows("SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname")

    def dump(self, tables: tuple[str, ...] | None = None) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table (or of `tables`), ordered by the first column, and the schema."""
        out: dict[str, list[tuple[Any, ...]]] = {"schema": self.schema()}
        for table in tables or self.tables():
            out[table] = self.rows(f'SELECT * FROM "{table}" ORDER BY 1')
        return out

    def drop_audit_triggers(self) -> None:
        """What someone with the owner's rights could do first: take the append-only triggers away."""
        if self.dialect == "sqlite":
            self.execute("DROP TRIGGER audit_entry_no_update", "DROP TRIGGER audit_entry_no_delete")
        else:
            self.execute("DROP TRIGGER audit_entry_no_change ON audit_entry",
                         "DROP TRIGGER audit_entry_no_truncate ON audit_entry")

    def jam_audit(self, message: str) -> None:
        """Make every audit append fail with `message` (a real failure at the last step of a write)."""
        if self.dialect == "sqlite":
            self.execute(f"CREATE TRIGGER audit_jammed BEFORE INSERT ON audit_entry "
                         f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
        else:
            self.execute(f"CREATE FUNCTION audit_jammed() RETURNS trigger LANGUAGE plpgsql AS $$ "
                         f"BEGIN RAISE EXCEPTION '{message}'; END $$",
                         "CREATE TRIGGER audit_jammed BEFORE INSERT ON audit_entry "
                         "FOR EACH ROW EXECUTE FUNCTION audit_jammed()")

    def unjam_audit(self) -> None:
        if self.dialect == "sqlite":
            self.execute("DROP TRIGGER audit_jammed")
        else:
            self.execute("DROP TRIGGER audit_jammed ON audit_entry", "DROP FUNCTION audit_jammed()")

    def close(self) -> None:
        for engine in [self._engine, *self._logins.values()]:
            if engine is not None:
                engine.dispose()
        if self.server is not None and self.name is not None:
            self.server.drop_database(self.name)


@pytest.fixture(scope="session", autouse=True)
def _migrations_replayed() -> Iterator[None]:
    """`cycle init` on an empty database replays the statements the session's first one ran (tests/fastinit.py)."""
    from . import fastinit

    fastinit.install()
    yield
    fastinit.uninstall()


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    server = request.getfixturevalue("pg_server") if ON_POSTGRES else None
    database = Database(DIALECT, tmp_path / "home", server)
    yield database
    database.close()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db: Database) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("CYCLE_HOME", str(h))
    monkeypatch.setenv("CYCLE_USER", "alice")
    if ON_POSTGRES:
        monkeypatch.setenv("CYCLE_DATABASE_URL", db.url("alice"))
        h.mkdir()  # on SQLite `cycle init` makes it, for the database file; tests put files there too
    else:
        monkeypatch.delenv("CYCLE_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))  # never the real user's reminders.toml
    return h


def as_user(db: Database, user: str) -> dict[str, str]:
    """The environment that makes the product act as `user`: CYCLE_USER, and on PostgreSQL the login."""
    env = {"CYCLE_USER": user}
    if ON_POSTGRES:
        env["CYCLE_DATABASE_URL"] = db.url(user)
    return env


class Cli:
    """Runs the real CLI in-process and returns click's Result (exit code, stdout, stderr)."""

    def __init__(self, db: Database) -> None:
        self.runner = CliRunner()
        self.db = db

    def __call__(self, *args: str, user: str | None = None, expect: int | None = 0) -> Result:
        env = as_user(self.db, user) if user else None
        result = self.runner.invoke(cli, list(args), env=env, prog_name="cycle")
        if expect is not None and result.exit_code != expect:
            raise AssertionError(f"cycle {' '.join(args)} exited {result.exit_code}, expected {expect}\n"
                                 f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}")
        return result

    def json(self, *args: str, **kw: Any) -> Any:
        return json.loads(self(*args, "--json", **kw).stdout)


@pytest.fixture
def run(db: Database) -> Cli:
    return Cli(db)


@pytest.fixture
def ready(run: Cli) -> Cli:
    """A database with the camhs project at analyse."""
    run("init")
    run(*CAMHS)
    return run


def go(run: Cli, key: str, gate: str, ref: str = "minutes item 1", user: str = "clerk") -> None:
    run("decision", "record", key, "--gate", gate, "--outcome", "go", "--body", BODY, "--ref", ref, user=user)


def cycle_exe() -> list[str]:
    """The installed `cycle` console script next to this interpreter (falls back to python -m cli)."""
    exe = Path(sys.executable).parent / "cycle"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("cycle")
    return [found] if found else [sys.executable, "-m", "cycle.cli"]


def run_process(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The real `cycle` command in a separate process, with this test's environment."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*cycle_exe(), *args], capture_output=True, text=True, env=full_env, timeout=120, **kw)
