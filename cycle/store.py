"""The database: engine set-up, transactions, identity, and everything dialect-specific.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every write transaction
starts with BEGIN IMMEDIATE so that a read-modify-write cannot interleave with another writer.
On PostgreSQL every write transaction first takes one advisory lock, so audit appends are
serialised (and the UNIQUE prev_hash makes a fork impossible anyway), and the engine reads the
rows it will change with SELECT ... FOR UPDATE. Waiting for a lock gives up after 30 seconds on
both. Nothing outside this module needs to know which database it is talking to: a database
error leaves here as a CycleError (busy: exit 4, refused: exit 6, anything else: exit 5).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlmodel import Session

from . import config, schema
from .errors import BadInput, CycleError, DatabaseBusy, DatabaseFailed, DatabaseRefused, NoDatabase, SchemaBehind

if TYPE_CHECKING:
    from .schema import Upgrade

BUSY_TIMEOUT_MS = 30_000
WRITE_LOCK = 727274  # the advisory lock every PostgreSQL write transaction (and upgrade) takes first

# SQLSTATEs that mean another transaction got in the way: the same request may well succeed again.
_BUSY_STATES = {"40001", "40P01", "55P03", "57014"}  # serialization, deadlock, lock timeout, cancelled
_REFUSED_STATES = {"42501"}  # insufficient privilege: a role's rights, or a trigger's rule


def database_error(exc: DBAPIError) -> CycleError:
    """The CycleError a person sees for a database error: busy (4), refused (6) or failed (5)."""
    orig = exc.orig
    reason = (str(orig) if orig is not None else str(exc)).strip().splitlines()
    line = reason[0] if reason else type(orig or exc).__name__
    state = getattr(orig, "sqlstate", None)
    sqlite_name = getattr(orig, "sqlite_errorname", "")
    if state in _BUSY_STATES or sqlite_name in ("SQLITE_BUSY", "SQLITE_LOCKED") or (
            state is None and "database is locked" in line):
        return DatabaseBusy(line)
    if state in _REFUSED_STATES:
        return DatabaseRefused(line)
    return DatabaseFailed(line)


class Store:
    """One database: hands out read sessions and serialised write sessions."""

    def __init__(self, url: str):
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise BadInput("CYCLE_DATABASE_URL is not a database URL; write e.g. "
                           "postgresql+psycopg://alice@db.example/cycle or sqlite:////path/to/cycle.db") from None
        self.dialect = parsed.get_backend_name()
        self.sqlite_path: Path | None = None
        if self.dialect == "sqlite" and parsed.database and parsed.database != ":memory:":
            self.sqlite_path = Path(parsed.database)
        try:
            self.engine: Engine = self._make_engine(url)
        except (NoSuchModuleError, ModuleNotFoundError) as exc:
            raise BadInput(f"CYCLE_DATABASE_URL names a database cycle cannot talk to ({exc}); use "
                           f"postgresql+psycopg://... or sqlite:///...") from None
        self._writer = self.engine.execution_options(cycle_write=True)
        self._login: str | None = None

    def _make_engine(self, url: str) -> Engine:
        if self.dialect == "postgresql":
            engine = create_engine(url, pool_pre_ping=True)

            @event.listens_for(engine, "connect")
            def _on_pg_connect(dbapi_conn: Any, _record: Any) -> None:
                # Like SQLite's busy timeout: a writer waits this long for the lock, then exit 4 "try again".
                with dbapi_conn.cursor() as cur:
                    cur.execute(f"SET lock_timeout = {BUSY_TIMEOUT_MS}")
                dbapi_conn.commit()

            return engine
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
        """Whether cycle's tables are here (never creates anything)."""
        return schema.status(self).initialised

    def require(self) -> Store:
        """This store, if its database is set up and its schema is the one this cycle needs."""
        st = schema.status(self)
        if not st.initialised:
            raise NoDatabase(self.describe())
        if st.behind:
            raise SchemaBehind(self.describe(), st.current, st.head)
        return self

    def init(self, actor: str | None = None, target: str | None = None) -> Upgrade:
        """Create the schema, or upgrade it to the newest revision or `target` (audited as `actor` when given)."""
        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return schema.upgrade(self, actor, target)

    def describe(self) -> str:
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        return make_url(self.url).render_as_string(hide_password=True)

    # --- identity -------------------------------------------------------------------------------

    def actor(self, claimed: str | None = None) -> str:
        """Who is acting. On PostgreSQL the database says: its session_user, the login, whatever is
        claimed. Elsewhere the claimed name, else $CYCLE_USER or the login name (cycle.config.actor)."""
        if self.dialect == "postgresql":
            if self._login is None:
                with self.read() as s:
                    self._login = str(s.execute(text("SELECT session_user")).scalar_one())
            return self._login
        return claimed if claimed is not None else config.actor()

    # --- transactions ---------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
        except DBAPIError as exc:
            raise database_error(exc) from exc

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: serialised against other writers; commits on success, else rolls back."""
        try:
            with Session(self._writer, expire_on_commit=False) as session:
                with session.begin():
                    if self.dialect == "postgresql":
                        # One writer of the audit chain at a time (released at commit or rollback).
                        session.execute(text(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"))
                    yield session
        except DBAPIError as exc:
            raise database_error(exc) from exc

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A plain connection for reading (schema checks); rolled back at the end."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise database_error(exc) from exc

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A plain connection in a write transaction, under the same lock as write(); for schema changes."""
        try:
            with self._writer.connect() as conn:
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
                    yield conn
        except DBAPIError as exc:
            raise database_error(exc) from exc

    def raw_connection(self) -> Any:
        """A DB-API connection, for streaming reads where ORM overhead would dominate."""
        try:
            return self.engine.raw_connection()
        except DBAPIError as exc:
            raise database_error(exc) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str | None = None) -> Store:
    return Store(url or config.database_url())
