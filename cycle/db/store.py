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

import os
import stat
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from cycle import config
from cycle.audit import images
from cycle.errors import BadInput
from cycle.governance import identity

from .sql import Sql, database_error

if TYPE_CHECKING:
    from sqlmodel import Session

BUSY_TIMEOUT_MS = 30_000
WRITE_LOCK = 727274  # the advisory lock every PostgreSQL write transaction (and upgrade) takes first
_TAKE_WRITE_LOCK = f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"


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
        if self.dialect == "sqlite":
            if not parsed.database or parsed.database == ":memory:" or parsed.query.get("mode") == "memory":
                raise BadInput(f"CYCLE_DATABASE_URL {url!r} is an in-memory SQLite database, gone when the command "
                               f"ends; name a file, e.g. sqlite:////path/to/cycle.db (or unset it for "
                               f"$CYCLE_HOME/cycle.db)")
            self.sqlite_path = Path(parsed.database)
            _refuse_what_is_not_a_file(self.sqlite_path, url)
        try:
            self.engine: Engine = self._make_engine(url)
        except (NoSuchModuleError, ModuleNotFoundError) as exc:
            if (getattr(exc, "name", None) or "").partition(".")[0] == "psycopg":  # an extra: cycle[postgresql]
                raise BadInput("CYCLE_DATABASE_URL names a PostgreSQL database, and its driver (psycopg) is not "
                               "installed; install it with: pip install 'cycle[postgresql]'") from None
            raise BadInput(f"CYCLE_DATABASE_URL names a database cycle cannot talk to ({exc}); use "
                           f"postgresql+psycopg://... or sqlite:///...") from None
        self._writer = self.engine.execution_options(cycle_write=True)
        # SQLAlchemy wraps the driver's errors in DBAPIError, except where cycle talks to the driver itself.
        self._driver_error = self.engine.dialect.loaded_dbapi.Error
        self._errors = (DBAPIError, self._driver_error)
        self._login: str | None = None
        self._kept = threading.local()  # SQLite: each thread's own connection, kept between transactions
        self._kept_all: weakref.WeakSet[Any] = weakref.WeakSet()  # for dispose(); a thread's goes when it ends
        #: cycle.workflow.registry's parsed workflow versions, (name, version) -> Workflow: an installed version never
        #: changes, so each is read and parsed once per store
        self.parsed_workflows: dict[tuple[str, int], Any] = {}

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
            # Straight to the driver: this runs before every transaction, and it is the hot path's too.
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def describe(self) -> str:
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        return make_url(self.url).render_as_string(hide_password=True)

    # --- identity -------------------------------------------------------------------------------

    def actor(self, claimed: str | None = None) -> str:
        """Who is acting. On PostgreSQL the database says: its session_user, the login, whatever is
        claimed. Elsewhere the claimed name, else $CYCLE_USER or the login name (cycle.config.actor),
        as its canonical login (cycle.governance.identity)."""
        if self.dialect == "postgresql":
            if self._login is None:
                with self.reading() as sql:
                    self._login = sql.session_user()
            return self._login
        return identity.login(claimed, "actor") if claimed is not None else config.actor()

    # --- transactions ---------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Session]:
        from sqlmodel import Session

        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
        except self._errors as exc:
            raise database_error(exc) from exc

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: serialised against other writers; commits on success, else rolls back."""
        from sqlmodel import Session

        try:
            images.listen()
            with Session(self._writer, expire_on_commit=False) as session:
                with session.begin():
                    conn = session.connection()
                    images.forget(conn.info)
                    if self.dialect == "postgresql":
                        # One writer of the audit chain at a time (released at commit or rollback).
                        conn.exec_driver_sql(_TAKE_WRITE_LOCK)
                    yield session
                    session.flush()
                    images.require_recorded(conn.info)
        except self._errors as exc:
            raise database_error(exc) from exc

    def glance(self, raw: Any) -> Sql:
        """Plain SQL on `raw` (from pinned()) outside any transaction of cycle's: each statement reads
        what is committed when it runs. For a read that a write transaction on the same connection
        then checks (advance reads the project's version, then changes it only if it still has it).
        On PostgreSQL the driver opens a transaction for it, which that write then carries on."""
        return Sql(raw.dbapi_connection, self.dialect, raw.info, self._driver_error)

    def reading(self, raw: Any = None, snapshot: bool = False) -> AbstractContextManager[Sql]:
        """A read transaction for plain SQL (see Sql): what the read-only commands use.
        On `raw` (from pinned()) when given, else on a connection from the pool. With `snapshot`, every
        statement sees the database as it was at the first (PostgreSQL's REPEATABLE READ; a SQLite read
        transaction always does): for reading the log and the tables it vouches for as one."""
        return self._transaction(write=False, raw=raw, snapshot=snapshot)

    def writing(self, orm: bool = False, raw: Any = None) -> AbstractContextManager[Sql]:
        """A write transaction for plain SQL, serialised like write(); commits on success. With `orm`,
        Sql.session() can also write ORM objects in the same transaction (and `raw` is not used)."""
        return self._orm_writing() if orm else self._transaction(write=True, raw=raw)

    @contextmanager
    def _orm_writing(self) -> Iterator[Sql]:
        with self.write_connection(listen=False) as conn:  # Sql.session() listens, if the transaction needs the ORM
            sql = Sql.on(conn)
            yield sql
            sql.flush()  # what the ORM session holds is written before the commit

    @contextmanager
    def pinned(self) -> Iterator[Any]:
        """One DB-API connection for several uses in a row (glance(raw), reading(raw), writing(raw=raw)):
        advance reads and then writes on it.

        On SQLite each thread keeps one connection of its own from one use to the next: a pool
        checkout and return costs what two of an advance's statements do, and a SQLite connection
        holds nothing between transactions (no locks, no session state). A use while the thread's
        kept connection is already in a transaction, and any use on other databases (whose
        connections the pool checks before handing out), takes a pooled connection as before.
        """
        kept = self._kept
        if self.dialect == "sqlite" and not getattr(kept, "busy", False):
            raw = getattr(kept, "raw", None)
            if raw is None:
                raw = self.raw_connection()
                raw.detach()  # the pool no longer counts it; dispose() closes it
                kept.raw = raw
                self._kept_all.add(raw)
            kept.busy = True
            try:
                yield raw
            finally:
                kept.busy = False
            return
        raw = self.raw_connection()
        try:
            yield raw
        finally:
            raw.close()  # back to the pool

    @contextmanager
    def _transaction(self, write: bool, raw: Any = None, snapshot: bool = False) -> Iterator[Sql]:
        """A transaction straight on a pooled DB-API connection: SQLAlchemy's Connection, its events
        and its result layer cost several times what an advance's statements do."""
        if raw is None:
            with self.pinned() as raw, self._transaction(write, raw, snapshot) as sql:
                yield sql
            return
        sql = Sql(raw.dbapi_connection, self.dialect, raw.info, self._driver_error)
        try:
            if self.dialect == "sqlite":  # the same BEGIN as every other transaction here (see _on_begin)
                sql.run("BEGIN IMMEDIATE" if write else "BEGIN")
            elif write and self.dialect == "postgresql":
                sql.run(_TAKE_WRITE_LOCK)
            elif snapshot and self.dialect == "postgresql":
                sql.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if write:
                images.forget(sql.info)
            yield sql
            if write:
                images.require_recorded(sql.info)
            try:
                raw.commit()
            except self._driver_error as exc:
                raise database_error(exc) from exc
        except BaseException:
            try:
                raw.rollback()
            except self._driver_error:
                pass  # the connection is gone: the database has rolled back already
            raise

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A plain connection for reading (schema checks); rolled back at the end."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except self._errors as exc:
            raise database_error(exc) from exc

    @contextmanager
    def write_connection(self, listen: bool = True) -> Iterator[Connection]:
        """A plain connection in a write transaction, under the same lock as write(); for schema changes."""
        try:
            if listen:
                images.listen()  # an upgrade's data step writes through the ORM
            with self._writer.connect() as conn:
                with conn.begin():
                    images.forget(conn.info)
                    if self.dialect == "postgresql":
                        conn.exec_driver_sql(_TAKE_WRITE_LOCK)
                    yield conn
                    images.require_recorded(conn.info)
        except self._errors as exc:
            raise database_error(exc) from exc

    def raw_connection(self) -> Any:
        """A DB-API connection, for streaming reads where ORM overhead would dominate."""
        try:
            return self.engine.raw_connection()
        except self._errors as exc:
            raise database_error(exc) from exc

    def dispose(self) -> None:
        for raw in list(self._kept_all):
            try:
                raw.close()
            except self._driver_error:
                pass  # already closed
        self._kept_all.clear()
        self._kept = threading.local()
        self.engine.dispose()



def _refuse_what_is_not_a_file(path: Path, url: str) -> None:
    """A SQLite path that is there and is not a file (a folder: a path typed without its file name; a FIFO or a
    device such as /dev/null) is bad input before SQLite opens it: SQLite would say only "unable to open database
    file" or "disk I/O error", and could leave a -journal beside a device."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):  # not there (init makes it), or not to be looked at: SQLite says what it finds
        return
    if stat.S_ISREG(mode):
        return
    what = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, a socket or a device)"
    if os.environ.get("CYCLE_DATABASE_URL") == url:
        example = path / "cycle.db" if stat.S_ISDIR(mode) else "/path/to/cycle.db"
        raise BadInput(f"CYCLE_DATABASE_URL {url!r} names {path}, which is {what}; nothing was done. Name a "
                       f"database file, e.g. CYCLE_DATABASE_URL=sqlite:///{example}")
    raise BadInput(f"the database {path} is {what}; nothing was done. Move it aside, or name a database file with "
                   f"CYCLE_DATABASE_URL, e.g. CYCLE_DATABASE_URL=sqlite:////path/to/cycle.db")


def open_store(url: str | None = None) -> Store:
    return Store(url or config.database_url())
