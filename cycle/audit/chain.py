"""The audit log: an append-only, SHA-256 hash-chained record of every state-changing action.

Each entry's hash is ``sha256(prev_hash + RS + canonical(entry))`` where ``canonical`` joins the
entry's fields (sequence, UTC time, actor, project, action, from stage, to stage, payload) with the
ASCII unit separator. Payloads are stored as canonical JSON (sorted keys, ASCII only), so no field
can contain the separator and the encoding is unambiguous. The first entry's predecessor is 64 zeros.

``walk`` checks the whole chain (cycle.audit.verify runs it on a store); a checkpoint (``SEQ:HASH``)
kept outside the database also catches a cut-off tail or a chain rewritten from some point on. An
entry whose column holds what cycle never writes there (binary data, a number or NULL where text
belongs, text that is not UTF-8) is a bad entry like any other: named, never crashed on (``damage``).
NULL and empty text in project or a stage are the same to the hash, as they always were; cycle writes
NULL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from cycle.calendar.clock import utc_now
from cycle.db import rows
from cycle.db.sql import Sql, lenient_text, sql_of, undecodable
from cycle.errors import BadInput, DatabaseFailed

from . import images
from .hashes import _MAY_BE_NULL, _NAMES, _shown, walk_rows
from .hashes import CHECKING as CHECKING
from .hashes import COLUMNS as _COLUMNS
from .hashes import GENESIS as GENESIS
from .hashes import Progress as Progress
from .hashes import Verification as Verification
from .hashes import canonical_json as canonical_json
from .hashes import damage as damage
from .hashes import entry_hash as entry_hash

if TYPE_CHECKING:
    from sqlmodel import Session

    from cycle.db.store import Store


_CONTROL = re.compile(r"[\x00-\x1f]")


def _clean(value: str | None, what: str) -> None:
    if value is not None and _CONTROL.search(value):
        raise BadInput(f"{what} must not contain control characters")


@dataclass(frozen=True)
class Appended:
    seq: int
    hash: str


#: While noting() lasts: every entry this process appends (a transaction rolled back or retried leaves its
#: (seq, hash) here too, but no committed entry has it, as the hash covers the time, actor and payload).
_noted: ContextVar[list[Appended] | None] = ContextVar("noted", default=None)


@contextmanager
def noting() -> Iterator[list[Appended]]:
    """Note the (seq, hash) of every entry appended in this context: what a command itself wrote, as against what
    another process wrote meanwhile, under the same name or not (--json on the write commands)."""
    found: list[Appended] = []
    token = _noted.set(found)
    try:
        yield found
    finally:
        _noted.reset(token)


_INSERT = f"INSERT INTO audit_entry ({_COLUMNS}) VALUES ({', '.join(':' + name for name in _NAMES)})"


def append(db: Sql | Session, *, actor: str, action: str, project: str | None = None,
           from_stage: str | None = None, to_stage: str | None = None,
           payload: dict[str, Any] | None = None, at: str | None = None) -> Appended:
    """Add the next entry inside the caller's write transaction (which serialises appends); `at`
    (from utc_now()) when the change it records carries the same time.

    On PostgreSQL the actor is the database's session_user whatever the caller says: the database
    refuses any other name (a trigger), so the log records who the database knows is acting.

    The entry carries, as its payload's "rows", the image of every covered row the transaction has
    changed since its previous entry (cycle.audit.images).
    """
    sql = sql_of(db)  # flushes an ORM session first, which notes the images of what it writes
    row = _next_entry(sql, head(sql), actor, action, project, from_stage, to_stage, payload, at)
    sql.run(_INSERT, **row)
    return _appended(row)


def _next_entry(sql: Sql, after: tuple[int, str], actor: str, action: str, project: str | None, from_stage: str | None,
           to_stage: str | None, payload: dict[str, Any] | None, at: str | None) -> dict[str, Any]:
    """The row of the entry that follows `after` (seq, hash), with the images noted since the previous entry."""
    changed = images.take(sql.info)
    if changed:
        payload = {**(payload or {}), "rows": changed}
    actor = sql.actor(actor)
    if _CONTROL.search(f"{actor}{project}{action}{from_stage}{to_stage}"):  # one search: this is every write's path
        for value, what in ((actor, "actor"), (project, "project"), (action, "action"),
                            (from_stage, "stage"), (to_stage, "stage")):
            _clean(value, what)
    seq, prev = after
    seq += 1
    at = at or utc_now()
    body = canonical_json(payload or {})
    digest = entry_hash(prev, seq, at, actor, project, action, from_stage, to_stage, body)
    return {"seq": seq, "at": at, "actor": actor, "project": project, "action": action, "from_stage": from_stage,
            "to_stage": to_stage, "payload": body, "prev_hash": prev, "hash": digest}


def _appended(row: dict[str, Any]) -> Appended:
    done = Appended(row["seq"], row["hash"])
    noted = _noted.get()
    if noted is not None:
        noted.append(done)
    return done


class Batch:
    """Entries appended one after another in the caller's write transaction, each chained to the one before as
    `append` chains it, and written together when `write` is called (one call to the driver for them all): for an
    import's thousands. Nothing else may append while a batch holds entries not written: `write` first."""

    def __init__(self, db: Sql | Session):
        self.sql = sql_of(db)
        self.last = head(self.sql)
        self.rows: list[dict[str, Any]] = []

    def append(self, *, actor: str, action: str, project: str | None = None, from_stage: str | None = None,
               to_stage: str | None = None, payload: dict[str, Any] | None = None,
               at: str | None = None) -> Appended:
        """As `append`: the images noted since the previous entry go into this one."""
        row = _next_entry(self.sql, self.last, actor, action, project, from_stage, to_stage, payload, at)
        self.rows.append(row)
        self.last = (row["seq"], row["hash"])
        return _appended(row)

    def write(self) -> None:
        self.sql.run_many(_INSERT, self.rows)
        self.rows = []


