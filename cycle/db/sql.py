"""Plain SQL in a transaction (`Sql`), and what a database error means to a person.

The hot paths (advance, the read-only commands) talk to the DB-API cursor through `Sql`: SQLAlchemy's
result layer and the ORM cost more than the statements themselves. A database error, SQLAlchemy's or
the driver's own, leaves as a CycleError (busy: exit 4, refused: exit 6, anything else: exit 5).
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Generator, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from itertools import count
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from cycle.audit import images
from cycle.errors import CycleError, DatabaseBusy, DatabaseFailed, DatabaseRefused

if TYPE_CHECKING:
    from sqlmodel import Session

R = TypeVar("R", bound=tuple[Any, ...])

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


def database_failure(exc: Exception) -> CycleError:
    """What a person sees for an error of SQLAlchemy's, or a driver's own, that reached the CLI without passing
    through a transaction of cycle's (which would have made it a CycleError already)."""
    if isinstance(exc, DBAPIError) or not type(exc).__module__.startswith("sqlalchemy"):
        return database_error(exc)
    return DatabaseFailed(str(exc).splitlines()[0])


def damaged(exc: Exception) -> bool:
    """Whether SQLite found its file damaged: not a database at all, or a database whose pages are corrupt."""
    said = str(exc)
    return "file is not a database" in said or "database disk image is malformed" in said


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


@lru_cache(maxsize=256)
def _pyformat(statement: str) -> str:
    return _NAMED.sub(r"%(\1)s", statement.replace("%", "%%"))


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


_name = itemgetter(0)  # of a column in cursor.description


@lru_cache(maxsize=64)
def _row_type(columns: tuple[str, ...]) -> Any:
    return namedtuple("Row", columns)


_streams = count(1)  # numbers the server-side cursors of Sql.stream

#: How many rows to give Sql.insert_rows at once: fewer parameters than SQLite (32,766 since 3.32; RETURNING needs
#: 3.35) and PostgreSQL (65,535) take in one statement, and about the fastest on SQLite (longer statements cost more
#: to prepare than they save).
INSERT_BATCH = 100


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

    def typed(self, row: type[R], statement: str, **params: Any) -> list[R]:
        """The rows of a query as `row` (a named tuple whose fields are the query's columns, in order)."""
        return list(map(row._make, self.tuples(statement, **params)))  # type: ignore[attr-defined]

    def tuples(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        """The rows of a query as plain tuples."""
        cursor = self._execute(statement, params)
        try:
            return cursor.fetchall()  # type: ignore[no-any-return]
        except self._error as exc:
            raise database_error(exc) from exc

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

    def run_many(self, statement: str, params: Sequence[dict[str, Any]]) -> None:
        """Execute one statement once for each set of parameters, in one call to the driver (executemany)."""
        if not params:
            return
        try:
            self._cursor.executemany(_pyformat(statement) if self._postgres else statement, params)
        except self._error as exc:
            raise database_error(exc) from exc

    def insert_rows(self, table: str, images: Sequence[dict[str, Any]], returning: str) -> list[tuple[Any, ...]]:
        """INSERT the rows `images` (each with the same columns, in the same order) in one statement, and give
        each new row's `returning` columns (e.g. "id, key"), in no set order: return a column that tells the rows
        apart. At most INSERT_BATCH rows of a table's columns fit the parameters a statement may have."""
        if not images:
            return []
        columns = list(images[0])
        quoted = ", ".join(f'"{c}"' for c in columns)
        one = "(" + ", ".join(["%s" if self._postgres else "?"] * len(columns)) + ")"  # positional: SQLite looks a
        values = ", ".join([one] * len(images))  # named parameter up among those before it, for each of thousands
        params = [image[c] for image in images for c in columns]
        try:
            self._cursor.execute(f"INSERT INTO {table} ({quoted}) VALUES {values} RETURNING {returning}", params)
            return self._cursor.fetchall()  # type: ignore[no-any-return]
        except self._error as exc:
            raise database_error(exc) from exc

    def _execute(self, statement: str, params: dict[str, Any]) -> Any:
        try:
            self._cursor.execute(_pyformat(statement) if self._postgres else statement, params)
        except self._error as exc:
            raise database_error(exc) from exc
        return self._cursor

    def stream(self, statement: str, batch: int = 2000, **params: Any) -> Generator[Any, None, None]:
        """The rows of a query, as rows() gives them, a batch at a time, without holding them all (on PostgreSQL
        a server-side cursor, in this transaction)."""
        # PostgreSQL: a name of its own, so that several streams can be read side by side in one transaction
        cursor = self._dbapi.cursor(name=f"cycle_stream_{next(_streams)}") if self._postgres else self._dbapi.cursor()
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


if TYPE_CHECKING:
    #: A transaction in progress: plain SQL, or an ORM session (sql_of gives the plain SQL of either).
    Tx: TypeAlias = Sql | Session
