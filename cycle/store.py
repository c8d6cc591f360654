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

import re
import threading
import weakref
from collections import namedtuple
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from . import config, identity, images, schema
from .errors import BadInput, CycleError, DatabaseBusy, DatabaseFailed, DatabaseRefused, NoDatabase, SchemaBehind

if TYPE_CHECKING:
    from sqlmodel import Session

    from .schema import Upgrade

BUSY_TIMEOUT_MS = 30_000
WRITE_LOCK = 727274  # the advisory lock every PostgreSQL write transaction (and upgrade) takes first
_TAKE_WRITE_LOCK = f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"

# SQLSTATEs that mean another transaction got in the way: the same request may well succeed again.
_BUSY_STATES = {"40001", "40P01", "55P03", "57014"}  # serialization, deadlock, lock timeout, cancelled
_REFUSED_STATES = {"42501"}  # insufficient privilege: a role's rights, or a trigger's rule


def database_error(exc: Exception) -> CycleError:
    """The CycleError a person sees for a database error (SQLAlchemy's, or the driver's own):
    busy (4), refused (6) or failed (5)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
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


def undecodable(exc: Exception) -> bool:
    """Whether a read failed on text that is not UTF-8: SQLite keeps whatever bytes it is given as
    text, and Python's sqlite3 refuses to read them back."""
    return "Could not decode to UTF-8" in str(exc)