def head(db: Sql | Session) -> tuple[int, str]:
    """(sequence, hash) of the newest entry; (0, GENESIS) for an empty log."""
    row = sql_of(db).one("SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1")
    return (row.seq, row.hash) if row else (0, GENESIS)


class Entry(NamedTuple):
    """An audit entry as read. When `damaged` says a column holds what cycle never writes there
    ("actor is not text ..."), that column's value is shown as text instead (x'ff00' for binary data)."""

    seq: int
    at: str
    actor: str
    project: str | None
    action: str
    from_stage: str | None
    to_stage: str | None
    payload: str
    prev_hash: str
    hash: str
    damaged: str | None = None


def _entry(row: tuple[Any, ...]) -> Entry:
    problem = damage(row)
    if problem is None:
        return Entry(*row)
    shown = [value if (name == "seq" and type(value) is int) or (value is None and name in _MAY_BE_NULL)
             else _shown(value) for name, value in zip(_NAMES, row, strict=True)]
    return Entry._make((*shown, problem))


def _select(project: str | None, limit: int | None, after: int | None = None) -> str:
    """The query of entries() and iter_entries(): the entries (one project's; after sequence number `after`; the
    newest `limit`) in sequence order."""
    conditions = [c for c, wanted in (("project = :project", project is not None), ("seq > :after", after is not None))
                  if wanted]
    where = " WHERE " + " AND ".join(conditions) if conditions else ""
    query = f"SELECT {_COLUMNS} FROM audit_entry{where}"
    limit = _limit(limit)
    if limit is not None:
        # more than any log can hold is all of it (a 64-bit database integer cannot hold more)
        query = f"SELECT * FROM ({query} ORDER BY seq DESC LIMIT {min(int(limit), 2**62)}) newest"
    return query + " ORDER BY seq"


def _limit(limit: int | None) -> int | None:
    """`limit` (None: no limit); BadInput when it is under 1 (stream_log says so before it opens a transaction)."""
    if limit is not None and limit < 1:
        raise BadInput(f"--limit must be 1 or more, not {limit}")
    return limit


def entries(db: Sql | Session, project: str | None = None, limit: int | None = None) -> list[Entry]:
    """Entries in sequence order (all, or one project's); with `limit`, only the newest `limit` of
    them (still in sequence order). A damaged entry is read all the same, marked (Entry.damaged)."""
    query = _select(project, limit)
    return [_entry(row) for row in sql_of(db).rows_of_any_text(query, project=project)]


def stream_log(store: Store, project: str | None = None, limit: int | None = None,
               after: int | None = None) -> Generator[Entry, None, None]:
    """`audit log`: the entries (all, or an existing project's; the newest `limit`), an entry at a time, in one
    read transaction: memory stays bounded however long the log is, and the first entry comes at once (with
    `after`, only the entries after that sequence number). The read transaction lasts until the iterator is
    exhausted or closed (close it: a reader that stops early, such as `| head`, must not hold it)."""
    _limit(limit)
    with store.reading(snapshot=True) as sql:
        if project is not None:
            rows.project(sql, project)  # ProjectNotFound rather than an empty log for a key nobody has
        with closing(iter_entries(sql, project, limit, after)) as found:
            yield from found


def iter_entries(db: Sql | Session, project: str | None = None, limit: int | None = None,
                 after: int | None = None) -> Generator[Entry, None, None]:
    """entries(), a batch at a time, in the caller's transaction (after sequence number `after`, when given).
    Every row comes, whatever its seq column holds (NULL, a negative number, text: a damaged entry)."""
    with closing(_any_text_stream(sql_of(db), _select(project, limit, after), project=project, after=after)) as found:
        yield from map(_entry, found)


