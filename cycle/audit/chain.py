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

import hashlib
import json
import re
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from cycle.calendar.clock import utc_now
from cycle.db import rows
from cycle.db.sql import Sql, lenient_text, sql_of, undecodable
from cycle.errors import BadInput, DatabaseFailed

from . import images

if TYPE_CHECKING:
    from sqlmodel import Session

    from cycle.db.store import Store

GENESIS = "0" * 64

#: Told how long work is getting on: (what, done so far, out of). The CLI shows it on a terminal; the library
#: calls it now and then (a batch at a time), never for every row.
Progress = Callable[[str, int, int], None]
_US = "\x1f"
_RS = "\x1e"


# Everything orjson would otherwise write its own way goes to the fallback below (and fails there as
# json fails): datetimes, dataclasses and subclasses of str, int, dict and list.
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | \
    orjson.OPT_PASSTHROUGH_SUBCLASS
_NOT_ASCII = re.compile("[^\x00-\x7e]")


def canonical_json(payload: Any) -> str:
    """Sorted keys, no spaces, ASCII only: the text json.dumps(payload, sort_keys=True,
    separators=(",", ":"), ensure_ascii=True) writes, written by orjson (a sixth of the time on an
    advance's snapshot). Floats are written as orjson writes them (0.00001, not 1e-05; NaN as null);
    no payload cycle writes has one."""
    try:
        text = orjson.dumps(payload, option=_ORJSON).decode()
    except TypeError:  # what orjson does not write: keys that are not text, integers past 64 bits, lone surrogates
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if text.isascii() and "\x7f" not in text:
        return text
    return _NOT_ASCII.sub(_escaped, text)  # outside strings, JSON text is ASCII already


def _escaped(match: re.Match[str]) -> str:
    """A character as ensure_ascii=True writes it: \\uXXXX, or a surrogate pair past U+FFFF."""
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, project: str | None, action: str,
               from_stage: str | None, to_stage: str | None, payload: str) -> str:
    fields = _US.join((str(seq), at, actor, project or "", action, from_stage or "", to_stage or ""))
    digest = hashlib.sha256(f"{prev_hash}{_RS}{fields}{_US}".encode())
    digest.update(payload.encode())  # the payload, often 2 KB, is not copied into a joined string first
    return digest.hexdigest()


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


_COLUMNS = "seq, at, actor, project, action, from_stage, to_stage, payload, prev_hash, hash"
_INSERT = (f"INSERT INTO audit_entry ({_COLUMNS}) VALUES "
           f"(:seq, :at, :actor, :project, :action, :from_stage, :to_stage, :payload, :prev_hash, :hash)")


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


_NAMES = tuple(_COLUMNS.split(", "))
_MAY_BE_NULL = frozenset({"project", "from_stage", "to_stage"})


def damage(row: tuple[Any, ...]) -> str | None:
    """The first column of an entry's row (in _COLUMNS order) that holds what cycle never writes
    there, and what it holds; None when every column has the type cycle writes."""
    for name, value in zip(_NAMES, row, strict=True):
        if name == "seq":
            if type(value) is not int:
                return f"seq is not a whole number (it holds {_kind(value)})"
        elif value is None:
            if name not in _MAY_BE_NULL:
                return f"{name} is empty (NULL)"
        elif type(value) is not str:
            return f"{name} is not text (it holds {_kind(value)})"
        elif not value.isascii() and not _utf8(value):
            return f"{name} is not UTF-8 text"
    return None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a byte that was not UTF-8 (store.lenient_text)
        return False
    return True


