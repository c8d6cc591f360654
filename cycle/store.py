"""The database: engine set-up, transactions, and everything dialect-specific.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every write transaction
starts with BEGIN IMMEDIATE so that a read-modify-write cannot interleave with another writer.
Nothing outside this module needs to know which database it is talking to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

from . import config
from .errors import NoDatabase

BUSY_TIMEOUT_MS = 30_000

_SQLITE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry
       BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry
       BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only: DELETE refused'); END""",
)

_POSTGRES_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION cycle_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION USING MESSAGE = 'audit_entry is append-only: ' || TG_OP || ' refused'; END $$""",
    """DROP TRIGGER IF EXISTS audit_entry_no_change ON audit_entry""",
    """CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry
       FOR EACH ROW EXECUTE FUNCTION cycle_audit_append_only()""",
    """DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry""",
    """CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry
       FOR EACH STATEMENT EXECUTE FUNCTION cycle_audit_append_only()""",
)


class Store:
    """One database: hands out read sessions and serialised write sessions."""

    def __init__(self, url: str):
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.sqlite_path: Path | None = None
        if self.dialect == "sqlite" and parsed.database and parsed.database != ":memory:":
            self.sqlite_path = Path(parsed.database)
        self.engine: Engine = self._make_engine(url)
        self._writer = self.engine.execution_options(cycle_write=True)

    def _make_engine(self, url: str) -> Engine:
        if self.dialect != "sqlite":
            return create_engine(url, pool_pre_ping=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's BEGIN below be the only transaction control (pysqlite's own is off).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            write = conn.get_execution_options().get("cycle_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    # --- life cycle -----------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether a database has been initialised here (never creates anything)."""
        if self.sqlite_path is not None and not self.sqlite_path.exists():
            return False
        try:
            with self.engine.connect() as conn:
                return inspect(conn).has_table("audit_entry")
        except Exception:  # noqa: BLE001 - an unreachable server is "not there" to the caller
            return False

    def require(self) -> Store:
        if not self.exists():
            raise NoDatabase(self.describe())
        return self

    def init(self) -> bool:
        """Create the tables and append-only triggers if missing; True when it created them."""
        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.exists()
        import cycle.models  # noqa: F401 - registers the tables on SQLModel.metadata
        import cycle.notify_models  # noqa: F401

        with self.engine.begin() as conn:
            SQLModel.metadata.create_all(conn)
            for statement in _SQLITE_TRIGGERS if self.dialect == "sqlite" else _POSTGRES_TRIGGERS:
                if self.dialect in ("sqlite", "postgresql"):
                    conn.exec_driver_sql(statement)
        return created

    def describe(self) -> str:
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        return make_url(self.url).render_as_string(hide_password=True)

    # --- transactions ---------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: serialised against other writers; commits on success, else rolls back."""
        with Session(self._writer, expire_on_commit=False) as session:
            with session.begin():
                if self.dialect == "postgresql":
                    # One writer of the audit chain at a time (released at commit or rollback).
                    session.execute(text("SELECT pg_advisory_xact_lock(727274)"))
                yield session

    def raw_connection(self) -> Any:
        """A DB-API connection, for streaming reads where ORM overhead would dominate."""
        return self.engine.raw_connection()

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str | None = None) -> Store:
    return Store(url or config.database_url())