def _entries_by_project(db: Sql | Session, project: str | None = None,
                        actions: tuple[str, ...] = ()) -> Generator[Entry, None, None]:
    """The entries of the projects there are (or of `project`; of `actions` only, when given), a batch at a time
    in the caller's transaction: ordered by project key as `SELECT ... FROM project ORDER BY key` orders them,
    each project's in sequence order (cycle.reporting reads each project's entries beside its row, in its own
    read transaction). An entry naming no project there is not given."""
    conditions = ["p.key = :project"] if project is not None else []
    named = {f"action{i}": action for i, action in enumerate(actions)}
    if named:
        conditions.append(f"a.action IN ({', '.join(':' + name for name in named)})")
    where = " WHERE " + " AND ".join(conditions) if conditions else ""
    query = (f"SELECT {', '.join('a.' + name for name in _NAMES)} FROM audit_entry a JOIN project p "
             f"ON p.key = a.project{where} ORDER BY p.key, a.seq")
    with closing(_any_text_stream(sql_of(db), query, project=project, **named)) as found:
        yield from map(_entry, found)


def _any_text_stream(sql: Sql, query: str, **params: Any) -> Generator[tuple[Any, ...], None, None]:
    """A query's rows as tuples, a batch at a time; on text that is not UTF-8, read again leniently (its bad bytes
    as lone surrogates), past the rows already given."""
    done, lenient = 0, False
    while True:  # at most twice
        try:
            with sql.any_text() if lenient else nullcontext(), closing(sql.stream(query, **params)) as found:
                for n, row in enumerate(found):
                    if n < done:  # the same query in the same snapshot gives the same rows in the same order
                        continue
                    yield tuple(row)
                    done += 1
            return
        except DatabaseFailed as exc:
            if lenient or not undecodable(exc):
                raise
            lenient = True


def current_head(store: Store) -> tuple[int, str]:
    """`audit checkpoint`: (sequence, hash) of the newest entry, to keep outside the database."""
    with store.reading() as sql:
        return head(sql)


class Unreadable(ValueError):
    """An entry's payload that is not the JSON object its action writes (edited by hand, or damaged)."""


def read_payload(text: str | None) -> dict[str, Any]:
    """An entry's payload as a dict; Unreadable saying why when it is not a JSON object."""
    try:
        value = json.loads(text or "")
    except ValueError as exc:
        raise Unreadable(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        kind = {list: "list", str: "string", bool: "true or false", type(None): "null"}.get(type(value), "number")
        raise Unreadable(f"a JSON {kind}, not an object")
    return value


def payload_of(entry: Entry) -> dict[str, Any]:
    """An entry's payload as a dict; Unreadable saying why when the entry is damaged or its payload
    is not a JSON object."""
    if entry.damaged:
        raise Unreadable(entry.damaged)
    return read_payload(entry.payload)


def why_unreadable(exc: Exception) -> str:
    """What a failure to read an entry's payload means, in words (for the "payload unreadable" marker)."""
    if isinstance(exc, Unreadable):
        return str(exc)
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} field"
    return f"a field has the wrong type ({exc})"


# What reading a payload that lacks a field, or holds one of the wrong type, can raise.
PAYLOAD_ERRORS = (Unreadable, KeyError, TypeError, AttributeError, IndexError, ValueError)


def parse_checkpoint(text: str) -> tuple[int, str]:
    """SEQ:HASH as `audit checkpoint` prints it; BadInput for anything else, an empty text included
    (a checkpoint file that went missing must not quietly turn the check off)."""
    seq, sep, digest = text.strip().partition(":")
    if not sep or not (seq.isascii() and seq.isdigit()) or len(digest) != 64 or \
            any(c not in "0123456789abcdef" for c in digest):
        raise BadInput(f"checkpoint {text!r} is not SEQ:HASH (e.g. 42:3f1c...; print one with: cycle audit checkpoint)")
    return int(seq), digest


def walk(dbapi_conn: Any, checkpoint: tuple[int, str] | None = None, batch: int = 5000,
         progress: Progress | None = None) -> Verification:
    """Walk the chain in sequence order over a store's raw DB-API connection (the fastest read there is); stop
    at the first bad entry. (On a store, with the records too: cycle.audit.verify.) `progress` hears of each
    batch, out of the newest entry's sequence number."""
    try:
        return _walk(dbapi_conn, checkpoint, batch, progress)
    except Exception as exc:
        if not undecodable(exc):
            raise
    with lenient_text(dbapi_conn):  # SQLite text that is not UTF-8: walk again, reading it as it is
        return _walk(dbapi_conn, checkpoint, batch, progress)


def _newest_seq(dbapi_conn: Any) -> int:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("SELECT max(seq) FROM audit_entry")
        found = cur.fetchone()[0]
    finally:
        cur.close()
    return found if type(found) is int else 0


def _walk(dbapi_conn: Any, checkpoint: tuple[int, str] | None, batch: int,
          progress: Progress | None = None) -> Verification:
    total = _newest_seq(dbapi_conn) if progress is not None else 0
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"SELECT {_COLUMNS} FROM audit_entry ORDER BY seq")
        return walk_rows(iter(lambda: cur.fetchmany(batch), []), checkpoint, progress, total)
    finally:
        cur.close()