def _surrogate_escaped(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


@contextmanager
def lenient_text(dbapi_connection: Any) -> Iterator[None]:
    """Read SQLite text that is not UTF-8 with each bad byte as a lone surrogate (U+DC80 to U+DCFF),
    which no valid text holds, instead of failing the read. Elsewhere (PostgreSQL checks its text on
    the way in) it changes nothing. Slower: only for a second try after undecodable()."""
    conn = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    if not hasattr(conn, "text_factory"):
        yield
        return
    saved = conn.text_factory
    conn.text_factory = _surrogate_escaped
    try:
        yield
    finally:
        conn.text_factory = saved


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
        # SQLAlchemy wraps the driver's errors in DBAPIError, except where cycle talks to the driver itself.
        self._driver_error = self.engine.dialect.loaded_dbapi.Error
        self._errors = (DBAPIError, self._driver_error)
        self._login: str | None = None
        self._kept = threading.local()  # SQLite: each thread's own connection, kept between transactions
        self._kept_all: weakref.WeakSet[Any] = weakref.WeakSet()  # for dispose(); a thread's goes when it ends
        #: cycle.registry's parsed workflow versions, (name, version) -> Workflow: an installed version never
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

    def init(self, actor: str | None = None, target: str | None = None, data: schema.DataStep | None = None) -> Upgrade:
        """Create the schema, or upgrade it to the newest revision or `target` (audited as `actor` when given);
        `data` runs after the migrations in their transaction (see schema.upgrade)."""
        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return schema.upgrade(self, actor, target, data)

    def describe(self) -> str:
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        return make_url(self.url).render_as_string(hide_password=True)

    # --- identity -------------------------------------------------------------------------------

    def actor(self, claimed: str | None = None) -> str:
        """Who is acting. On PostgreSQL the database says: its session_user, the login, whatever is
        claimed. Elsewhere the claimed name, else $CYCLE_USER or the login name (cycle.config.actor),
        as its canonical login (cycle.identity)."""
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
        with self.write_connection() as conn:
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
    def write_connection(self) -> Iterator[Connection]:
        """A plain connection in a write transaction, under the same lock as write(); for schema changes."""
        try:
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


@lru_cache(maxsize=256)
def _pyformat(statement: str) -> str:
    return _NAMED.sub(r"%(\1)s", statement.replace("%", "%%"))


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


_name = itemgetter(0)  # of a column in cursor.description


@lru_cache(maxsize=64)
def _row_type(columns: tuple[str, ...]) -> Any:
    return namedtuple("Row", columns)  # type: ignore[misc]


class Sql:
    """Plain SQL on the DB-API cursor of a connection in a transaction: parameters as :name, rows as
    named tuples. The hot paths (advance, the read-only commands) use it because SQLAlchemy's result
    layer and the ORM cost more than the statements themselves; everything else uses the ORM. A
    driver error leaves as a CycleError, as it does from Store.read() and Store.write()."""

    def __init__(self, dbapi_connection: Any, dialect: str, info: dict[str, Any], error: type[Exception],
                 connection: Connection | None = None):
        self._dbapi = dbapi_connection
        self._cursor = dbapi_connection.cursor()
        self._postgres = dialect == "postgresql"
        self._info = info  # lives as long as the pooled connection
        self._error = error
        self._connection = connection
        self._session: Session | None = None
        #: appended to a SELECT that reads a row the transaction will change
        self.for_update = " FOR UPDATE" if self._postgres else ""  # SQLite: BEGIN IMMEDIATE holds it all

    @classmethod
    def on(cls, connection: Connection) -> Sql:
        """Plain SQL in the transaction a SQLAlchemy connection is in."""
        return cls(connection.connection.dbapi_connection, connection.dialect.name, connection.info,
                   connection.dialect.loaded_dbapi.Error, connection)

    def run(self, statement: str, **params: Any) -> int:
        """Execute a statement; the number of rows it changed."""
        return int(self._execute(statement, params).rowcount)

    def rows(self, statement: str, **params: Any) -> list[Any]:
        """The rows of a query, each a named tuple (row.column)."""
        cursor = self._execute(statement, params)
        try:
            found = cursor.fetchall()
        except self._error as exc:
            raise database_error(exc) from exc
        if not found:
            return []
        return list(map(_row_type(tuple(map(_name, cursor.description)))._make, found))

    def rows_of_any_text(self, statement: str, **params: Any) -> list[Any]:
        """rows(), for a table a person may have written by hand: text that is not UTF-8 comes back
        with its bad bytes as lone surrogates (see lenient_text) instead of failing the read."""
        try:
            return self.rows(statement, **params)
        except DatabaseFailed as exc:
            if not undecodable(exc):
                raise
        with lenient_text(self._cursor.connection):
            return self.rows(statement, **params)

    def _execute(self, statement: str, params: dict[str, Any]) -> Any:
        try:
            self._cursor.execute(_pyformat(statement) if self._postgres else statement, params)
        except self._error as exc:
            raise database_error(exc) from exc
        return self._cursor

    def stream(self, statement: str, batch: int = 2000, **params: Any) -> Iterator[Any]:
        """The rows of a query, as rows() gives them, a batch at a time, without holding them all (on PostgreSQL
        a server-side cursor, in this transaction)."""
        cursor = self._dbapi.cursor(name="cycle_stream") if self._postgres else self._dbapi.cursor()
        try:
            cursor.execute(_pyformat(statement) if self._postgres else statement, params)
            make = None
            while found := cursor.fetchmany(batch):
                make = make or _row_type(tuple(map(_name, cursor.description)))._make
                yield from map(make, found)
        except self._error as exc:
            raise database_error(exc) from exc
        finally:
            cursor.close()

    def any_text(self) -> AbstractContextManager[None]:
        """While it lasts, SQLite text that is not UTF-8 reads with its bad bytes as lone surrogates
        (see lenient_text) instead of failing the read."""
        return lenient_text(self._dbapi)

    @property
    def info(self) -> dict[str, Any]:
        """The connection's own dict, which lives as long as it does (images noted for the next entry)."""
        return self._info

    def one(self, statement: str, **params: Any) -> Any:
        """The first row of a query, or None."""
        found = self.rows(statement, **params)
        return found[0] if found else None

    def actor(self, claimed: str) -> str:
        """Who the audit log records as acting: on PostgreSQL the login, whatever is claimed."""
        return self.session_user() if self._postgres else claimed

    def session_user(self) -> str:
        """The login the database knows this connection by (PostgreSQL); asked once per connection."""
        info = self._info
        if "cycle_session_user" not in info:
            info["cycle_session_user"] = str(self.one("SELECT session_user AS login").login)
        return str(info["cycle_session_user"])

    def session(self) -> Session:
        """An ORM session in this same transaction, for the rare write the plain SQL does not cover."""
        if self._session is None:
            from sqlmodel import Session

            if self._connection is None:
                raise RuntimeError("open the transaction with Store.writing(orm=True) to write ORM objects")
            images.listen()
            self._session = Session(bind=self._connection, expire_on_commit=False)
        return self._session

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()


def sql_of(db: Sql | Session | Connection) -> Sql:
    """Plain SQL in the transaction of an ORM session (its pending changes flushed first) or a connection."""
    if isinstance(db, Sql):
        db.flush()
        return db
    if isinstance(db, Connection):
        return Sql.on(db)
    db.flush()
    return Sql.on(db.connection())


def open_store(url: str | None = None) -> Store:
    return Store(url or config.database_url())