def _kind(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"binary data, {len(value)} bytes"
    if isinstance(value, int | float):
        shown = repr(value)
        return f"the number {shown if len(shown) <= 24 else shown[:24] + '...'}"
    if isinstance(value, str):
        shown = _shown(value)
        return f"the text {shown[:24]!r}{'...' if len(shown) > 24 else ''}"
    return f"a value of type {type(value).__name__}"


def _shown(value: Any) -> str:
    """A column's value as text a person can read, whatever it holds (for a damaged entry)."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return f"x'{data[:16].hex()}{'...' if len(data) > 16 else ''}'"
    if isinstance(value, str):
        return value if _utf8(value) else value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return str(value)


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


@dataclass
class Verification:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    problem: str | None = None
    checkpoint: str | None = None
    untrusted: tuple[int, int] | None = None  # entries that cannot be trusted, first and last

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "head": {"seq": self.head_seq, "hash": self.head_hash},
                "bad_seq": self.bad_seq, "problem": self.problem, "checkpoint": self.checkpoint,
                "untrusted": {"from": self.untrusted[0], "to": self.untrusted[1]} if self.untrusted else None}


CHECKING = "Checking the audit chain"  # what walk() tells `progress` it is doing


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
    cur.execute(f"SELECT {_COLUMNS} FROM audit_entry ORDER BY seq")
    expected_seq, prev = 1, GENESIS
    sha256 = hashlib.sha256
    n = 0
    cp_seq, cp_hash = checkpoint if checkpoint else (None, None)
    cp_seen = cp_seq == 0  # entry 0 is the empty log (hash GENESIS, what `checkpoint` prints before any entry)
    if cp_seen and cp_hash != GENESIS:
        cur.close()
        return _bad(0, GENESIS, 0, "it differs from the checkpoint kept outside the database "
                                   "(the chain was rewritten)", checkpoint)
    row: tuple[Any, ...] = ()
    # Each failure asks damage() first: a column of the wrong type explains it better than a hash does.
    try:
        while rows := cur.fetchmany(batch):
            for row in rows:
                seq, at, actor, project, action, fr, to, payload, prev_hash, digest = row
                if seq != expected_seq:
                    return _bad(n, prev, expected_seq, damage(row) or _misplaced(seq, expected_seq), checkpoint)
                if prev_hash != prev:
                    return _bad(n, prev, expected_seq, damage(row) or _RELINKED, checkpoint)
                # `is None`, not `or`: a 0 or b'' in a column is damage, not an empty text
                canon = _US.join((str(seq), at, actor, "" if project is None else project, action,
                                  "" if fr is None else fr, "" if to is None else to, payload))
                if sha256((prev + _RS + canon).encode("utf-8")).hexdigest() != digest:
                    return _bad(n, prev, expected_seq, damage(row) or _EDITED, checkpoint)
                if seq == cp_seq:
                    cp_seen = True
                    if digest != cp_hash:
                        return _rewritten(seq, checkpoint)
                prev, expected_seq, n = digest, seq + 1, n + 1
            if progress is not None:
                progress(CHECKING, n, max(total, n))
    except (TypeError, ValueError):  # joining or encoding a column cycle never writes (bytes, NULL, not UTF-8)
        problem = damage(row)
        if problem is None:
            raise
        return _bad(n, prev, expected_seq, problem, checkpoint)
    finally:
        cur.close()
    result = Verification(True, n, n, prev, checkpoint=_fmt(checkpoint))
    if checkpoint and not cp_seen:
        result.ok, result.bad_seq = False, cp_seq
        result.problem = (f"the log ends at entry {n} but the checkpoint names entry {cp_seq}: "
                          f"entries after {n} were cut off")
    return result


_RELINKED = "its previous-hash does not match the entry before it (an entry was removed, reordered or rewritten)"
_EDITED = "its hash does not match its contents (the entry was edited)"


def _misplaced(seq: int, expected: int) -> str:
    return f"entry {expected} is {'missing' if seq > expected else 'out of order'} (found {seq} next)"


def _bad(n: int, prev: str, seq: int, problem: str, checkpoint: tuple[int, str] | None) -> Verification:
    return Verification(False, n, n, prev, bad_seq=seq, problem=problem, checkpoint=_fmt(checkpoint))


def _rewritten(seq: int, checkpoint: tuple[int, str] | None) -> Verification:
    """The entry a checkpoint names is not the one kept: the chain up to it was rewritten somewhere, so no
    entry up to it can be trusted, however well they hang together."""
    problem = (f"it differs from the checkpoint kept outside the database (the chain was rewritten), so entries "
               f"1 to {seq} cannot be trusted: they are consistent with each other but do not lead to the kept head")
    return Verification(False, 0, 0, GENESIS, bad_seq=seq, problem=problem, checkpoint=_fmt(checkpoint),
                        untrusted=(1, seq))


def _fmt(checkpoint: tuple[int, str] | None) -> str | None:
    return f"{checkpoint[0]}:{checkpoint[1]}" if checkpoint else None
